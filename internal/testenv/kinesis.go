package testenv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// pollInterval paces the readiness loops below (the engines change state after ~100 ms).
const pollInterval = 50 * time.Millisecond

// CreateStream creates a provisioned stream with the given number of shards, named from t.Name(), waits
// until it is ACTIVE (bounded by ctx) and deletes it when the test ends. It returns the stream name.
func CreateStream(t testing.TB, ctx context.Context, shards int) string {
	t.Helper()
	kc := Kinesis(t)
	name := UniqueName(t, "sw")
	_, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName: aws.String(name),
		ShardCount: aws.Int32(int32(shards)),
	})
	if err != nil {
		t.Fatalf("CreateStream(%s, %d shards): %v", name, shards, err)
	}
	DeleteStreamOnCleanup(t, kc, name)
	WaitStreamActive(t, ctx, kc, name)
	return name
}

// DeleteStreamOnCleanup deletes stream name (with its consumers) when the test ends. A stream that is
// already gone is fine.
func DeleteStreamOnCleanup(t testing.TB, kc *kinesis.Client, name string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		_, err := kc.DeleteStream(ctx, &kinesis.DeleteStreamInput{
			StreamName:              aws.String(name),
			EnforceConsumerDeletion: aws.Bool(true),
		})
		var nf *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &nf) {
			t.Errorf("cleanup: DeleteStream(%s): %v", name, err)
		}
	})
}

// WaitStreamActive polls DescribeStreamSummary until the stream is ACTIVE and returns the summary. It fails
// the test when ctx ends first.
func WaitStreamActive(t testing.TB, ctx context.Context, kc *kinesis.Client, name string) *types.StreamDescriptionSummary {
	t.Helper()
	var last error
	var status types.StreamStatus
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil {
			status = out.StreamDescriptionSummary.StreamStatus
			if status == types.StreamStatusActive {
				return out.StreamDescriptionSummary
			}
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("stream %s not ACTIVE before the deadline (status %q, last error %v)", name, status, last)
		case <-tick.C:
		}
	}
}

// StreamARN returns the ARN of stream name.
func StreamARN(t testing.TB, ctx context.Context, kc *kinesis.Client, name string) string {
	t.Helper()
	out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatalf("DescribeStreamSummary(%s): %v", name, err)
	}
	return aws.ToString(out.StreamDescriptionSummary.StreamARN)
}

// Shards lists every shard of stream name, following pagination (NextToken is sent without the name).
func Shards(t testing.TB, ctx context.Context, kc *kinesis.Client, name string) []types.Shard {
	t.Helper()
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(name)}
	for {
		out, err := kc.ListShards(ctx, in)
		if err != nil {
			t.Fatalf("ListShards(%s): %v", name, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil {
			return shards
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// WaitConsumerActive polls DescribeStreamConsumer until the consumer is ACTIVE. It fails the test when ctx
// ends first.
func WaitConsumerActive(t testing.TB, ctx context.Context, kc *kinesis.Client, consumerARN string) {
	t.Helper()
	var last error
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		out, err := kc.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(consumerARN)})
		if err == nil && out.ConsumerDescription.ConsumerStatus == types.ConsumerStatusActive {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("consumer %s not ACTIVE before the deadline (last error %v)", consumerARN, last)
		case <-tick.C:
		}
	}
}
