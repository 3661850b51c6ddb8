package kinesistest_test

import (
	"fmt"
	"math/big"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

const half = "170141183460469231731687303715884105728" // 2^127

// TestLineageAndShardFilters builds 0 -> split(1,2) -> merge(1,2)=3 at distinct times and checks every
// ShardFilter type against it.
func TestLineageAndShardFilters(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := kinesistest.NewManualClock(t0)
	_, c := start(t, kinesistest.Clock(clock.Now))
	ctx := ctxT(t)
	createStream(t, c, "lin", 1)
	putN(t, c, "lin", 4, func(i int) string { return fmt.Sprint(i) })

	clock.Advance(time.Hour) // t1: split
	t1 := clock.Now()
	if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("lin"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(half)}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	putN(t, c, "lin", 4, func(i int) string { return fmt.Sprint(i) })
	clock.Advance(time.Hour) // t2: merge
	t2 := clock.Now()
	if _, err := c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("lin"), ShardToMerge: aws.String("shardId-000000000001"), AdjacentShardToMerge: aws.String("shardId-000000000002")}); err != nil {
		t.Fatalf("MergeShards: %v", err)
	}
	clock.Advance(time.Hour)

	all := listShards(t, c, "lin", nil)
	if got := fmt.Sprint(shardIDs(all)); got != "[shardId-000000000000 shardId-000000000001 shardId-000000000002 shardId-000000000003]" {
		t.Fatalf("shards = %s", got)
	}
	s1, s2, s3 := all[1], all[2], all[3]
	if aws.ToString(s1.ParentShardId) != "shardId-000000000000" || aws.ToString(s1.HashKeyRange.EndingHashKey) != "170141183460469231731687303715884105727" ||
		aws.ToString(s2.HashKeyRange.StartingHashKey) != half {
		t.Errorf("split children: %+v %+v", s1, s2)
	}
	if aws.ToString(s3.ParentShardId) != "shardId-000000000001" || aws.ToString(s3.AdjacentParentShardId) != "shardId-000000000002" ||
		aws.ToString(s3.HashKeyRange.StartingHashKey) != "0" || aws.ToString(s3.HashKeyRange.EndingHashKey) != "340282366920938463463374607431768211455" {
		t.Errorf("merge child: %+v", s3)
	}
	if all[0].SequenceNumberRange.EndingSequenceNumber == nil || s3.SequenceNumberRange.EndingSequenceNumber != nil {
		t.Errorf("closed shard 0 must have an ending sequence number and open shard 3 none")
	}

	between := t1.Add(30 * time.Minute)
	tests := []struct {
		name   string
		filter *types.ShardFilter
		want   []string
	}{
		{"default", nil, []string{"0", "1", "2", "3"}},
		{"FROM_TRIM_HORIZON", &types.ShardFilter{Type: types.ShardFilterTypeFromTrimHorizon}, []string{"0", "1", "2", "3"}},
		{"AT_TRIM_HORIZON", &types.ShardFilter{Type: types.ShardFilterTypeAtTrimHorizon}, []string{"0"}},
		{"AT_LATEST", &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}, []string{"3"}},
		{"AFTER_SHARD_ID", &types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String("shardId-000000000001")}, []string{"2", "3"}},
		{"AT_TIMESTAMP before split", &types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(t0.Add(time.Minute))}, []string{"0"}},
		{"AT_TIMESTAMP between", &types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(between)}, []string{"1", "2"}},
		{"AT_TIMESTAMP before creation", &types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(t0.Add(-time.Hour))}, []string{"0"}},
		{"FROM_TIMESTAMP between", &types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: aws.Time(between)}, []string{"1", "2", "3"}},
		{"FROM_TIMESTAMP after merge", &types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: aws.Time(t2.Add(time.Minute))}, []string{"3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for _, w := range tt.want {
				want = append(want, "shardId-00000000000"+w)
			}
			if got := shardIDs(listShards(t, c, "lin", tt.filter)); !slices.Equal(got, want) {
				t.Errorf("ListShards(%s) = %v, want %v", tt.name, got, want)
			}
		})
	}

	// Pagination: one shard per page, NextToken sent without StreamName.
	var paged []string
	in := &kinesis.ListShardsInput{StreamName: aws.String("lin"), MaxResults: aws.Int32(1)}
	for {
		out, err := c.ListShards(ctx, in)
		if err != nil {
			t.Fatalf("ListShards page: %v", err)
		}
		paged = append(paged, shardIDs(out.Shards)...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: aws.Int32(1)}
	}
	if len(paged) != 4 {
		t.Errorf("paged ListShards = %v", paged)
	}
	_, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("lin"), NextToken: aws.String("x")})
	wantCode(t, err, "InvalidArgumentException")
	first, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("lin"), MaxResults: aws.Int32(1)})
	if err != nil || first.NextToken == nil {
		t.Fatalf("ListShards MaxResults 1: %v", err)
	}
	clock.Advance(301 * time.Second)
	_, err = c.ListShards(ctx, &kinesis.ListShardsInput{NextToken: first.NextToken})
	var expired *types.ExpiredNextTokenException
	if !asErr(err, &expired) {
		t.Errorf("NextToken after 301s: %v, want *types.ExpiredNextTokenException", err)
	}

	// Reading the closed parent ends with ChildShards and no next iterator.
	got, last := drain(t, c, iterator(t, c, "lin", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, ""))
	if len(got) != 4 || last.NextShardIterator != nil || len(last.ChildShards) != 2 {
		t.Errorf("closed shard read: %d records, next=%v, children=%d", len(got), last.NextShardIterator, len(last.ChildShards))
	}
	_, last = drain(t, c, iterator(t, c, "lin", "shardId-000000000001", types.ShardIteratorTypeTrimHorizon, ""))
	if len(last.ChildShards) != 1 || fmt.Sprint(last.ChildShards[0].ParentShards) != "[shardId-000000000001 shardId-000000000002]" {
		t.Errorf("merged parent children = %+v", last.ChildShards)
	}

	// Bad reshards.
	_, err = c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("lin"), ShardToMerge: aws.String("shardId-000000000001"), AdjacentShardToMerge: aws.String("shardId-000000000003")})
	wantCode(t, err, "InvalidArgumentException")
	_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("lin"), ShardToSplit: aws.String("shardId-000000000003"), NewStartingHashKey: aws.String("0")})
	wantCode(t, err, "InvalidArgumentException")
	_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("lin"), ShardToSplit: aws.String("shardId-000000000042"), NewStartingHashKey: aws.String(half)})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestUpdateShardCountKeepsLineage(t *testing.T) {
	_, c := start(t)
	ctx := ctxT(t)
	for _, step := range []struct{ from, to int32 }{{3, 5}, {5, 3}, {2, 4}, {4, 2}} {
		name := fmt.Sprintf("usc-%d-%d", step.from, step.to)
		createStream(t, c, name, step.from)
		out, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(name), TargetShardCount: aws.Int32(step.to), ScalingType: types.ScalingTypeUniformScaling})
		if err != nil {
			t.Fatalf("UpdateShardCount %d->%d: %v", step.from, step.to, err)
		}
		if aws.ToInt32(out.CurrentShardCount) != step.from || aws.ToInt32(out.TargetShardCount) != step.to {
			t.Errorf("UpdateShardCount output %+v", out)
		}
		open := listShards(t, c, name, &types.ShardFilter{Type: types.ShardFilterTypeAtLatest})
		if len(open) != int(step.to) {
			t.Fatalf("%s: %d open shards, want %d", name, len(open), step.to)
		}
		// Open shards tile the key space and every shard's parents exist.
		all := listShards(t, c, name, nil)
		ids := map[string]bool{}
		for _, s := range all {
			ids[aws.ToString(s.ShardId)] = true
		}
		for _, s := range all {
			for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
				if p != nil && !ids[*p] {
					t.Errorf("%s: shard %s has unknown parent %s", name, aws.ToString(s.ShardId), *p)
				}
			}
		}
		if !tiles(open) {
			t.Errorf("%s: open shards do not tile the key space: %+v", name, open)
		}
		sum, _ := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if aws.ToInt32(sum.StreamDescriptionSummary.OpenShardCount) != step.to {
			t.Errorf("%s: OpenShardCount %d", name, aws.ToInt32(sum.StreamDescriptionSummary.OpenShardCount))
		}
	}
	createStream(t, c, "usc-limit", 2)
	_, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("usc-limit"), TargetShardCount: aws.Int32(5), ScalingType: types.ScalingTypeUniformScaling})
	wantCode(t, err, "LimitExceededException")
}

