package kinesistest_test

import (
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

func TestPutGetRoundTrip(t *testing.T) {
	_, c := start(t)
	ctx := ctxT(t)
	createStream(t, c, "rt", 1)
	var seqs []string
	for i := range 3 {
		out, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("rt"), PartitionKey: aws.String("k"), Data: []byte(fmt.Sprintf("r%d", i))})
		if err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
		if aws.ToString(out.ShardId) != "shardId-000000000000" {
			t.Errorf("PutRecord shard = %s", aws.ToString(out.ShardId))
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	for i := 1; i < len(seqs); i++ {
		a, _ := new(big.Int).SetString(seqs[i-1], 10)
		b, ok := new(big.Int).SetString(seqs[i], 10)
		if !ok || len(seqs[i]) != 56 || a.Cmp(b) >= 0 {
			t.Errorf("sequence numbers %s then %s: want increasing 56-digit decimals", seqs[i-1], seqs[i])
		}
	}
	got, last := drain(t, c, iterator(t, c, "rt", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, ""))
	if fmt.Sprint(got) != "[r0 r1 r2]" {
		t.Errorf("TRIM_HORIZON read %v", got)
	}
	if last.NextShardIterator == nil || aws.ToInt64(last.MillisBehindLatest) != 0 {
		t.Errorf("open shard tip: next=%v behind=%v", last.NextShardIterator, aws.ToInt64(last.MillisBehindLatest))
	}
	tests := []struct {
		typ  types.ShardIteratorType
		seq  string
		want string
	}{
		{types.ShardIteratorTypeAtSequenceNumber, seqs[1], "[r1 r2]"},
		{types.ShardIteratorTypeAfterSequenceNumber, seqs[1], "[r2]"},
		{types.ShardIteratorTypeLatest, "", "[]"},
	}
	for _, tt := range tests {
		got, _ := drain(t, c, iterator(t, c, "rt", "shardId-000000000000", tt.typ, tt.seq))
		if fmt.Sprint(got) != tt.want {
			t.Errorf("%s read %v, want %s", tt.typ, got, tt.want)
		}
	}
}

func TestAtTimestampAndIteratorExpiry(t *testing.T) {
	clock := kinesistest.NewManualClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	_, c := start(t, kinesistest.Clock(clock.Now))
	ctx := ctxT(t)
	createStream(t, c, "ts", 1)
	putN(t, c, "ts", 2, func(int) string { return "a" })
	clock.Advance(time.Minute)
	mid := clock.Now()
	putN(t, c, "ts", 1, func(int) string { return "a" })

	out, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("ts"), ShardId: aws.String("shardId-000000000000"),
		ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(mid)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := drain(t, c, out.ShardIterator)
	if fmt.Sprint(got) != "[rec-0]" {
		t.Errorf("AT_TIMESTAMP read %v, want [rec-0] (the record put at that time)", got)
	}
	it := iterator(t, c, "ts", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")
	clock.Advance(5*time.Minute + time.Millisecond)
	_, err = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
	wantCode(t, err, "ExpiredIteratorException")
	var exp *types.ExpiredIteratorException
	if !asErr(err, &exp) {
		t.Errorf("error %T is not *types.ExpiredIteratorException", err)
	}
}

func TestIteratorTTLOption(t *testing.T) {
	clock := kinesistest.NewManualClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	_, c := start(t, kinesistest.Clock(clock.Now), kinesistest.IteratorTTL(time.Minute))
	createStream(t, c, "ttl", 1)
	it := iterator(t, c, "ttl", "shardId-000000000000", types.ShardIteratorTypeLatest, "")
	clock.Advance(time.Minute)
	out, err := c.GetRecords(ctxT(t), &kinesis.GetRecordsInput{ShardIterator: it})
	if err != nil {
		t.Fatalf("GetRecords at the TTL: %v", err)
	}
	clock.Advance(time.Minute + time.Millisecond) // the returned iterator is fresh; the old one is not
	if _, err := c.GetRecords(ctxT(t), &kinesis.GetRecordsInput{ShardIterator: it}); err == nil {
		t.Error("iterator older than IteratorTTL accepted")
	}
	_, err = c.GetRecords(ctxT(t), &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator})
	wantCode(t, err, "ExpiredIteratorException")
	_, err = c.GetRecords(ctxT(t), &kinesis.GetRecordsInput{ShardIterator: aws.String("not-an-iterator")})
	wantCode(t, err, "InvalidArgumentException")
}
