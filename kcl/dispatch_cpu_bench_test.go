//go:build unix

package kcl_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/lease"
)

// serverChildEnv makes the test binary, re-executed by BenchmarkDispatchCPU, serve kinesistest.
const serverChildEnv = "SHARDWISE_KCL_BENCH_SERVER_CHILD"

// TestBenchServerChild is not a test: run as a child process (serverChildEnv set) it serves a
// kinesistest server, prints its URL and exits when its standard input closes.
func TestBenchServerChild(t *testing.T) {
	if os.Getenv(serverChildEnv) == "" {
		t.Skip("helper process for BenchmarkDispatchCPU")
	}
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fmt.Println("URL", srv.URL())
	var buf [1]byte
	os.Stdin.Read(buf[:]) // returns when the parent closes the pipe or exits
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDispatchCPU measures the worker's own CPU cost of dispatching deaggregated user records to
// a no-op processor: kinesistest runs in a child process, so the CPU time this process spends while
// the worker drains the stream (polling GetRecords through the SDK, decoding, MD5 check, deaggregation,
// hash-range filtering, dispatch) is the consumer's alone. It reports user records per CPU-second of
// the consumer, i.e. per core. Stream: 4 shards × 500 aggregates × 500 user records of 32 bytes.
//
//	go test -run '^$' -bench BenchmarkDispatchCPU -benchtime 3x ./kcl/
func BenchmarkDispatchCPU(b *testing.B) {
	const shards, aggs, perAgg = 4, 500, 500
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	child := exec.Command(exe, "-test.run=^TestBenchServerChild$")
	child.Env = append(os.Environ(), serverChildEnv+"=1")
	stdin, err := child.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		child.Wait()
	}()
	var url string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
			url = u
			break
		}
	}
	if url == "" {
		b.Fatal("the server child printed no URL")
	}
	go func() { // drain the rest of the child's output so it never blocks
		for sc.Scan() {
		}
	}()

	kc := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: aws.AnonymousCredentials{}})
	ctx := context.Background()
	fillBenchStream(b, kc, shards, aggs, perAgg)
	const total = shards * aggs * perAgg
	b.ResetTimer()
	var cpu time.Duration
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
		p := countProc{n: &n, want: total, done: done}
		w, err := kcl.NewWorker(kc, m, "bench", func(string) kcl.RecordProcessor { return p }, kcl.PollInterval(200*time.Millisecond), kcl.ShardReadRate(0), kcl.TakeInterval(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		c0 := cpuTime()
		res := make(chan error, 1)
		go func() { res <- w.Run(ctx) }()
		timeout := time.NewTimer(2 * time.Minute)
		select {
		case <-done:
		case <-timeout.C:
			b.Fatalf("iteration %d: %d of %d records after 2m", i, n.Load(), total)
		}
		timeout.Stop()
		cpu += cpuTime() - c0
		b.StopTimer()
		if err := w.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
		if err := <-res; !errors.Is(err, kcl.ErrWorkerClosed) {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total*b.N)/cpu.Seconds(), "userrecords/cpu-s")
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "userrecords/s")
}