// TestRoutingByHashKey checks that records land in the shard owning their hash key.
func TestRoutingByHashKey(t *testing.T) {
	_, c := start(t)
	ctx := ctxT(t)
	createStream(t, c, "route", 4)
	shards := listShards(t, c, "route", nil)
	for i, s := range shards {
		out, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("route"), PartitionKey: aws.String("x"),
			ExplicitHashKey: s.HashKeyRange.EndingHashKey, Data: []byte("d")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ShardId) != aws.ToString(s.ShardId) {
			t.Errorf("record with hash key %s went to %s, want %s (shard %d)", aws.ToString(s.HashKeyRange.EndingHashKey), aws.ToString(out.ShardId), aws.ToString(s.ShardId), i)
		}
	}
	// MD5("a") = 0cc175b9c0f1b6a831c399e269772661 lies in the first quarter.
	out, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("route"), PartitionKey: aws.String("a"), Data: []byte("d")})
	if err != nil || aws.ToString(out.ShardId) != "shardId-000000000000" {
		t.Errorf("PutRecord key a -> %v %v, want shardId-000000000000", aws.ToString(out.ShardId), err)
	}
	_, err = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("route"), PartitionKey: aws.String("a"), ExplicitHashKey: aws.String("340282366920938463463374607431768211456"), Data: []byte("d")})
	wantCode(t, err, "InvalidArgumentException")
}

// tiles reports whether shards cover [0, 2^128-1] without gaps or overlaps.
func tiles(shards []types.Shard) bool {
	type rng struct{ start, end *big.Int }
	var rs []rng
	for _, s := range shards {
		a, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
		b, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.EndingHashKey), 10)
		rs = append(rs, rng{a, b})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].start.Cmp(rs[j].start) < 0 })
	next := big.NewInt(0)
	for _, r := range rs {
		if r.start.Cmp(next) != 0 || r.end.Cmp(r.start) < 0 {
			return false
		}
		next = new(big.Int).Add(r.end, big.NewInt(1))
	}
	return next.Cmp(new(big.Int).Lsh(big.NewInt(1), 128)) == 0
}
