package kpl_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

// Overload benchmark (c): a child process (this test binary) offers 10x the stream's write limit
// (4 shards: 40 MiB/s of 1 KiB records, each in a freshly allocated buffer, as an application
// reading input would) for overloadFor, through a Producer bounded by overloadBound bytes. The
// server (with limits) runs in the parent, so the child's peak RSS (VmHWM) is the producer's. The
// child sets GOMEMLIMIT to the bound + 4 MiB, the documented way to keep the Go heap near its live
// size.
const (
	overloadBound = 64 << 20
	overloadFor   = 20 * time.Second
	overloadRate  = 40 << 20 // bytes/s offered
)

func BenchmarkOverloadRSS(b *testing.B) {
	// One child run whatever b.N is: the figure is the peak RSS, not a time per operation.
	srv, kc := startServer(b, kinesistest.EnforceLimits())
	createStream(b, kc, "overload", 4)
	cmd := exec.Command(os.Args[0], "-test.run=^TestOverloadChild$", "-test.v")
	cmd.Env = append(os.Environ(), "KPL_OVERLOAD_ENDPOINT="+srv.URL())
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child: %v\n%s", err, out)
	}
	if f := os.Getenv("KPL_OVERLOAD_TRACE"); f != "" {
		os.WriteFile(f, out, 0o644)
	}
	var hwm, delivered, failed, offered int64
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if _, after, ok := strings.Cut(sc.Text(), "OVERLOAD "); ok {
			fmt.Sscanf(after, "hwm=%d delivered=%d failed=%d offered=%d", &hwm, &delivered, &failed, &offered)
		}
	}
	b.Logf("child output:\n%s", out)
	b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(overloadBound)/(1<<20), "bound-MiB")
	b.ReportMetric(float64(delivered)*1024/overloadFor.Seconds()/(1<<20), "delivered-MiB/s")
	if hwm == 0 {
		b.Fatal("child reported no RSS")
	}
	if hwm > overloadBound+32<<20 {
		b.Fatalf("peak RSS %d MiB exceeds the bound %d MiB + 32 MiB", hwm>>20, overloadBound>>20)
	}
}

// TestOverloadChild is the child of BenchmarkOverloadRSS; it does nothing in a normal test run.
func TestOverloadChild(t *testing.T) {
	endpoint := os.Getenv("KPL_OVERLOAD_ENDPOINT")
	if endpoint == "" {
		t.Skip("child process of BenchmarkOverloadRSS")
	}
	debug.SetMemoryLimit(overloadBound + 4<<20)
	kc := kinesis.NewFromConfig(aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")},
		func(o *kinesis.Options) { o.BaseEndpoint = aws.String(endpoint) })
	var delivered, failed atomic.Int64
	p, err := kpl.New(kc, "overload", kpl.MaxBufferedBytes(overloadBound), kpl.MaxBufferedRecords(1<<20),
		kpl.RecordTTL(time.Minute), kpl.WithHooks(doneCounter{&delivered, &failed}))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("baseline VmHWM %d MiB", vmHWM(t)>>20)
	ctx, cancel := context.WithTimeout(context.Background(), overloadFor)
	defer cancel()
	start := time.Now()
	if os.Getenv("KPL_OVERLOAD_TRACE") != "" {
		go func() {
			for ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
				st := p.Stats()
				fmt.Fprintf(os.Stderr, "TRACE t=%v rss=%d MiB buffered=%d MiB in-flight=%d\n", time.Since(start).Round(100*time.Millisecond), vmRSS(t)>>20, st.BufferedBytes>>20, st.InFlightRequests)
			}
		}()
	}
	var offered int64
	for i := 0; ctx.Err() == nil; i++ {
		data := make([]byte, 1024)
		copy(data, strconv.Itoa(i))
		p.PutAsync(ctx, kpl.Record{PartitionKey: "k" + strconv.Itoa(i%10000), Data: data})
		offered++
		if i%1024 == 0 { // pace the offer at overloadRate
			if ahead := time.Duration(float64(offered*1024)/overloadRate*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	if f := os.Getenv("KPL_OVERLOAD_HEAPPROFILE"); f != "" {
		w, _ := os.Create(f)
		pprof.WriteHeapProfile(w)
		w.Close()
	}
	p.Close() // fails what is still buffered with ErrClosed
	t.Logf("OVERLOAD hwm=%d delivered=%d failed=%d offered=%d", vmHWM(t), delivered.Load(), failed.Load(), offered)
}

type doneCounter struct{ ok, failed *atomic.Int64 }

func (d doneCounter) OnRecordDone(e kpl.RecordDoneEvent) {
	if e.Err != nil {
		d.failed.Add(1)
	} else {
		d.ok.Add(1)
	}
}

func vmRSS(t *testing.T) int64 { return procStatus(t, "VmRSS:") }

func vmHWM(t *testing.T) int64 { return procStatus(t, "VmHWM:") }

func procStatus(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
