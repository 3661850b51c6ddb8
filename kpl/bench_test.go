//go:build unix

package kpl_test

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchEndToEnd puts b.N records of size bytes through a Producer into an in-process kinesistest
// server (4 shards) and reports records/s, MB/s and CPU (client and server together) per record.
func benchEndToEnd(b *testing.B, size int, srvOpts []kinesistest.Option, opts ...kpl.Option) {
	limited := len(srvOpts) > 0
	_, kc := startServer(b, srvOpts...)
	createStream(b, kc, "bench", 4)
	p, err := kpl.New(kc, "bench", opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	// Warm up: shard map loaded.
	if _, err := p.Put(ctx, kpl.Record{PartitionKey: "warm", Data: data}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	var last *kpl.Future
	for i := 0; i < b.N; i++ {
		last = p.PutAsync(ctx, kpl.Record{PartitionKey: keys[i%len(keys)], Data: data})
	}
	if err := p.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if _, err := last.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	st := p.Stats()
	if st.RecordsFailed != 0 {
		b.Fatalf("%d records failed", st.RecordsFailed)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
	b.ReportMetric(float64(b.N)*float64(size)/el.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/record")
	b.ReportMetric(float64(st.EntriesThrottled), "throttled")
	if limited {
		// Discount the servers' initial one-second bucket (1 MiB per shard) to get the sustained rate.
		sustained := (float64(b.N)*float64(size) - 4<<20) / el.Seconds()
		b.ReportMetric(sustained/(4<<20)*100, "%-of-4MiB/s-sustained")
	}
}

// (a) without limits.
func BenchmarkEndToEnd100B(b *testing.B) { benchEndToEnd(b, 100, nil, kpl.RateLimit(0)) }
func BenchmarkEndToEnd1KiB(b *testing.B) { benchEndToEnd(b, 1024, nil, kpl.RateLimit(0)) }

// (b) with limits on 4 shards, default options (RateLimit 150%): run with -benchtime=100000x (about
// 25 s); the sustained rate is compared with the 4 MiB/s limit.
func BenchmarkLimited4Shards(b *testing.B) {
	benchEndToEnd(b, 1024, []kinesistest.Option{kinesistest.EnforceLimits()})
}
