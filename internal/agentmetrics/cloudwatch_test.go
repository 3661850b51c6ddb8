package agentmetrics

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/internal/cwtest"
)

var _ CloudWatchAPI = (*cloudwatch.Client)(nil)

// scripted returns the snapshots in turn, then the last one again.
type scripted struct {
	mu    sync.Mutex
	snaps []agent.Stats
	n     int
}

func (s *scripted) source() agent.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := min(s.n, len(s.snaps)-1)
	s.n++
	return s.snaps[i]
}

func waitCalls(t *testing.T, f *cwtest.Server, n int) []cwtest.Call {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := f.Calls()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d PutMetricData calls, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// find returns the datum of that name whose Destination is dest ("" : the datum without one).
func find(t *testing.T, ds []cwtest.Datum, name, dest string) cwtest.Datum {
	t.Helper()
	for _, d := range ds {
		if d.Name == name && d.Dims["Destination"] == dest {
			return d
		}
	}
	t.Fatalf("no %s datum for Destination %q in %+v", name, dest, ds)
	return cwtest.Datum{}
}

// TestPublisherDatums checks the names, units, dimensions and values the Publisher sends: the
// Kinesis Agent's metrics per destination ("KinesisStream:" / "DeliveryStream:"; the bare name
// for ConsecutiveProcessingErrors), counters as changes over the interval, two flows of one
// destination added up, the Instance dimension on every datum, and CheckpointAge.
func TestPublisherDatums(t *testing.T) {
	cw := cwtest.NewServer(t)
	start := time.Now().Add(-time.Minute)
	s1 := agent.Stats{Started: start, CheckpointAge: 1500 * time.Millisecond, Flows: []agent.FlowStats{
		{FilePattern: "/var/log/a*.log", Destination: "logs", RecordSendAttempts: 10, RecordsSent: 9, RecordSendErrors: 1, ServiceErrors: 0, BytesSent: 900,
			ConsecutiveProcessingErrors: 2, BytesBehind: 100, OldestUnsentRecordAge: 3 * time.Second},
		{FilePattern: "/var/log/b*.log", Destination: "logs", RecordSendAttempts: 5, RecordsSent: 5, BytesSent: 50,
			ConsecutiveProcessingErrors: 1, BytesBehind: 20, OldestUnsentRecordAge: 7 * time.Second},
		{FilePattern: "/var/log/c.log", Destination: "fh", Firehose: true, RecordSendAttempts: 3, RecordsSent: 0, ServiceErrors: 1},
	}}
	s2 := agent.Stats{Started: start, CheckpointAge: 0, Flows: []agent.FlowStats{
		{FilePattern: "/var/log/a*.log", Destination: "logs", RecordSendAttempts: 30, RecordsSent: 29, RecordSendErrors: 1, ServiceErrors: 2, BytesSent: 2900},
		{FilePattern: "/var/log/b*.log", Destination: "logs", RecordSendAttempts: 5, RecordsSent: 5, BytesSent: 50},
		{FilePattern: "/var/log/c.log", Destination: "fh", Firehose: true, RecordSendAttempts: 3, RecordsSent: 3, BytesSent: 30, ServiceErrors: 1},
	}}
	src := &scripted{snaps: []agent.Stats{s1, s2}}
	p := NewPublisher(cw.Client(), src.source, PublisherConfig{Interval: 20 * time.Millisecond, Instance: "i-0123456789abcdef0"})
	calls := waitCalls(t, cw, 2)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	first, second := calls[0], calls[1]
	if first.Namespace != "AWSKinesisAgent" {
		t.Errorf("namespace %q, want AWSKinesisAgent", first.Namespace)
	}
	if len(first.Datums) != 2*8+1 {
		t.Errorf("first call has %d datums, want 17 (8 per destination + CheckpointAge): %+v", len(first.Datums), first.Datums)
	}
	type want struct {
		name, dest, unit string
		value            float64
	}
	for _, w := range []want{
		{"RecordSendAttempts", "KinesisStream:logs", "Count", 15},
		{"RecordsSent", "KinesisStream:logs", "Count", 14},
		{"RecordSendErrors", "KinesisStream:logs", "Count", 1},
		{"BytesSent", "KinesisStream:logs", "Bytes", 950},
		{"ServiceErrors", "KinesisStream:logs", "Count", 0},
		{"ConsecutiveProcessingErrors", "logs", "Count", 2},
		{"BytesBehind", "KinesisStream:logs", "Bytes", 120},
		{"OldestUnsentRecordAge", "KinesisStream:logs", "Seconds", 7},
		{"RecordSendAttempts", "DeliveryStream:fh", "Count", 3},
		{"ServiceErrors", "DeliveryStream:fh", "Count", 1},
		{"ConsecutiveProcessingErrors", "fh", "Count", 0},
		{"CheckpointAge", "", "Seconds", 1.5},
	} {
		d := find(t, first.Datums, w.name, w.dest)
		if d.Unit != w.unit || d.Value != w.value {
			t.Errorf("first %s{Destination=%s} = %v %s, want %v %s", w.name, w.dest, d.Value, d.Unit, w.value, w.unit)
		}
	}
	for _, w := range []want{
		{"RecordSendAttempts", "KinesisStream:logs", "Count", 20},
		{"RecordsSent", "KinesisStream:logs", "Count", 20},
		{"RecordSendErrors", "KinesisStream:logs", "Count", 0},
		{"BytesSent", "KinesisStream:logs", "Bytes", 2000},
		{"ServiceErrors", "KinesisStream:logs", "Count", 2},
		{"RecordsSent", "DeliveryStream:fh", "Count", 3},
		{"BytesSent", "DeliveryStream:fh", "Bytes", 30},
		{"ServiceErrors", "DeliveryStream:fh", "Count", 0},
		{"BytesBehind", "KinesisStream:logs", "Bytes", 0},
		{"CheckpointAge", "", "Seconds", 0},
	} {
		d := find(t, second.Datums, w.name, w.dest)
		if d.Unit != w.unit || d.Value != w.value {
			t.Errorf("second %s{Destination=%s} = %v %s, want %v %s", w.name, w.dest, d.Value, d.Unit, w.value, w.unit)
		}
	}
	for _, c := range calls {
		for _, d := range c.Datums {
			wantDims := 2
			if d.Name == "CheckpointAge" {
				wantDims = 1
			}
			if d.Dims["Instance"] != "i-0123456789abcdef0" || len(d.Dims) != wantDims {
				t.Errorf("%s dimensions %v, want Instance (and Destination)", d.Name, d.Dims)
			}
			if d.Time.Before(start) || d.Time.After(time.Now()) {
				t.Errorf("%s timestamp %v not within the test", d.Name, d.Time)
			}
		}
	}
}

// manyDestinations is a snapshot with n Kinesis destinations named by name(i).
func manyDestinations(n int, name func(int) string) agent.Stats {
	s := agent.Stats{Started: time.Now()}
	for i := range n {
		s.Flows = append(s.Flows, agent.FlowStats{FilePattern: fmt.Sprintf("/f%d", i), Destination: name(i), RecordsSent: int64(i)})
	}
	return s
}

// TestPublisherBatchingAndCloseFlush: Close takes the figures and sends them although the interval
// never came; the datums are split into PutMetricData calls of at most 1,000 datums, and by
// size, each request under 1 MB.
func TestPublisherBatchingAndCloseFlush(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		cw := cwtest.NewServer(t)
		snap := manyDestinations(130, func(i int) string { return fmt.Sprintf("stream-%03d", i) }) // 130*8+1 = 1041 datums
		p := NewPublisher(cw.Client(), func() agent.Stats { return snap }, PublisherConfig{Interval: time.Hour, Namespace: "Custom/NS"})
		if got := cw.Calls(); len(got) != 0 {
			t.Fatalf("%d calls before Close with a 1h interval", len(got))
		}
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := cw.Calls()
		if len(got) != 2 || len(got[0].Datums) != 1000 || len(got[1].Datums) != 41 {
			t.Fatalf("calls: %d, datums %v; want 1000 then 41", len(got), datumCounts(got))
		}
		if got[0].Namespace != "Custom/NS" || p.Sent() != 1041 || p.Dropped() != 0 {
			t.Errorf("namespace %q, sent %d, dropped %d", got[0].Namespace, p.Sent(), p.Dropped())
		}
		if err := p.Close(context.Background()); err != nil || len(cw.Calls()) != 2 {
			t.Errorf("second Close = %v, calls %d", err, len(cw.Calls()))
		}
	})
	t.Run("size", func(t *testing.T) {
		cw := cwtest.NewServer(t)
		long := strings.Repeat("s", 1000) // long destination names: about 1.2 KB per datum
		snap := manyDestinations(100, func(i int) string { return fmt.Sprintf("%s-%03d", long, i) })
		p := NewPublisher(cw.Client(), func() agent.Stats { return snap }, PublisherConfig{Interval: time.Hour})
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := cw.Calls()
		total := 0
		for _, c := range got {
			total += len(c.Datums)
			if c.BodyBytes >= 1<<20 {
				t.Errorf("a request of %d bytes, over the 1 MB limit", c.BodyBytes)
			}
		}
		if len(got) < 2 || total != 801 {
			t.Errorf("%d calls (datums %v, %d in all), want at least 2 calls and 801 datums", len(got), datumCounts(got), total)
		}
	})
}

