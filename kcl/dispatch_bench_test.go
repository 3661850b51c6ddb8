package kcl_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/lease"
)

// countProc is a no-op processor that counts user records and closes done at want.
type countProc struct {
	n     *atomic.Int64
	want  int64
	done  chan struct{}
	first *atomic.Int64 // unix nanos of the first batch
}

func (p countProc) Initialize(context.Context, kcl.InitializeInput) error { return nil }
func (p countProc) Shutdown(context.Context, kcl.ShutdownInput) error     { return nil }
func (p countProc) ProcessRecords(_ context.Context, in kcl.ProcessRecordsInput) error {
	if p.first != nil && p.n.Load() == 0 {
		p.first.CompareAndSwap(0, time.Now().UnixNano())
	}
	if p.n.Add(int64(len(in.Records))) == p.want {
		close(p.done)
	}
	return nil
}

// BenchmarkDispatch measures the rate at which a worker hands deaggregated user records to a no-op
// processor, reading KPL aggregates from kinesistest (real SDK client and wire protocol, HTTP/1.1 on
// loopback): 4 shards × 1000 aggregates × 500 user records of 32 bytes per iteration, from TRIM_HORIZON,
// with a fresh lease table (in-memory DynamoDB) each time. It reports user records per second; divide by
// the cores used (-cpu) for the per-core figure.
//
//	go test -run '^$' -bench BenchmarkDispatch -benchtime 5x -cpu 1,2 ./kcl/
func BenchmarkDispatch(b *testing.B) {
	const shards, aggs, perAgg = 4, 1000, 500
	srv, err := kinesistest.NewServer()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	kc := srv.KinesisClient()
	ctx := context.Background()
	fillBenchStream(b, kc, shards, aggs, perAgg)
	const total = shards * aggs * perAgg
	b.ResetTimer()
	var startupTotal time.Duration
	for i := range b.N {
		m, err := lease.NewManager(fakeaws.NewDynamoDB(), "bench-app", "w")
		if err != nil {
			b.Fatal(err)
		}
		if err := m.EnsureTable(ctx); err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		done := make(chan struct{})
		var first atomic.Int64
		p := countProc{n: &n, want: total, done: done, first: &first}
		t0 := time.Now()
		w, err := kcl.NewWorker(kc, m, "bench", func(string) kcl.RecordProcessor { return p }, kcl.PollInterval(200*time.Millisecond), kcl.ShardReadRate(0), kcl.TakeInterval(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		res := make(chan error, 1)
		go func() { res <- w.Run(ctx) }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			b.Fatalf("iteration %d: %d of %d records after 2m", i, n.Load(), total)
		}
		b.StopTimer()
		startup := time.Unix(0, first.Load()).Sub(t0)
		startupTotal += startup
		if err := w.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
		if err := <-res; !errors.Is(err, kcl.ErrWorkerClosed) {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "userrecords/s")
	b.ReportMetric(startupTotal.Seconds()*1000/float64(b.N), "ms-to-first-batch")
}

// fillBenchStream creates stream "bench" with the given shards and puts aggs KPL aggregates of perAgg
// 32-byte user records into each shard, routed by explicit hash key.
func fillBenchStream(b *testing.B, kc *kinesis.Client, shards, aggs, perAgg int) {
	b.Helper()
	ctx := context.Background()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("bench"), ShardCount: aws.Int32(int32(shards))}); err != nil {
		b.Fatal(err)
	}
	ls, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 32)
	for _, sh := range ls.Shards {
		ehk := aws.ToString(sh.HashKeyRange.StartingHashKey)
		var entries []types.PutRecordsRequestEntry
		for a := range aggs {
			agg := aggregation.NewAggregator(1 << 20)
			for u := range perAgg {
				if err := agg.Add(aggregation.Record{PartitionKey: fmt.Sprintf("k%d-%d", a, u), ExplicitHashKey: ehk, Data: data}); err != nil {
					b.Fatal(err)
				}
			}
			rec, _, err := agg.Flush()
			if err != nil {
				b.Fatal(err)
			}
			entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(rec.PartitionKey),
				ExplicitHashKey: aws.String(rec.ExplicitHashKey), Data: rec.Data})
			if len(entries) == 100 {
				if _, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("bench"), Records: entries}); err != nil {
					b.Fatal(err)
				}
				entries = nil
			}
		}
	}
}
