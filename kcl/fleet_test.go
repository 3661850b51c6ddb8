package kcl

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// dedupe is a fleet-wide processor: it records every delivered record (duplicates counted) and
// checkpoints each batch.
type seen struct {
	mu    sync.Mutex
	count map[string]int // data -> deliveries
}

func (s *seen) factory(string) RecordProcessor {
	return procFunc(func(ctx context.Context, in ProcessRecordsInput) error {
		s.mu.Lock()
		for _, r := range in.Records {
			s.count[string(r.Data)]++
		}
		s.mu.Unlock()
		return in.Checkpointer.(*ShardCheckpointer).CheckpointLast(ctx)
	})
}

func (s *seen) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.count)
}

func (s *seen) dups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.count {
		n += c - 1
	}
	return n
}

func balanced(ws ...*running) func() bool {
	return func() bool {
		lo, hi := 1<<30, 0
		total := 0
		for _, w := range ws {
			n := len(w.w.Shards())
			lo, hi, total = min(lo, n), max(hi, n), total+n
		}
		return total == 8 && hi-lo <= 1
	}
}

func TestFleetBalancesFailsOverAndHandsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 8)
		s := &seen{count: map[string]int{}}
		put := 0
		putSome := func(n int) {
			for range n {
				e.kc.put(shardName(put%8), "k", fmt.Appendf(nil, "r%d", put))
				put++
			}
		}
		// Steals while records are in flight duplicate the victim's un-checkpointed batch (at-least-once,
		// as in the Java KCL), so let the fleet settle before the first records.
		w1, w2, w3 := e.start("w1", s.factory), e.start("w2", s.factory), e.start("w3", s.factory)
		waitFor(t, 30*time.Second, "3 workers balanced", balanced(w1, w2, w3))
		putSome(80)
		waitFor(t, 30*time.Second, "first records", func() bool { return s.distinct() == put })
		if d := s.dups(); d != 0 {
			t.Fatalf("%d duplicates before any failure", d)
		}

		// Hard kill: w3's shards resume elsewhere within failover + one take interval (+ a poll).
		killed := w3.w.Shards()
		w3.kill()
		putSome(80)
		start := time.Now()
		waitFor(t, testFailover+testFailover/3+2*time.Second, "failover", balanced(w1, w2))
		t.Logf("failover of %d shards took %v (fake clock)", len(killed), time.Since(start))
		waitFor(t, 10*time.Second, "records after failover", func() bool { return s.distinct() == put })

		// A fourth worker joins: fair share (2 each) within two take cycles.
		w4 := e.start("w4", s.factory)
		start = time.Now()
		waitFor(t, 2*testFailover/3+time.Second, "rebalance after join", balanced(w1, w2, w4))
		t.Logf("rebalance after join took %v (fake clock)", time.Since(start))
		putSome(80)
		waitFor(t, 10*time.Second, "records after join", func() bool { return s.distinct() == put })

		// Graceful shutdown: w4's leases are taken within one take cycle, without duplicates.
		dupsBefore := s.dups()
		w4.shutdown(t)
		start = time.Now()
		waitFor(t, testFailover/3+time.Second, "hand-off after graceful shutdown", balanced(w1, w2))
		t.Logf("hand-off after graceful shutdown took %v (fake clock)", time.Since(start))
		putSome(80)
		waitFor(t, 10*time.Second, "records after hand-off", func() bool { return s.distinct() == put })
		synctest.Wait()
		if d := s.dups() - dupsBefore; d != 0 {
			t.Errorf("%d duplicates after graceful shutdown, want 0", d)
		}
		w1.shutdown(t)
		w2.shutdown(t)
	})
}
