package kinesistest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

func TestDescribeStreamSummaryRateLimit(t *testing.T) {
	clk := kinesistest.NewManualClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	_, c := start(t, kinesistest.EnforceLimits(), kinesistest.Clock(clk.Now))
	ctx := ctxT(t)
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("d"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	describe := func() error {
		_, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("d")})
		return err
	}
	// A second's budget of 20, on a clock that does not move.
	for i := range 20 {
		if err := describe(); err != nil {
			t.Fatalf("call %d of the first 20: %v", i+1, err)
		}
	}
	err := describe()
	var lee *types.LimitExceededException
	if !errors.As(err, &lee) {
		t.Fatalf("21st call in the same second: %v, want LimitExceededException", err)
	}
	wantRequestError(t, err, kinesistest.CodeLimitExceeded)
	// The limit is per account, not per stream, and other operations are not counted.
	if _, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("d")}); err != nil {
		t.Errorf("ListShards while DescribeStreamSummary is throttled: %v", err)
	}
	// 50 ms refill one call.
	clk.Advance(50 * time.Millisecond)
	if err := describe(); err != nil {
		t.Errorf("after 50 ms: %v, want one call admitted", err)
	}
	if err := describe(); !errors.As(err, &lee) {
		t.Errorf("second call after 50 ms: %v, want LimitExceededException", err)
	}
	clk.Advance(time.Second)
	for i := range 20 {
		if err := describe(); err != nil {
			t.Fatalf("call %d after a second's rest: %v", i+1, err)
		}
	}

	// Without EnforceLimits there is no limit.
	_, free := start(t, kinesistest.Clock(clk.Now))
	createStream(t, free, "d", 1)
	for i := range 50 {
		if _, err := free.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("d")}); err != nil {
			t.Fatalf("call %d without EnforceLimits: %v", i+1, err)
		}
	}
}

// TestFailFirstDescribe is the "limit hit at start, then the describe succeeds" scenario.
func TestFailFirstDescribe(t *testing.T) {
	srv, c := start(t)
	createStream(t, c, "ff", 1)
	srv.Control(kinesistest.FailFirst("DescribeStreamSummary", 3, kinesistest.NewError(kinesistest.CodeLimitExceeded)))
	ctx := ctxT(t)
	for i := range 3 {
		_, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("ff")})
		var lee *types.LimitExceededException
		if !errors.As(err, &lee) {
			t.Fatalf("call %d: %v, want LimitExceededException", i+1, err)
		}
		// Other operations pass and do not use up the count.
		if _, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("ff")}); err != nil {
			t.Fatalf("ListShards: %v", err)
		}
	}
	out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("ff")})
	if err != nil || aws.ToInt32(out.StreamDescriptionSummary.OpenShardCount) != 1 {
		t.Errorf("fourth call: %v %v, want it answered", err, out)
	}
}
