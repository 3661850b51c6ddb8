//go:build linux

package kcl_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/lease"
)

// The peak-RSS figure of prefetch: 100 shards, each holding rssPerShard records of (almost) 1 MiB, read
// from TRIM_HORIZON by one worker in a child process (this test binary re-run as TestPrefetchRSSChild),
// so the child's peak RSS (VmHWM) is the worker's; kinesistest runs in the benchmark's process.
const (
	rssShards   = 100
	rssPerShard = 6
	rssRecord   = 1<<20 - 64 // data; the partition key brings it near the 1 MiB maximum
	rssChildEnv = "SHARDWISE_KCL_RSS_CHILD"
)

// BenchmarkPrefetchRSS reports the worker's peak RSS catching up on 600 MiB over 100 shards, with no
// byte bound (PrefetchBytes and WorkerPrefetchBytes out of the way: what count-only prefetch held),
// with the defaults (WorkerPrefetchBytes 256 MiB) and with WorkerPrefetchBytes 64 MiB (with and
// without GOMEMLIMIT). It fails when a bounded run passes the documented ceiling, 1.5 x
// WorkerPrefetchBytes + 32 MiB.
//
//	go test -run '^$' -bench BenchmarkPrefetchRSS -benchtime 1x ./kcl/
func BenchmarkPrefetchRSS(b *testing.B) {
	srv, err := kinesistest.NewServer()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	kc := srv.KinesisClient()
	fillRSSStream(b, kc)
	for _, tc := range []struct {
		name     string
		worker   int64 // WorkerPrefetchBytes; 0: the default; -1: no bound
		memLimit bool  // GOMEMLIMIT = the bound + 32 MiB
	}{{"unbounded", -1, false}, {"default-256MiB", 0, false}, {"bound-64MiB", 64 << 20, false}, {"bound-64MiB-GOMEMLIMIT", 64 << 20, true}} {
		b.Run(tc.name, func(b *testing.B) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestPrefetchRSSChild$", "-test.v")
			cmd.Env = append(os.Environ(), rssChildEnv+"="+srv.URL(), "SHARDWISE_KCL_RSS_BOUND="+strconv.FormatInt(tc.worker, 10))
			if tc.memLimit {
				cmd.Env = append(cmd.Env, fmt.Sprintf("GOMEMLIMIT=%dMiB", tc.worker>>20+32))
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				b.Fatalf("child: %v\n%s", err, out)
			}
			var hwm, base int64
			var secs float64
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				if _, after, ok := strings.Cut(sc.Text(), "PREFETCHRSS "); ok {
					fmt.Sscanf(after, "hwm=%d base=%d secs=%g", &hwm, &base, &secs)
				}
			}
			if hwm == 0 {
				b.Fatalf("no figure from the child:\n%s", out)
			}
			bound := tc.worker
			if bound == 0 {
				bound = kcl.DefaultWorkerPrefetchBytes
			}
			// The documented ceiling (kcl options, README): 1.5 x WorkerPrefetchBytes + 32 MiB.
			if limit := bound*3/2 + 32<<20; tc.worker >= 0 && hwm > limit {
				b.Errorf("peak RSS %d MiB above the documented %d MiB for WorkerPrefetchBytes %d MiB", hwm>>20, limit>>20, bound>>20)
			}
			b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(float64(base)/(1<<20), "start-RSS-MiB")
			b.ReportMetric(secs, "catch-up-s")
		})
	}
}

func fillRSSStream(b *testing.B, kc *kinesis.Client) {
	ctx := context.Background()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("rss"), ShardCount: aws.Int32(rssShards)}); err != nil {
		b.Fatal(err)
	}
	ls, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("rss")})
	if err != nil || len(ls.Shards) != rssShards {
		b.Fatalf("ListShards: %v (%d shards)", err, len(ls.Shards))
	}
	data := bytes.Repeat([]byte{'x'}, rssRecord)
	for _, s := range ls.Shards {
		for range rssPerShard {
			if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("rss"), PartitionKey: aws.String("k"),
				ExplicitHashKey: s.HashKeyRange.StartingHashKey, Data: data}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// vmHWM returns this process's peak resident set size in bytes (Linux).
func vmHWM(field string) int64 {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestPrefetchRSSChild is not a test: run by BenchmarkPrefetchRSS (rssChildEnv set to the server's
// URL) it reads the stream to the end with one worker and prints its peak RSS.
func TestPrefetchRSSChild(t *testing.T) {
	url := os.Getenv(rssChildEnv)
	if url == "" {
		t.Skip("helper process for BenchmarkPrefetchRSS")
	}
	bound, _ := strconv.ParseInt(os.Getenv("SHARDWISE_KCL_RSS_BOUND"), 10, 64)
	kc := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: aws.AnonymousCredentials{}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m, err := lease.NewManager(fakeaws.NewDynamoDB(), "rss-app", "w")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	const total = rssShards * rssPerShard
	var n atomic.Int64
	done := make(chan struct{})
	p := countProc{n: &n, want: total, done: done}
	opts := []kcl.Option{kcl.ShardSyncInterval(time.Minute)}
	switch {
	case bound < 0:
		opts = append(opts, kcl.PrefetchBytes(1<<40), kcl.WorkerPrefetchBytes(1<<40))
	case bound > 0:
		opts = append(opts, kcl.WorkerPrefetchBytes(bound))
	}
	w, err := kcl.NewWorker(kc, m, "rss", func(string) kcl.RecordProcessor { return p }, append(opts, kcl.TakeInterval(time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	base := vmHWM("VmRSS")
	start := time.Now()
	res := make(chan error, 1)
	go func() { res <- w.Run(ctx) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("%d of %d records", n.Load(), total)
	}
	secs := time.Since(start).Seconds()
	hwm := vmHWM("VmHWM")
	if err := w.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-res; !errors.Is(err, kcl.ErrWorkerClosed) {
		t.Fatal(err)
	}
	fmt.Printf("PREFETCHRSS hwm=%d base=%d secs=%.1f\n", hwm, base, secs)
}
