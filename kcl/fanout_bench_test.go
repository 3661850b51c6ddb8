package kcl_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/lease"
)

// latencyProc measures, for each record, the time from just before its PutRecord call (carried in the
// record's first 8 bytes, UnixNano) to the start of the ProcessRecords call delivering it.
type latencyProc struct {
	mu   *sync.Mutex
	lats *[]time.Duration
}

func (p latencyProc) Initialize(context.Context, kcl.InitializeInput) error { return nil }
func (p latencyProc) Shutdown(context.Context, kcl.ShutdownInput) error     { return nil }
func (p latencyProc) ProcessRecords(_ context.Context, in kcl.ProcessRecordsInput) error {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range in.Records {
		if len(r.Data) >= 8 {
			put := time.Unix(0, int64(binary.BigEndian.Uint64(r.Data)))
			*p.lats = append(*p.lats, now.Sub(put))
		}
	}
	return nil
}

// BenchmarkPutToProcessLatency measures put-to-ProcessRecords latency of a kcl worker on a 2-shard
// kinesistest stream (TLS, HTTP/2), one record written every 5 ms, for enhanced fan-out and for polling
// every 200 ms. Run it with a record count, e.g.
//
//	go test -run '^$' -bench PutToProcessLatency -benchtime 1000x ./kcl/
//
// It reports p50-ms, p99-ms and max-ms.
func BenchmarkPutToProcessLatency(b *testing.B) {
	for _, mode := range []struct {
		name string
		opt  kcl.Option
	}{
		{"fanout", kcl.EnhancedFanOut("bench")},
		{"polling-200ms", kcl.PollInterval(200 * time.Millisecond)}, // small records: byte pacing does not bind
	} {
		b.Run(mode.name, func(b *testing.B) { benchLatency(b, mode.opt) })
	}
}

func benchLatency(b *testing.B, mode kcl.Option) {
	srv, err := kinesistest.NewServer(kinesistest.TLS())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	kc := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()),
		Credentials: aws.AnonymousCredentials{}, HTTPClient: srv.HTTP2Client()})
	ctx := context.Background()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("lat"), ShardCount: aws.Int32(2)}); err != nil {
		b.Fatal(err)
	}
	db := fakeaws.NewDynamoDB()
	m, err := lease.NewManager(db, "lat", "w1", lease.Failover(10*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	var lats []time.Duration
	w, err := kcl.NewWorker(kc, m, "lat", func(string) kcl.RecordProcessor { return latencyProc{mu: &mu, lats: &lats} },
		mode, kcl.StartAt(kcl.TrimHorizon))
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() { stop(); <-done }()

	count := func() int { mu.Lock(); defer mu.Unlock(); return len(lats) }
	put := func(i int) {
		data := make([]byte, 64)
		binary.BigEndian.PutUint64(data, uint64(time.Now().UnixNano()))
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("lat"),
			PartitionKey: aws.String(fmt.Sprint("k", i)), Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	wait := func(n int) {
		deadline := time.Now().Add(60 * time.Second)
		for count() < n {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d records processed after 60s", count(), n)
			}
			t := time.NewTimer(5 * time.Millisecond)
			<-t.C
		}
	}
	// Warm up: both shards leased and reading (a record routed to each, by key).
	for i := range 8 {
		put(i)
	}
	wait(8)
	mu.Lock()
	lats = lats[:0]
	mu.Unlock()

	ticker := time.NewTicker(5 * time.Millisecond)
	defer ticker.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		put(i)
		<-ticker.C
	}
	wait(b.N)
	b.StopTimer()
	mu.Lock()
	sorted := slices.Clone(lats)
	mu.Unlock()
	slices.Sort(sorted)
	q := func(p float64) float64 {
		return float64(sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(sorted[len(sorted)-1])/float64(time.Millisecond), "max-ms")
}
