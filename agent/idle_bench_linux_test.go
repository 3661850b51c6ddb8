package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kinesistest"
)

// idleBenchHook counts the files the agent started tailing and the checkpoint bytes written.
type idleBenchHook struct {
	tailing atomic.Int64
	bytes   atomic.Int64
	writes  atomic.Int64
}

func (h *idleBenchHook) OnFileEvent(e agent.FileEvent) {
	if e.Kind == agent.FileTailing {
		h.tailing.Add(1)
	}
}

func (h *idleBenchHook) OnCheckpointWritten(e agent.CheckpointEvent) {
	if e.Err != nil {
		return
	}
	if fi, err := os.Stat(e.Path); err == nil {
		h.bytes.Add(fi.Size())
		h.writes.Add(1)
	}
}

// BenchmarkIdleFiles2000 measures what 2,000 matching files cost when nothing much happens: the
// agent tails 2,000 files of 20 lines each (one glob, END_OF_FILE, default poll 100ms and
// checkpoint interval) against kinesistest; once every file is tailed, one of them gets a line
// every 100ms (so the checkpoint has something to write) and the others stay idle for 30s. It
// reports the process's CPU time as a percentage of one core (getrusage, the in-process server
// included), the open file descriptors (/proc/self/fd), the checkpoint bytes written per
// minute (each write's file size, through HookCheckpointWritten), and the start-up: the time
// from Run until every file is tailed (10ms resolution).
//
//	go test -run '^$' -bench IdleFiles2000 -benchtime 1x ./agent/
func BenchmarkIdleFiles2000(b *testing.B) { benchmarkIdleFiles(b, 2000) }

// BenchmarkIdleFiles1 is BenchmarkIdleFiles2000 with the written file alone: the cost of shipping
// a line every 100ms (producer, HTTP client and the in-process server included), which the
// 2,000-file figure includes too.
//
//	go test -run '^$' -bench 'IdleFiles1$' -benchtime 1x ./agent/
func BenchmarkIdleFiles1(b *testing.B) { benchmarkIdleFiles(b, 1) }

func benchmarkIdleFiles(b *testing.B, files int) {
	const idle = 30 * time.Second
	srv, err := kinesistest.NewServer()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	kc := srv.KinesisClient()
	dir := b.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		b.Fatal(err)
	}
	content := strings.Repeat("an idle line of a log file that nobody writes to any more\n", 20)
	for i := range files {
		// Each file begins with its own line: files with the same first bytes are taken for copies.
		data := fmt.Sprintf("file %d\n%s", i, content)
		if err := os.WriteFile(filepath.Join(logs, fmt.Sprintf("svc%c%c%c.log", 'a'+i/400, 'a'+i/20%20, 'a'+i%20)), []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	active := filepath.Join(logs, "svcaaa.log")
	ctx := context.Background()
	var cpu, fds, cpBytes, cpWrites, startup float64
	for i := range b.N {
		stream := fmt.Sprintf("idle-%d", i)
		if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(1)}); err != nil {
			b.Fatal(err)
		}
		h := &idleBenchHook{}
		cfg := agent.Config{
			CheckpointFile: filepath.Join(dir, fmt.Sprintf("cp-%d.json", i)),
			Flows:          []agent.Flow{{FilePattern: filepath.Join(logs, "*.log"), KinesisStream: stream, InitialPosition: agent.EndOfFile}},
		}
		a, err := agent.New(cfg, kc, agent.WithHooks(h))
		if err != nil {
			b.Fatal(err)
		}
		actx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		began := time.Now()
		go func() { done <- a.Run(actx) }()
		deadline := began.Add(time.Minute)
		var tailed time.Duration
		for h.tailing.Load() < int64(files) || h.writes.Load() == 0 {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d files tailed after 1m", h.tailing.Load(), files)
			}
			if tailed == 0 && h.tailing.Load() >= int64(files) {
				tailed = time.Since(began)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if tailed == 0 {
			tailed = time.Since(began)
		}
		startup += tailed.Seconds()
		time.Sleep(time.Second) // the first checkpoint written, the start-up settled
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			f, err := os.OpenFile(active, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				b.Error(err)
				return
			}
			defer f.Close()
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-t.C:
					fmt.Fprintf(f, "line %d\n", n)
				}
			}
		})
		stopProfile := idleProfile(b)
		b.ResetTimer()
		r0, w0, b0 := rusageCPU(b), h.writes.Load(), h.bytes.Load()
		start := time.Now()
		time.Sleep(idle)
		el := time.Since(start)
		r1, w1, b1 := rusageCPU(b), h.writes.Load(), h.bytes.Load()
		stopProfile()
		fds += float64(openFDs(b))
		b.StopTimer()
		close(stop)
		wg.Wait()
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			b.Fatal(err)
		}
		cpu += 100 * (r1 - r0).Seconds() / el.Seconds()
		cpBytes += float64(b1-b0) / el.Minutes()
		cpWrites += float64(w1-w0) / el.Minutes()
	}
	n := float64(b.N)
	b.ReportMetric(cpu/n, "cpu%")
	b.ReportMetric(fds/n, "fds")
	b.ReportMetric(cpBytes/n, "checkpoint-B/min")
	b.ReportMetric(cpWrites/n, "checkpoint-writes/min")
	b.ReportMetric(startup/n, "startup-s")
}

// idleProfile starts a CPU profile of the idle window when SHARDWISE_IDLE_CPUPROFILE names a file
// (go test's -cpuprofile covers the start-up too, which dominates it); it returns the function that
// stops it.
func idleProfile(b *testing.B) func() {
	path := os.Getenv("SHARDWISE_IDLE_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// rusageCPU is the process's user plus system CPU time so far.
func rusageCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func openFDs(b *testing.B) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		b.Fatal(err)
	}
	return len(ents)
}
