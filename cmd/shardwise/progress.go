package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// defaultStatsInterval is the --stats-interval default of tail and consume.
const defaultStatsInterval = 5 * time.Second

// progressInterval is how often a live progress line is redrawn.
const progressInterval = 500 * time.Millisecond

// progressSample is what put and bench show in their live progress line, counted from the start.
type progressSample struct {
	at       time.Time
	records  int64 // records delivered
	bytes    int64
	failed   int64
	buffered int64 // records held by the producer, not resolved yet; -1 when reading (no producer)
}

// formatProgress is the live progress line: totals, rates over the last interval (prev to cur),
// failures and what the producer holds.
func formatProgress(label string, prev, cur progressSample) string {
	dt := cur.at.Sub(prev.at).Seconds()
	var rate, mb float64
	if dt > 0 {
		rate = float64(cur.records-prev.records) / dt
		mb = float64(cur.bytes-prev.bytes) / 1e6 / dt
	}
	line := fmt.Sprintf("%s%d records, %.0f records/s, %.2f MB/s", label, cur.records, rate, mb)
	if cur.buffered < 0 { // reading: nothing can fail or wait in a producer
		return line
	}
	return line + fmt.Sprintf(", %d failed, %d buffered", cur.failed, cur.buffered)
}

// startProgressLine redraws formatProgress in place on w (a terminal) every progressInterval until
// stopped; stop erases the line, so the summary that follows stands alone, and waits for the
// goroutine.
func startProgressLine(w io.Writer, label string, sample func() progressSample) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		prev := sample()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				cur := sample()
				fmt.Fprint(w, "\r\033[K"+formatProgress(label, prev, cur))
				prev = cur
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// shardStats counts, per shard, the records and bytes a tail or consume run printed and the last
// MillisBehindLatest its reads reported, for --stats. Its methods are safe for concurrent use and
// do nothing on a nil *shardStats (no --stats).
type shardStats struct {
	mu     sync.Mutex
	shards map[string]shardCount
}

// shardCount is one shard's figures.
type shardCount struct {
	records, bytes int64
	behindMs       int64 // -1: not reported yet
}

func newShardStats() *shardStats { return &shardStats{shards: map[string]shardCount{}} }

func (s *shardStats) get(shard string) shardCount {
	c, ok := s.shards[shard]
	if !ok {
		c.behindMs = -1
	}
	return c
}

// printed counts n records of the shard, bytes of data in all.
func (s *shardStats) printed(shard string, n int, bytes int) {
	if s == nil {
		return
	}
	s.mu.Lock()
	c := s.get(shard)
	c.records += int64(n)
	c.bytes += int64(bytes)
	s.shards[shard] = c
	s.mu.Unlock()
}

// behind notes the shard's MillisBehindLatest.
func (s *shardStats) behind(shard string, ms int64) {
	if s == nil {
		return
	}
	s.mu.Lock()
	c := s.get(shard)
	c.behindMs = ms
	s.shards[shard] = c
	s.mu.Unlock()
}

func (s *shardStats) snapshot() map[string]shardCount {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.shards)
}

// formatShardStats is one --stats line: the rates over the last interval (prev to cur, dt apart) in
// all, then per shard in shard order its rate and lag (MillisBehindLatest; "-" before any read
// reported it).
func formatShardStats(label string, prev, cur map[string]shardCount, dt time.Duration) string {
	var b strings.Builder
	secs := dt.Seconds()
	rate := func(now, before int64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(now-before) / secs
	}
	var recs, bytes, precs, pbytes int64
	for id, c := range cur {
		recs, bytes = recs+c.records, bytes+c.bytes
		precs, pbytes = precs+prev[id].records, pbytes+prev[id].bytes
	}
	fmt.Fprintf(&b, "%s%d records, %.0f records/s, %.2f MB/s", label, recs, rate(recs, precs), rate(bytes, pbytes)/1e6)
	for _, id := range slices.Sorted(maps.Keys(cur)) {
		c := cur[id]
		lag := "-"
		if c.behindMs >= 0 {
			lag = (time.Duration(c.behindMs) * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "; %s %.0f records/s, lag %s", id, rate(c.records, prev[id].records), lag)
	}
	return b.String()
}

// startShardStats writes a formatShardStats line to w every interval until stopped (lines, not
// redrawn: stderr also carries the logs).
func startShardStats(w io.Writer, label string, every time.Duration, s *shardStats) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		prev, last := s.snapshot(), time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				cur := s.snapshot()
				fmt.Fprintln(w, formatShardStats(label, prev, cur, now.Sub(last)))
				prev, last = cur, now
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
