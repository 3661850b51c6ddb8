package kcl

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

type allHooks struct {
	mu                        sync.Mutex
	streams                   map[string]bool // the Stream of every event
	processed, records, bytes int64
	behind                    map[string]int64
	current                   []int
	taken, ended              []string
}

func (h *allHooks) OnRecordsProcessed(e ProcessedEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams[e.Stream] = true
	h.processed++
	h.records += int64(e.Records)
	h.bytes += e.Bytes
}
func (h *allHooks) OnMillisBehindLatest(e BehindEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams[e.Stream] = true
	h.behind[e.ShardID] = e.MillisBehindLatest
}
func (h *allHooks) OnCurrentLeases(e CurrentLeasesEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams[e.Stream] = true
	h.current = append(h.current, e.Leases)
}
func (h *allHooks) OnShardStarted(e ShardEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams[e.Stream] = true
	h.taken = append(h.taken, e.ShardID)
}
func (h *allHooks) OnShardEnded(e ShardEndedEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams[e.Stream] = true
	h.ended = append(h.ended, e.ShardID)
}

func TestHooks(t *testing.T) {
	if _, err := newHooks("s", []Hook{42}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("newHooks(42) = %v, want ErrInvalidConfig", err)
	}
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		for i := range 6 {
			e.kc.put(shardName(i%2), "k", fmt.Appendf(nil, "rec%d", i)) // 4 bytes each
		}
		h := &allHooks{behind: map[string]int64{}, streams: map[string]bool{}}
		rec := newRecorder()
		r := e.start("w1", rec.factory, WithHooks(h))
		waitFor(t, 10*time.Second, "records", func() bool { return rec.total() == 6 })
		e.kc.split(shardName(1))
		waitFor(t, 10*time.Second, "shard end", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.ended) == 1 })
		synctest.Wait()
		r.shutdown(t)
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.records != 6 || h.bytes != 24 || h.processed < 2 {
			t.Errorf("processed hook: %d calls, %d records, %d bytes; want >=2, 6, 24", h.processed, h.records, h.bytes)
		}
		if len(h.behind) < 2 {
			t.Errorf("MillisBehindLatest reported for %v", h.behind)
		}
		if len(h.taken) < 2 || len(h.current) == 0 || h.current[len(h.current)-1] != 0 {
			t.Errorf("taken %v, current leases %v (last must be 0 after Shutdown)", h.taken, h.current)
		}
		if len(h.streams) != 1 || !h.streams["s"] {
			t.Errorf("events named the streams %v, want only \"s\"", h.streams)
		}
	})
}
