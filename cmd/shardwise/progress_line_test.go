package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/lease"
)

// lockedBuffer is a stderr shared by a command and its progress goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// redraw is one redraw of a live progress line: erase the line, then the figures.
var redraw = regexp.MustCompile(`\r\x1b\[K(put: |read: )?(\d+) records, (\d+) records/s, (\d+\.\d\d) MB/s(, (\d+) failed, (\d+) buffered)?`)

// virtualKinesis is a kinesistest server on the virtual network, for a synctest bubble: its
// --enforce-limits rates make a put take fake seconds, so the progress lines show.
func virtualKinesis(t *testing.T, opts ...kinesistest.Option) *kinesis.Client {
	t.Helper()
	srv, err := kinesistest.NewServer(append([]kinesistest.Option{kinesistest.VirtualNetwork()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.KinesisClient()
}

// TestPutProgressLine: put with a live progress line (stderr a terminal) redraws the records
// delivered, records/s, MB/s, failed and buffered on stderr twice a second while it sends, and erases
// it before the summary. The rates are those of delivery: reading the input is done in an instant.
func TestPutProgressLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kc := virtualKinesis(t, kinesistest.EnforceLimits(), kinesistest.Stream("p", 1))
		const n = 3000 // 1,000 records/s on one shard without aggregation: 3 s
		var lines strings.Builder
		for i := range n {
			fmt.Fprintf(&lines, "%0100d\n", i)
		}
		var errOut lockedBuffer
		out, err := putLines(t.Context(), kc, "p", putConfig{noAggregate: true, linger: defaultPutLinger, progress: true},
			strings.NewReader(lines.String()), &errOut)
		if err != nil || out.records != n || out.failed != 0 {
			t.Fatalf("put = %+v, %v\n%s", out, err, errOut.String())
		}
		stderr := errOut.String()
		draws := redraw.FindAllStringSubmatch(stderr, -1)
		if len(draws) < 4 {
			t.Fatalf("%d progress redraws in a put of %v, want one per 500ms:\n%q", len(draws), out.elapsed, stderr)
		}
		buffered := false
		for _, d := range draws[:len(draws)-1] { // the last may come after the last delivery
			if d[5] == "" {
				t.Errorf("put's progress line lacks failed and buffered: %q", d[0])
			}
			buffered = buffered || d[7] != "0"
			if d[3] == "0" {
				t.Errorf("a redraw with no records/s while sending: %q", d[0])
			}
		}
		if !buffered {
			t.Error("no redraw showed records buffered in the producer")
		}
		if !strings.Contains(stderr, "\r\x1b[Kshardwise put: 3000 records,") {
			t.Errorf("the summary does not follow an erased progress line:\n%q", stderr[max(0, len(stderr)-200):])
		}
	})
}

// TestBenchProgressLine: bench with a live progress line redraws the put figures (records/s, MB/s,
// failed, buffered) and then the read-back figures on stderr.
func TestBenchProgressLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kc := virtualKinesis(t, kinesistest.EnforceLimits())
		var errOut lockedBuffer
		// 15 MB: 15 s (fake) to put at 1 MiB/s; read back in two GetRecords calls of at most 10 MiB,
		// at 2 MiB/s.
		const n = 30
		rep, err := bench(t.Context(), kc, benchConfig{target: "local", shards: 1, records: n, size: 500_000, keys: 10,
			rateLimit: 150, limits: true, consume: true, format: "text", drainLimit: time.Minute, progress: &errOut}, &errOut)
		if err != nil || rep.Produce.Delivered != n || rep.Consume == nil || rep.Consume.Records != n {
			t.Fatalf("bench = %+v, %v\n%s", rep, err, errOut.String())
		}
		var puts, reads int
		for _, d := range redraw.FindAllStringSubmatch(errOut.String(), -1) {
			switch d[1] {
			case "put: ":
				puts++
				if d[5] == "" {
					t.Errorf("put line lacks failed and buffered: %q", d[0])
				}
			case "read: ":
				reads++
			}
		}
		if puts < 10 || reads < 2 {
			t.Errorf("%d put and %d read redraws, want some of each:\n%q", puts, reads, errOut.String())
		}
	})
}

// statsLine is one --stats line: totals, then per shard its rate and lag.
var statsLine = regexp.MustCompile(`(?m)^shardwise (tail|consume): (\d+) records, \d+ records/s, \d+\.\d\d MB/s((; shardId-\d+ \d+ records/s, lag [^;\n]+)+)$`)

// putRecords puts n records of 10 bytes over keys k0..k(n-1).
func putRecords(t *testing.T, kc *kinesis.Client, stream string, n int) {
	t.Helper()
	for i := range n {
		if _, err := kc.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String(stream),
			PartitionKey: aws.String(fmt.Sprint("k", i)), Data: []byte("0123456789")}); err != nil {
			t.Fatal(err)
		}
	}
}

// checkStatsLines checks that stderr holds --stats lines whose last counts want records over both
// shards of the stream, each with a lag.
func checkStatsLines(t *testing.T, stderr string, want int) {
	t.Helper()
	lines := statsLine.FindAllStringSubmatch(stderr, -1)
	if len(lines) < 2 {
		t.Fatalf("%d --stats lines, want one per interval:\n%s", len(lines), stderr)
	}
	last := lines[len(lines)-1]
	if last[2] != fmt.Sprint(want) || strings.Count(last[3], "; shardId-") != 2 || strings.Contains(last[3], "lag -") {
		t.Errorf("last --stats line %q: want %d records and both shards with a lag", last[0], want)
	}
}

// TestTailStatsLine: tail --stats, as runTail wires it (startShardStats on stderr, the counters fed
// by tailStream), prints a line every --stats-interval with the rates in all and the rate and lag
// of each shard.
func TestTailStatsLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kc := virtualKinesis(t, kinesistest.Stream("ts", 2))
		putRecords(t, kc, "ts", 20)
		var errOut lockedBuffer
		c := tailConfig{from: "trim-horizon", idleTimeout: 3500 * time.Millisecond, format: "raw", pollInterval: minPollInterval,
			stats: newShardStats()}
		stop := startShardStats(&errOut, "shardwise tail: ", time.Second, c.stats)
		n, err := tailStream(t.Context(), kc, "ts", c, &bytes.Buffer{})
		stop()
		if err != nil || n != 20 {
			t.Fatalf("tail = %d, %v", n, err)
		}
		checkStatsLines(t, errOut.String(), 20)
	})
}

// TestConsumeStatsLine: consume --stats, as runConsume wires it, prints the same lines from the
// kcl worker's batches.
func TestConsumeStatsLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kc := virtualKinesis(t, kinesistest.Stream("cs", 2))
		putRecords(t, kc, "cs", 30)
		m, err := lease.NewManager(fakeaws.NewDynamoDB(), "cs-app", "w", lease.Failover(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.EnsureTable(t.Context()); err != nil {
			t.Fatal(err)
		}
		var errOut lockedBuffer
		c := consumeConfig{idleTimeout: 3500 * time.Millisecond, format: "raw", pollInterval: 200 * time.Millisecond,
			syncInterval: time.Minute, grace: 10 * time.Second, stats: newShardStats()}
		stop := startShardStats(&errOut, "shardwise consume: ", time.Second, c.stats)
		n, err := consume(t.Context(), kc, m, "cs", kcl.TrimHorizon, c, &bytes.Buffer{}, slog.New(slog.DiscardHandler))
		stop()
		if err != nil || n != 30 {
			t.Fatalf("consume = %d, %v", n, err)
		}
		checkStatsLines(t, errOut.String(), 30)
	})
}