func datumCounts(calls []cwtest.Call) []int {
	var n []int
	for _, c := range calls {
		n = append(n, len(c.Datums))
	}
	return n
}

// TestPublisherFailures: a retryable failure keeps the datums for the next interval (bounded by
// the queue size, the oldest dropped), a refused batch is dropped, and Close gives up when its
// context ends while CloudWatch does not answer.
func TestPublisherFailures(t *testing.T) {
	snap := manyDestinations(1, func(int) string { return "logs" }) // 9 datums per interval
	t.Run("retry then bound", func(t *testing.T) {
		cw := cwtest.NewServer(t)
		var mu sync.Mutex
		down := true
		cw.SetAnswer(func(int) (int, string, bool) {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return http.StatusInternalServerError, "InternalServiceError", false
			}
			return 0, "", false
		})
		p := NewPublisher(cw.Client(), func() agent.Stats { return snap }, PublisherConfig{Interval: 10 * time.Millisecond, QueueSize: 20})
		waitCalls(t, cw, 4) // 4 intervals refused: 36 datums queued, 16 of them dropped
		mu.Lock()
		down = false
		mu.Unlock()
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if p.Dropped() < 16 || p.Sent() < 20 || p.Sent() > 29 {
			t.Errorf("sent %d, dropped %d: want the queue bound (20) kept across the outage", p.Sent(), p.Dropped())
		}
		last := cw.Calls()
		if n := len(last[len(last)-1].Datums); n == 0 || n > 29 {
			t.Errorf("the last call carried %d datums", n)
		}
	})
	t.Run("refused", func(t *testing.T) {
		cw := cwtest.NewServer(t)
		cw.SetAnswer(func(n int) (int, string, bool) {
			if n == 0 {
				return http.StatusBadRequest, "InvalidParameterValue", false
			}
			return 0, "", false
		})
		p := NewPublisher(cw.Client(), func() agent.Stats { return snap }, PublisherConfig{Interval: 10 * time.Millisecond})
		waitCalls(t, cw, 2)
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := cw.Calls()
		if p.Dropped() != 9 || len(got[1].Datums) != 9 {
			t.Errorf("dropped %d, second call %d datums: the refused batch must be dropped, not sent again", p.Dropped(), len(got[1].Datums))
		}
	})
	t.Run("close bounded", func(t *testing.T) {
		cw := cwtest.NewServer(t)
		cw.SetAnswer(func(int) (int, string, bool) { return 0, "", true })
		p := NewPublisher(cw.Client(), func() agent.Stats { return snap }, PublisherConfig{Interval: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := p.Close(ctx)
		if err == nil || time.Since(start) > 10*time.Second {
			t.Errorf("Close = %v after %v, want an error once its context ends", err, time.Since(start))
		}
		if p.Dropped() != 9 {
			t.Errorf("dropped %d, want the 9 datums left at Close", p.Dropped())
		}
	})
	t.Run("no agent", func(t *testing.T) {
		cw := cwtest.NewServer(t)
		p := NewPublisher(cw.Client(), func() agent.Stats { return agent.Stats{} }, PublisherConfig{Interval: time.Hour})
		if err := p.Close(context.Background()); err != nil || len(cw.Calls()) != 0 {
			t.Errorf("Close = %v, %d calls: nothing to send while no agent runs", err, len(cw.Calls()))
		}
	})
}
