package kinesistest_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestStreamControlPlane(t *testing.T) {
	_, c := start(t)
	ctx := ctxT(t)
	sum := createStream(t, c, "cp", 2).StreamDescriptionSummary
	arn := aws.ToString(sum.StreamARN)
	if arn != "arn:aws:kinesis:us-east-1:000000000000:stream/cp" || sum.StreamStatus != types.StreamStatusActive ||
		aws.ToInt32(sum.OpenShardCount) != 2 || aws.ToInt32(sum.RetentionPeriodHours) != 24 ||
		sum.StreamModeDetails.StreamMode != types.StreamModeProvisioned || aws.ToInt32(sum.MaxRecordSizeInKiB) != 1024 {
		t.Errorf("summary = %+v", sum)
	}
	_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("cp"), ShardCount: aws.Int32(1)})
	wantCode(t, err, "ResourceInUseException")

	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("od"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatalf("CreateStream on-demand: %v", err)
	}
	od, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/od")})
	if err != nil {
		t.Fatalf("DescribeStream by ARN: %v", err)
	}
	if d := od.StreamDescription; d.StreamModeDetails.StreamMode != types.StreamModeOnDemand || len(d.Shards) != 4 || aws.ToBool(d.HasMoreShards) {
		t.Errorf("on-demand description = %+v", d)
	}
	page, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("od"), Limit: aws.Int32(3)})
	if err != nil || len(page.StreamDescription.Shards) != 3 || !aws.ToBool(page.StreamDescription.HasMoreShards) {
		t.Errorf("DescribeStream Limit 3: %v %+v", err, page)
	}

	ls, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{Limit: aws.Int32(1)})
	if err != nil || fmt.Sprint(ls.StreamNames) != "[cp]" || !aws.ToBool(ls.HasMoreStreams) || ls.NextToken == nil {
		t.Fatalf("ListStreams page 1: %v %+v", err, ls)
	}
	ls, err = c.ListStreams(ctx, &kinesis.ListStreamsInput{NextToken: ls.NextToken})
	if err != nil || fmt.Sprint(ls.StreamNames) != "[od]" || aws.ToBool(ls.HasMoreStreams) || len(ls.StreamSummaries) != 1 {
		t.Fatalf("ListStreams page 2: %v %+v", err, ls)
	}

	// Retention.
	if _, err := c.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("cp"), RetentionPeriodHours: aws.Int32(48)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("cp"), RetentionPeriodHours: aws.Int32(72)})
	wantCode(t, err, "InvalidArgumentException")
	_, err = c.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("cp"), RetentionPeriodHours: aws.Int32(9000)})
	wantCode(t, err, "InvalidArgumentException")
	if _, err := c.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamARN: aws.String(arn), RetentionPeriodHours: aws.Int32(36)}); err != nil {
		t.Fatal(err)
	}

	// Encryption and record size.
	if _, err := c.StartStreamEncryption(ctx, &kinesis.StartStreamEncryptionInput{StreamName: aws.String("cp"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")}); err != nil {
		t.Fatal(err)
	}
	put, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("cp"), PartitionKey: aws.String("k"), Data: []byte("x")})
	if err != nil || put.EncryptionType != types.EncryptionTypeKms {
		t.Errorf("PutRecord on encrypted stream: %v %+v", err, put)
	}
	if _, err := c.UpdateMaxRecordSize(ctx, &kinesis.UpdateMaxRecordSizeInput{StreamARN: aws.String(arn), MaxRecordSizeInKiB: aws.Int32(4096)}); err != nil {
		t.Fatalf("UpdateMaxRecordSize: %v", err)
	}
	s2, _ := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("cp")})
	if d := s2.StreamDescriptionSummary; d.EncryptionType != types.EncryptionTypeKms || aws.ToString(d.KeyId) != "alias/aws/kinesis" ||
		aws.ToInt32(d.RetentionPeriodHours) != 36 || aws.ToInt32(d.MaxRecordSizeInKiB) != 4096 {
		t.Errorf("summary after updates = %+v", d)
	}
	if _, err := c.StopStreamEncryption(ctx, &kinesis.StopStreamEncryptionInput{StreamName: aws.String("cp"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")}); err != nil {
		t.Fatal(err)
	}

	// Consumers.
	var arns []string
	for _, name := range []string{"b", "a"} {
		arns = append(arns, registerConsumer(t, c, arn, name))
	}
	_, err = c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("a")})
	wantCode(t, err, "ResourceInUseException")
	dc, err := c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arns[0])})
	if err != nil || aws.ToString(dc.ConsumerDescription.ConsumerName) != "b" || aws.ToString(dc.ConsumerDescription.StreamARN) != arn ||
		dc.ConsumerDescription.ConsumerStatus != types.ConsumerStatusActive {
		t.Errorf("DescribeStreamConsumer: %v %+v", err, dc)
	}
	dc, err = c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("a")})
	if err != nil || aws.ToString(dc.ConsumerDescription.ConsumerARN) != arns[1] {
		t.Errorf("DescribeStreamConsumer by name: %v %+v", err, dc)
	}
	lc, err := c.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(arn)})
	if err != nil || len(lc.Consumers) != 2 || aws.ToString(lc.Consumers[0].ConsumerName) != "a" {
		t.Errorf("ListStreamConsumers: %v %+v", err, lc)
	}
	_, err = c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("cp")})
	wantCode(t, err, "ResourceInUseException")
	if _, err := c.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(arns[0])}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arns[0])})
	wantCode(t, err, "ResourceNotFoundException")

	// Delete, then everything about the stream is gone.
	it := iterator(t, c, "cp", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")
	if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("cp"), EnforceConsumerDeletion: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestMissingStreamErrors(t *testing.T) {
	_, c := start(t)
	ctx := ctxT(t)
	name := aws.String("nope")
	calls := map[string]func() error{
		"DescribeStream": func() error {
			_, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: name})
			return err
		},
		"DescribeStreamSummary": func() error {
			_, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name})
			return err
		},
		"ListShards": func() error { _, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: name}); return err },
		"PutRecord": func() error {
			_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: name, PartitionKey: aws.String("k"), Data: []byte("x")})
			return err
		},
		"PutRecords": func() error {
			_, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: name, Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("x")}}})
			return err
		},
		"GetShardIterator": func() error {
			_, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: name, ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeLatest})
			return err
		},
		"DeleteStream": func() error { _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: name}); return err },
		"SplitShard": func() error {
			_, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: name, ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("1")})
			return err
		},
	}
	for op, call := range calls {
		t.Run(op, func(t *testing.T) {
			err := call()
			var nf *types.ResourceNotFoundException
			if !asErr(err, &nf) {
				t.Errorf("%s on a missing stream: %v, want *types.ResourceNotFoundException", op, err)
			}
		})
	}
}
