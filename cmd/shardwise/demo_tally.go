package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"
)

// demoEvent is the JSON data of every record the demo produces, from the kpl producer (src "kpl") or
// from the click-stream log the agent tails (src "agent"): a user, a click, the record's number within
// its source (per user for kpl, per log for the agent) and the time it was put, in microseconds.
type demoEvent struct {
	Src  string `json:"src"`
	User string `json:"user"`
	Page string `json:"page"`
	Seq  int64  `json:"seq"`
	T    int64  `json:"t"`
}

// id names a record uniquely across both sources.
func (e demoEvent) id() string {
	if e.Src == "kpl" {
		return fmt.Sprintf("kpl/%s/%d", e.User, e.Seq)
	}
	return fmt.Sprintf("%s/%d", e.Src, e.Seq)
}

// demoTally counts what the demo produced and what its consumer workers printed. It is safe for
// concurrent use: the producer, the log writer and one reader per worker feed it.
//
//   - lost: produced records never consumed.
//   - duplicates: consumptions beyond the first of a record (at-least-once: a killed worker's batch
//     that was printed but not checkpointed comes again from the next owner).
//   - order violations: a kpl record consumed for the first time after a later record of the same
//     user (the partition key). The agent's records have random partition keys, as the Kinesis
//     Agent's, so they promise no order and are not checked.
//   - latency: from the put time carried in the record to the moment its first consumption reached
//     the demo, for every record.
type demoTally struct {
	mu        sync.Mutex
	produced  map[string]struct{}
	bySrc     map[string]int
	failed    int            // records the producer could not deliver (not counted as produced)
	consumed  map[string]int // consumptions per record
	dups      int
	unknown   int // consumed records the demo never produced, or lines it could not read
	order     int
	lastSeq   map[string]int64 // per kpl user: highest seq consumed
	latencies []float64        // milliseconds, one per first consumption
	byWorker  map[string]int   // first consumptions per worker
	changed   chan struct{}    // cap 1: a record was consumed for the first time
}

func newDemoTally() *demoTally {
	return &demoTally{
		produced: map[string]struct{}{}, bySrc: map[string]int{}, consumed: map[string]int{},
		lastSeq: map[string]int64{}, byWorker: map[string]int{}, changed: make(chan struct{}, 1),
	}
}

// produce records e as put (before the put, so a fast consumer never sees it first).
func (t *demoTally) produce(e demoEvent) {
	t.mu.Lock()
	t.produced[e.id()] = struct{}{}
	t.bySrc[e.Src]++
	t.mu.Unlock()
}

// fail takes back a produced record whose put failed for good.
func (t *demoTally) fail(e demoEvent) {
	t.mu.Lock()
	if _, ok := t.produced[e.id()]; ok {
		delete(t.produced, e.id())
		t.bySrc[e.Src]--
		t.failed++
	}
	t.mu.Unlock()
}

// consumeLine takes one `shardwise consume --format jsonl` line printed by worker at time now.
func (t *demoTally) consumeLine(worker string, line []byte, now time.Time) {
	var rec struct {
		PartitionKey string `json:"partitionKey"`
		Data         []byte `json:"data"`
	}
	var e demoEvent
	if json.Unmarshal(line, &rec) != nil || json.Unmarshal(rec.Data, &e) != nil || e.Src == "" {
		t.mu.Lock()
		t.unknown++
		t.mu.Unlock()
		return
	}
	t.consume(worker, e, now)
}

func (t *demoTally) consume(worker string, e demoEvent, now time.Time) {
	id := e.id()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.produced[id]; !ok {
		t.unknown++
		return
	}
	t.consumed[id]++
	if t.consumed[id] > 1 {
		t.dups++
		return
	}
	if e.Src == "kpl" {
		if last, ok := t.lastSeq[e.User]; ok && e.Seq < last {
			t.order++
		} else {
			t.lastSeq[e.User] = e.Seq
		}
	}
	t.latencies = append(t.latencies, float64(now.UnixMicro()-e.T)/1000)
	t.byWorker[worker]++
	select {
	case t.changed <- struct{}{}:
	default:
	}
}

// demoCounts is a snapshot of the tally.
type demoCounts struct {
	Produced, Failed, Consumed, Lost, Duplicates, Unknown, OrderViolations int
	BySource, ByWorker                                                     map[string]int
	P50, P99                                                               float64 // milliseconds; NaN when nothing was consumed
}

func (t *demoTally) counts() demoCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := demoCounts{
		Produced: len(t.produced), Failed: t.failed, Consumed: len(t.consumed), Duplicates: t.dups,
		Unknown: t.unknown, OrderViolations: t.order, BySource: maps.Clone(t.bySrc), ByWorker: maps.Clone(t.byWorker),
	}
	c.Lost = c.Produced - c.Consumed
	lat := slices.Clone(t.latencies)
	slices.Sort(lat)
	c.P50, c.P99 = percentile(lat, 50), percentile(lat, 99)
	return c
}

// percentile returns the nearest-rank p-th percentile of sorted values, NaN for none.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// verdict is the demo's last line.
func (c demoCounts) verdict() string {
	return fmt.Sprintf("produced %d, consumed %d, lost %d, duplicates %d, order violations %d, put→process p50 %s ms p99 %s ms",
		c.Produced, c.Consumed, c.Lost, c.Duplicates, c.OrderViolations, fmtMillis(c.P50), fmtMillis(c.P99))
}

func fmtMillis(ms float64) string {
	if math.IsNaN(ms) {
		return "-"
	}
	if ms < 10 {
		return fmt.Sprintf("%.1f", ms)
	}
	return fmt.Sprintf("%.0f", ms)
}

// err says what broke the demo's promise: a record lost, out of per-key order, not delivered by the
// producer, or a consumed line that was no record of the demo.
func (c demoCounts) err() error {
	switch {
	case c.Lost > 0:
		return fmt.Errorf("%d of %d records lost", c.Lost, c.Produced)
	case c.OrderViolations > 0:
		return fmt.Errorf("%d records out of per-key order", c.OrderViolations)
	case c.Failed > 0:
		return fmt.Errorf("the producer failed to deliver %d records", c.Failed)
	case c.Unknown > 0:
		return fmt.Errorf("the workers printed %d lines that are no record of the demo", c.Unknown)
	case c.Produced == 0:
		return fmt.Errorf("nothing was produced")
	}
	return nil
}
