package kinesistest_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

func createOnDemand(t *testing.T, c *kinesis.Client, name string, shards int32, dist types.RecordDistributionStrategy) *types.StreamDescriptionSummary {
	t.Helper()
	ctx := ctxT(t)
	_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName:                 aws.String(name),
		ShardCount:                 aws.Int32(shards),
		StreamModeDetails:          &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand},
		RecordDistributionStrategy: dist,
	})
	if err != nil {
		t.Fatalf("CreateStream(%s, ON_DEMAND, %q): %v", name, dist, err)
	}
	return summary(t, c, name)
}

func summary(t *testing.T, c *kinesis.Client, name string) *types.StreamDescriptionSummary {
	t.Helper()
	out, err := c.DescribeStreamSummary(ctxT(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatalf("DescribeStreamSummary(%s): %v", name, err)
	}
	return out.StreamDescriptionSummary
}

// readAll returns every record of every shard of the stream, by shard ID.
func readAll(t *testing.T, c *kinesis.Client, stream string) map[string][]types.Record {
	t.Helper()
	got := map[string][]types.Record{}
	for _, sh := range listShards(t, c, stream, nil) {
		it := iterator(t, c, stream, aws.ToString(sh.ShardId), types.ShardIteratorTypeTrimHorizon, "")
		out, err := c.GetRecords(ctxT(t), &kinesis.GetRecordsInput{ShardIterator: it})
		if err != nil {
			t.Fatalf("GetRecords(%s): %v", aws.ToString(sh.ShardId), err)
		}
		got[aws.ToString(sh.ShardId)] = out.Records
	}
	return got
}

func TestRecordDistributionAuto(t *testing.T) {
	_, c := start(t)
	ctx := ctxT(t)
	sum := createOnDemand(t, c, "auto", 4, types.RecordDistributionStrategyAuto)
	if sum.RecordDistributionStrategy != types.RecordDistributionStrategyAuto {
		t.Fatalf("DescribeStreamSummary RecordDistributionStrategy = %q, want AUTO", sum.RecordDistributionStrategy)
	}

	// One partition key and an explicit hash key owned by shard 0: AUTO ignores both.
	entries := make([]types.PutRecordsRequestEntry, 8)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{Data: []byte(fmt.Sprint(i)), PartitionKey: aws.String("same-key"), ExplicitHashKey: aws.String("0")}
	}
	out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("auto"), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %v %+v", err, out)
	}
	perShard := map[string]int{}
	for i, r := range out.Records {
		if r.SequenceNumber == nil || r.ShardId == nil {
			t.Fatalf("entry %d: %+v, want a shard and sequence number", i, r)
		}
		perShard[aws.ToString(r.ShardId)]++
	}
	if len(perShard) != 4 {
		t.Errorf("8 records with one key went to shards %v, want all 4 shards used", perShard)
	}
	for id, n := range perShard {
		if n != 2 {
			t.Errorf("shard %s got %d of 8 records, want an even 2", id, n)
		}
	}

	// PutRecord: no partition key at all is accepted; SequenceNumberForOrdering is refused.
	pr, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("auto"), Data: []byte("nokey")})
	if err != nil {
		t.Fatalf("PutRecord without a partition key on an AUTO stream: %v", err)
	}
	_, err = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("auto"), Data: []byte("x"), PartitionKey: aws.String("k"), SequenceNumberForOrdering: pr.SequenceNumber})
	var iae *types.InvalidArgumentException
	if !errors.As(err, &iae) {
		t.Errorf("PutRecord with SequenceNumberForOrdering on an AUTO stream: %v, want InvalidArgumentException", err)
	}

	// Each record is where its answer said, with its partition key as sent (or none).
	records := readAll(t, c, "auto")
	for i, r := range out.Records {
		found := false
		for _, rec := range records[aws.ToString(r.ShardId)] {
			if aws.ToString(rec.SequenceNumber) == aws.ToString(r.SequenceNumber) {
				found = true
				if string(rec.Data) != fmt.Sprint(i) || aws.ToString(rec.PartitionKey) != "same-key" {
					t.Errorf("entry %d read back as data %q key %v", i, rec.Data, rec.PartitionKey)
				}
			}
		}
		if !found {
			t.Errorf("entry %d not found in %s where PutRecords put it", i, aws.ToString(r.ShardId))
		}
	}
	var nokey *types.Record
	for _, rec := range records[aws.ToString(pr.ShardId)] {
		if string(rec.Data) == "nokey" {
			nokey = &rec
		}
	}
	if nokey == nil || nokey.PartitionKey != nil {
		t.Errorf("record written without a partition key read back as %+v, want PartitionKey absent", nokey)
	}

	// Back to USER_PARTITION_KEY at run time (by ARN, as the API requires): keys route again.
	if _, err := c.UpdateStreamRecordDistributionStrategy(ctx, &kinesis.UpdateStreamRecordDistributionStrategyInput{
		StreamARN: sum.StreamARN, RecordDistributionStrategy: types.RecordDistributionStrategyUserPartitionKey,
	}); err != nil {
		t.Fatalf("UpdateStreamRecordDistributionStrategy: %v", err)
	}
	if got := summary(t, c, "auto").RecordDistributionStrategy; got != types.RecordDistributionStrategyUserPartitionKey {
		t.Errorf("after the switch DescribeStreamSummary says %q", got)
	}
	out2 := putN(t, c, "auto", 8, func(int) string { return "same-key" })
	for _, r := range out2.Records {
		if aws.ToString(r.ShardId) != aws.ToString(out2.Records[0].ShardId) {
			t.Fatalf("USER_PARTITION_KEY spread one key over shards %s and %s", aws.ToString(out2.Records[0].ShardId), aws.ToString(r.ShardId))
		}
	}
	_, err = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("auto"), Data: []byte("nokey")})
	if !errors.As(err, &iae) {
		t.Errorf("PutRecord without a partition key on a USER_PARTITION_KEY stream: %v, want InvalidArgumentException", err)
	}
	_, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("auto"), Records: []types.PutRecordsRequestEntry{
		{Data: []byte("a"), PartitionKey: aws.String("k")}, {Data: []byte("b")},
	}})
	if !errors.As(err, &iae) {
		t.Errorf("PutRecords with an entry lacking a partition key on a USER_PARTITION_KEY stream: %v, want InvalidArgumentException", err)
	}
}

