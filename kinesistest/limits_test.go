package kinesistest_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

const shard1Key = "340282366920938463463374607431768211455" // in the upper half: shard 1 of 2

func entries(n, size int, ehk string) []types.PutRecordsRequestEntry {
	e := make([]types.PutRecordsRequestEntry, n)
	for i := range e {
		e[i] = types.PutRecordsRequestEntry{Data: bytes.Repeat([]byte{'x'}, size), PartitionKey: aws.String("p")}
		if ehk != "" {
			e[i].ExplicitHashKey = aws.String(ehk)
		}
	}
	return e
}

func TestWriteLimits(t *testing.T) {
	clock := kinesistest.NewManualClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	_, c := start(t, kinesistest.EnforceLimits(), kinesistest.Clock(clock.Now), kinesistest.MaxRequestBytes(1<<20))
	ctx := ctxT(t)
	createStream(t, c, "lim", 2)
	put := func(e []types.PutRecordsRequestEntry) *kinesis.PutRecordsOutput {
		t.Helper()
		out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("lim"), Records: e})
		if err != nil {
			t.Fatalf("PutRecords: %v", err)
		}
		return out
	}
	// Flood shard 0 (explicit hash key 0) with 1500 records in the same instant: 1000 fit.
	var ok, throttled int
	for range 3 {
		out := put(entries(500, 10, "0"))
		failed := 0
		for _, r := range out.Records {
			switch aws.ToString(r.ErrorCode) {
			case "":
				ok++
				if aws.ToString(r.ShardId) != "shardId-000000000000" {
					t.Fatalf("record went to %s", aws.ToString(r.ShardId))
				}
			case "ProvisionedThroughputExceededException":
				throttled++
				failed++
				if r.SequenceNumber != nil || r.ErrorMessage == nil {
					t.Errorf("throttled entry %+v", r)
				}
			default:
				t.Fatalf("unexpected code %s", aws.ToString(r.ErrorCode))
			}
		}
		if int(aws.ToInt32(out.FailedRecordCount)) != failed {
			t.Errorf("FailedRecordCount = %d, want %d", aws.ToInt32(out.FailedRecordCount), failed)
		}
	}
	if ok != 1000 || throttled != 500 {
		t.Errorf("flood: %d written, %d throttled; want 1000 and 500", ok, throttled)
	}
	// A writer on the other shard within its limit is unaffected.
	if out := put(entries(10, 10, shard1Key)); aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Errorf("writer within limit on shard 1: %d failed", aws.ToInt32(out.FailedRecordCount))
	}
	// PutRecord on the saturated shard fails as a whole.
	_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("lim"), PartitionKey: aws.String("p"), ExplicitHashKey: aws.String("0"), Data: []byte("x")})
	var pte *types.ProvisionedThroughputExceededException
	if !asErr(err, &pte) {
		t.Errorf("PutRecord on a saturated shard: %v, want *types.ProvisionedThroughputExceededException", err)
	}
	// A second later the shard takes writes again.
	clock.Advance(time.Second)
	if out := put(entries(500, 10, "0")); aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Errorf("after a second: %d failed", aws.ToInt32(out.FailedRecordCount))
	}
	// Bytes: 1 MiB/s per shard, partition key counted.
	clock.Advance(time.Second)
	out := put(entries(3, 400<<10, shard1Key)[:2])
	out2 := put(entries(1, 400<<10, shard1Key))
	if aws.ToInt32(out.FailedRecordCount) != 0 || aws.ToInt32(out2.FailedRecordCount) != 1 {
		t.Errorf("1.2 MiB in one second: failed %d then %d, want 0 then 1", aws.ToInt32(out.FailedRecordCount), aws.ToInt32(out2.FailedRecordCount))
	}

	// Whole-call rejections, answered as Kinesis answers them.
	_, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("lim"), Records: entries(501, 1, "")})
	wantCode(t, err, "ValidationException")
	_, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("lim"), Records: entries(3, 400<<10, "")})
	wantCode(t, err, "InvalidArgumentException") // over MaxRequestBytes (1 MiB here)
	big := bytes.Repeat([]byte{'x'}, 1<<20)
	_, err = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("lim"), PartitionKey: aws.String("p"), Data: big})
	wantCode(t, err, "InvalidArgumentException") // 1 MiB of data plus the key is over the 1024 KiB record size
	sum := createStream(t, c, "lim-big", 1)
	if _, err := c.UpdateMaxRecordSize(ctx, &kinesis.UpdateMaxRecordSizeInput{StreamARN: sum.StreamDescriptionSummary.StreamARN, MaxRecordSizeInKiB: aws.Int32(2048)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("lim-big"), PartitionKey: aws.String("p"), Data: big}); err != nil {
		t.Errorf("PutRecord of 1 MiB after UpdateMaxRecordSize 2048: %v", err)
	}
}

