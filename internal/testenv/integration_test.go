package testenv_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/internal/testenv"
)

func TestCreateStreamAndCleanup(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	kc := testenv.Kinesis(t)
	var name string
	t.Run("create", func(t *testing.T) {
		name = testenv.CreateStream(t, ctx, 3)
		if got := len(testenv.Shards(t, ctx, kc, name)); got != 3 {
			t.Errorf("Shards(%s) = %d shards, want 3", name, got)
		}
	})
	// The subtest's cleanup deleted the stream: it must be gone or DELETING.
	out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	var nf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
	case err != nil:
		t.Fatalf("DescribeStreamSummary after cleanup: %v", err)
	case out.StreamDescriptionSummary.StreamStatus != types.StreamStatusDeleting:
		t.Errorf("stream %s after cleanup is %s, want deleted", name, out.StreamDescriptionSummary.StreamStatus)
	}
}

func TestCreateTableAndCleanup(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	dc := testenv.DynamoDB(t)
	var name string
	t.Run("create", func(t *testing.T) {
		name = testenv.CreateTable(t, ctx, &dynamodb.CreateTableInput{
			AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
			KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: ddbtypes.KeyTypeHash}},
		})
	})
	out, err := dc.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	var nf *ddbtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
	case err != nil:
		t.Fatalf("DescribeTable after cleanup: %v", err)
	case out.Table.TableStatus != ddbtypes.TableStatusDeleting:
		t.Errorf("table %s after cleanup is %s, want deleted", name, out.Table.TableStatus)
	}
}

// TestFanOutShim subscribes through the Go SDK to kinesis-mock over HTTP/2 + TLS. Without the
// initial-response shim the SDK never returns from SubscribeToShard.
func TestFanOutShim(t *testing.T) {
	ctx := testenv.Context(t, 90*time.Second)
	kc := testenv.Kinesis(t)
	fc := testenv.FanOutKinesis(t)
	stream := testenv.CreateStream(t, ctx, 1)
	shardID := aws.ToString(testenv.Shards(t, ctx, kc, stream)[0].ShardId)

	const n = 5
	for i := range n {
		_, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{
			StreamName:   aws.String(stream),
			PartitionKey: aws.String(fmt.Sprintf("key-%d", i)),
			Data:         fmt.Appendf(nil, "record-%d", i),
		})
		if err != nil {
			t.Fatalf("PutRecord %d: %v", i, err)
		}
	}

	reg, err := fc.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{
		StreamARN:    aws.String(testenv.StreamARN(t, ctx, kc, stream)),
		ConsumerName: aws.String(testenv.UniqueName(t, "c")),
	})
	if err != nil {
		t.Fatalf("RegisterStreamConsumer: %v", err)
	}
	consumerARN := aws.ToString(reg.Consumer.ConsumerARN)
	testenv.WaitConsumerActive(t, ctx, kc, consumerARN)

	sub, err := fc.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
		ConsumerARN:      aws.String(consumerARN),
		ShardId:          aws.String(shardID),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon},
	}, testenv.OwnEventStreamProtocol)
	if err != nil {
		t.Fatalf("SubscribeToShard: %v", err)
	}
	stream2 := sub.GetStream()
	defer stream2.Close()

	var got []string
	for len(got) < n {
		select {
		case ev, ok := <-stream2.Events():
			if !ok {
				t.Fatalf("event stream closed after %d records: %v", len(got), stream2.Err())
			}
			e, isRec := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
			if !isRec {
				t.Fatalf("unexpected event %T", ev)
			}
			for _, r := range e.Value.Records {
				got = append(got, string(r.Data))
			}
		case <-ctx.Done():
			t.Fatalf("got %d of %d records before the deadline: %v", len(got), n, got)
		}
	}
	for i, g := range got {
		if want := fmt.Sprintf("record-%d", i); g != want {
			t.Errorf("record %d = %q, want %q", i, g, want)
		}
	}
	if len(got) != n {
		t.Errorf("got %d records, want %d", len(got), n)
	}
}
