package kinesistest_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

func TestCallCounting(t *testing.T) {
	srv, c := start(t)
	ctx := ctxT(t)
	createStream(t, c, "cnt", 64)
	if got := srv.Calls("ListShards"); got != 0 {
		t.Fatalf("Calls(ListShards) = %d before any", got)
	}
	// 64 shards in pages of 10: 7 calls.
	in := &kinesis.ListShardsInput{StreamName: aws.String("cnt"), MaxResults: aws.Int32(10)}
	var ids []string
	for {
		out, err := c.ListShards(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, shardIDs(out.Shards)...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: aws.Int32(10)}
	}
	if len(ids) != 64 || srv.Calls("ListShards") != 7 {
		t.Errorf("%d shards in %d ListShards calls, want 64 in 7", len(ids), srv.Calls("ListShards"))
	}
	// Refused calls count too.
	remove := srv.Control(kinesistest.FailFirst("ListShards", 1, kinesistest.NewError(kinesistest.CodeLimitExceeded)))
	if _, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("cnt")}); err == nil {
		t.Error("ListShards under FailFirst succeeded")
	}
	remove()
	if got := srv.Calls("ListShards"); got != 8 {
		t.Errorf("Calls(ListShards) = %d after a refused call, want 8", got)
	}
	want := map[string]int64{"CreateStream": 1, "DescribeStreamSummary": 1, "ListShards": 8}
	if got := srv.CallCounts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("CallCounts() = %v, want %v", got, want)
	}
	if got := srv.Calls("NoSuchOperation"); got != 0 {
		t.Errorf("Calls(NoSuchOperation) = %d", got)
	}
}

// TestListShardsAtLatestAfterResharding: AT_LATEST lists the open shards only, what a producer
// refreshing its shard map needs after a reshard; the other filters still see the closed parents.
func TestListShardsAtLatestAfterResharding(t *testing.T) {
	_, c := start(t)
	ctx := ctxT(t)
	createStream(t, c, "rs", 64)
	if _, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("rs"), TargetShardCount: aws.Int32(32), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
		t.Fatal(err)
	}
	open := listShards(t, c, "rs", &types.ShardFilter{Type: types.ShardFilterTypeAtLatest})
	all := listShards(t, c, "rs", nil)
	if len(open) != 32 {
		t.Fatalf("AT_LATEST listed %d shards, want the 32 open ones", len(open))
	}
	for _, sh := range open {
		if sh.SequenceNumberRange.EndingSequenceNumber != nil {
			t.Errorf("AT_LATEST listed closed shard %s", aws.ToString(sh.ShardId))
		}
	}
	if len(all) != 64+32 {
		t.Errorf("unfiltered ListShards listed %d shards, want 96 (64 closed parents and 32 children)", len(all))
	}
	if got := aws.ToInt32(summary(t, c, "rs").OpenShardCount); got != 32 {
		t.Errorf("OpenShardCount = %d, want 32", got)
	}
}