func TestGetRecordsLimits(t *testing.T) {
	clock := kinesistest.NewManualClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	_, c := start(t, kinesistest.EnforceLimits(), kinesistest.Clock(clock.Now))
	ctx := ctxT(t)
	createStream(t, c, "glim", 1)
	it := iterator(t, c, "glim", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")
	for i := range 5 {
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
		if err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		it = out.NextShardIterator
	}
	_, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
	var pte *types.ProvisionedThroughputExceededException
	if !asErr(err, &pte) {
		t.Fatalf("6th GetRecords in one second: %v, want *types.ProvisionedThroughputExceededException", err)
	}
	clock.Advance(200 * time.Millisecond)
	if _, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it}); err != nil {
		t.Errorf("GetRecords 200ms later: %v", err)
	}

	// 2 MiB/s: a 3 MiB read is answered whole, then the shard rests until it has paid for it.
	for range 3 {
		clock.Advance(time.Second)
		if _, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("glim"), Records: entries(4, 250<<10, "")}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Second)
	out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
	if err != nil || len(out.Records) != 12 {
		t.Fatalf("3 MiB read: %v, %d records", err, len(out.Records))
	}
	clock.Advance(200 * time.Millisecond)
	_, err = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator})
	wantCode(t, err, "ProvisionedThroughputExceededException")
	clock.Advance(time.Second)
	if _, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator}); err != nil {
		t.Errorf("after the shard paid for the read: %v", err)
	}
	// Limit is validated.
	_, err = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator, Limit: aws.Int32(10001)})
	wantCode(t, err, "ValidationException")
}

func TestRetention(t *testing.T) {
	clock := kinesistest.NewManualClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	_, c := start(t, kinesistest.Clock(clock.Now))
	ctx := ctxT(t)
	createStream(t, c, "ret", 1)
	putN(t, c, "ret", 3, func(int) string { return "k" })
	if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("ret"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String(half)}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(23 * time.Hour)
	putN(t, c, "ret", 1, func(int) string { return "k" })
	if n := len(listShards(t, c, "ret", nil)); n != 3 {
		t.Errorf("within retention: %d shards, want 3", n)
	}
	got, _ := drain(t, c, iterator(t, c, "ret", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, ""))
	if len(got) != 3 {
		t.Errorf("within retention: read %d records, want 3", len(got))
	}
	clock.Advance(2 * time.Hour)
	if ids := shardIDs(listShards(t, c, "ret", nil)); len(ids) != 2 || ids[0] != "shardId-000000000001" {
		t.Errorf("after retention: shards %v, want the two children", ids)
	}
	var total int
	for _, id := range []string{"shardId-000000000001", "shardId-000000000002"} {
		got, _ := drain(t, c, iterator(t, c, "ret", id, types.ShardIteratorTypeTrimHorizon, ""))
		total += len(got)
	}
	if total != 1 {
		t.Errorf("after 25h: %d records readable, want the 1 put at 23h", total)
	}
}
