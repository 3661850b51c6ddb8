package kinesistest_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

// batch returns 500 entries of 100 bytes with distinct partition keys.
func batch() []types.PutRecordsRequestEntry {
	e := make([]types.PutRecordsRequestEntry, 500)
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	for i := range e {
		e[i] = types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(fmt.Sprintf("key-%d", i))}
	}
	return e
}

// BenchmarkPutRecords measures ingest through the stock SDK client over loopback HTTP/1.1: each
// operation is one PutRecords call of 500 records of 100 bytes, from 4 concurrent writers.
//
// The server clock jumps a day ahead every 400 calls, so retention drops what was written before and
// memory stays bounded however long the benchmark runs.
func BenchmarkPutRecords(b *testing.B) {
	clock := kinesistest.NewManualClock(time.Now())
	_, c := start(b, kinesistest.Clock(clock.Now))
	createStream(b, c, "bench", 4)
	entries := batch()
	ctx := context.Background()
	var calls atomic.Int64
	b.SetParallelism(2) // 2 x GOMAXPROCS writers
	b.ResetTimer()
	begin := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if calls.Add(1)%400 == 0 {
				clock.Advance(25 * time.Hour)
			}
			out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("bench"), Records: entries})
			if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
				b.Errorf("PutRecords: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*500)/time.Since(begin).Seconds(), "records/s")
}

// BenchmarkGetRecords measures draining a stream with GetRecords (up to 10,000 records of 100 bytes
// per call) through the stock SDK client: 4 shards of 25,000 records, one reader per shard, each
// starting over from TRIM_HORIZON when it reaches the tip.
func BenchmarkGetRecords(b *testing.B) {
	_, c := start(b)
	createStream(b, c, "drain", 4)
	entries := batch()
	ctx := context.Background()
	for range 100_000 / 500 {
		if _, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("drain"), Records: entries}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int32
	var records atomic.Int64
	b.SetParallelism(2) // 2 x GOMAXPROCS readers, one per shard
	b.ResetTimer()
	begin := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		shard := fmt.Sprintf("shardId-%012d", (next.Add(1)-1)%4)
		var it *string
		n := 0
		for pb.Next() {
			if it == nil {
				out, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("drain"), ShardId: aws.String(shard),
					ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
				if err != nil {
					b.Error(err)
					return
				}
				it = out.ShardIterator
			}
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
			if err != nil {
				b.Error(err)
				return
			}
			n += len(out.Records)
			it = out.NextShardIterator
			if len(out.Records) == 0 {
				it = nil
			}
		}
		records.Add(int64(n))
	})
	b.ReportMetric(float64(records.Load())/time.Since(begin).Seconds(), "records/s")
}