func TestRecordDistributionOnlyOnDemand(t *testing.T) {
	_, c := start(t, kinesistest.DefaultRecordDistribution(kinesistest.RecordDistributionAuto))
	ctx := ctxT(t)

	prov := createStream(t, c, "prov", 2).StreamDescriptionSummary
	if prov.RecordDistributionStrategy != "" {
		t.Errorf("PROVISIONED stream reports RecordDistributionStrategy %q, want none (the field is ON_DEMAND only)", prov.RecordDistributionStrategy)
	}
	od := createOnDemand(t, c, "od", 2, "")
	if od.RecordDistributionStrategy != types.RecordDistributionStrategyAuto {
		t.Errorf("ON_DEMAND stream under DefaultRecordDistribution(AUTO) reports %q", od.RecordDistributionStrategy)
	}
	if got := createOnDemand(t, c, "od-user", 2, types.RecordDistributionStrategyUserPartitionKey).RecordDistributionStrategy; got != types.RecordDistributionStrategyUserPartitionKey {
		t.Errorf("ON_DEMAND stream created with USER_PARTITION_KEY reports %q", got)
	}

	_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("bad"), ShardCount: aws.Int32(1), RecordDistributionStrategy: types.RecordDistributionStrategyAuto})
	wantCode(t, err, kinesistest.CodeInvalidArgument)
	_, err = c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("bad"), ShardCount: aws.Int32(1), RecordDistributionStrategy: "RANDOM"})
	wantCode(t, err, kinesistest.CodeValidation)
	_, err = c.UpdateStreamRecordDistributionStrategy(ctx, &kinesis.UpdateStreamRecordDistributionStrategyInput{StreamARN: prov.StreamARN, RecordDistributionStrategy: types.RecordDistributionStrategyAuto})
	wantCode(t, err, kinesistest.CodeInvalidArgument)
	_, err = c.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: od.StreamARN, StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeProvisioned}})
	wantCode(t, err, kinesistest.CodeInvalidArgument)

	// A provisioned stream routes by key whatever the server default.
	out := putN(t, c, "prov", 6, func(int) string { return "one" })
	for _, r := range out.Records {
		if aws.ToString(r.ShardId) != aws.ToString(out.Records[0].ShardId) {
			t.Fatalf("PROVISIONED stream spread one key over %s and %s", aws.ToString(out.Records[0].ShardId), aws.ToString(r.ShardId))
		}
	}

	if _, err := kinesistest.NewServer(kinesistest.DefaultRecordDistribution("RANDOM")); !errors.Is(err, kinesistest.ErrInvalidConfig) {
		t.Errorf("NewServer(DefaultRecordDistribution(RANDOM)) = %v, want ErrInvalidConfig", err)
	}
}
