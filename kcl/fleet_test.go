package kcl

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardwise/shardwise/lease"
)

// seen is a fleet-wide ledger: it records every delivered record (duplicates counted) and, per worker and
// shard, the sequence numbers each worker was handed. Its processors checkpoint each batch.
type seen struct {
	mu        sync.Mutex
	count     map[string]int                 // data -> deliveries
	delivered map[string]map[string][]string // worker -> shard -> sequence numbers delivered
}

func newSeen() *seen {
	return &seen{count: map[string]int{}, delivered: map[string]map[string][]string{}}
}

func (s *seen) factory(worker string) ProcessorFactory {
	return func(string) RecordProcessor {
		return procFunc(func(ctx context.Context, in ProcessRecordsInput) error {
			s.mu.Lock()
			if s.delivered[worker] == nil {
				s.delivered[worker] = map[string][]string{}
			}
			for _, r := range in.Records {
				s.count[string(r.Data)]++
				s.delivered[worker][in.ShardID] = append(s.delivered[worker][in.ShardID], r.Position.SequenceNumber)
			}
			s.mu.Unlock()
			return in.Checkpointer.Checkpoint(ctx, in.LastDelivered)
		})
	}
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

// uncheckpointed counts the records worker was handed on shard after checkpoint cp (fixed-width fake
// sequence numbers compare as strings).
func (s *seen) uncheckpointed(worker, shard, cp string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, seq := range s.delivered[worker][shard] {
		if cp == lease.TrimHorizon || seq > cp {
			n++
		}
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

// TestFleetBalancesFailsOverAndHandsOff runs the Step 4 fleet scenarios while records are written all
// along (one every 10 ms), with TakeInterval = RenewInterval/2 so that the bounds are reachable:
//   - a hard kill: the killed worker's shards are held elsewhere within failover + one renew interval;
//     duplicates are at most the records the killed worker was handed after its last checkpoint;
//   - a join: the newcomer holds its fair share within two take cycles (balance steals are graceful
//     handoffs: the owner finishes and checkpoints its batch, then transfers the lease), no duplicate;
//   - a graceful shutdown: its leases are held by the others within one take cycle, no duplicate.
func TestFleetBalancesFailsOverAndHandsOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			renew = testFailover / 3
			take  = renew / 2
		)
		e := newEnv(t, 8)
		e.workerOpts = []Option{RenewInterval(renew), TakeInterval(take)}
		s := newSeen()
		var (
			putMu sync.Mutex
			put   int
		)
		putOne := func() {
			putMu.Lock()
			e.kc.put(shardName(put%8), "k", fmt.Appendf(nil, "r%d", put))
			put++
			putMu.Unlock()
		}
		written := func() int {
			putMu.Lock()
			defer putMu.Unlock()
			return put
		}
		stopProducer := make(chan struct{})
		producerDone := make(chan struct{})
		go func() { // owned by the test: stopped and awaited below
			defer close(producerDone)
			tk := time.NewTicker(10 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stopProducer:
					return
				case <-tk.C:
					putOne()
				}
			}
		}()
		defer func() {
			select {
			case <-stopProducer:
			default:
				close(stopProducer)
			}
			<-producerDone
		}()
		dupsSince := func(before int, phase string) {
			t.Helper()
			if d := s.dups() - before; d != 0 {
				t.Errorf("%d duplicates during %s, want 0", d, phase)
			}
		}

		w1, w2, w3 := e.start("w1", s.factory("w1")), e.start("w2", s.factory("w2")), e.start("w3", s.factory("w3"))
		waitFor(t, 30*time.Second, "3 workers balanced", balanced(w1, w2, w3))
		waitFor(t, 10*time.Second, "records flowing", func() bool { return s.distinct() > 100 })
		dupsSince(0, "start-up and balancing")

		// Hard kill: w3's shards are held elsewhere within failover + one renew interval.
		dupsBefore := s.dups()
		killed := w3.w.Shards()
		w3.kill()
		start := time.Now()
		window := 0
		for _, k := range killed {
			l := e.lease(k) // w3 is dead: this is its last checkpoint
			window += s.uncheckpointed("w3", k, l.Checkpoint)
		}
		waitFor(t, testFailover+renew, "failover", balanced(w1, w2))
		t.Logf("failover of %d shards took %v (fake clock; bound %v)", len(killed), time.Since(start), testFailover+renew)
		waitFor(t, 10*time.Second, "records after failover", func() bool { return s.distinct() >= written()-16 })
		d := s.dups() - dupsBefore
		t.Logf("hard kill: %d duplicates, un-checkpointed window %d records", d, window)
		if d > window {
			t.Errorf("%d duplicates after the hard kill, want <= the un-checkpointed window %d", d, window)
		}
		dupsBefore = s.dups()

		// A fourth worker joins: fair share within two take cycles.
		w4 := e.start("w4", s.factory("w4"))
		start = time.Now()
		waitFor(t, 2*take, "rebalance after join", balanced(w1, w2, w4))
		t.Logf("rebalance after join took %v (fake clock; bound %v)", time.Since(start), 2*take)
		time.Sleep(2 * time.Second)

		// Graceful shutdown: w4's leases are held by the others within one take cycle.
		w4.shutdown(t)
		start = time.Now()
		waitFor(t, take, "hand-off after graceful shutdown", balanced(w1, w2))
		t.Logf("hand-off after graceful shutdown took %v (fake clock; bound %v)", time.Since(start), take)
		time.Sleep(2 * time.Second)

		close(stopProducer)
		<-producerDone
		total := written()
		waitFor(t, 10*time.Second, "every record", func() bool { return s.distinct() == total })
		synctest.Wait()
		dupsSince(dupsBefore, "join hand-offs and graceful shutdown")
		w1.shutdown(t)
		w2.shutdown(t)
	})
}

// TestBalanceStealIsAGracefulHandoff: when a joining worker steals for balance, the owner's processor
// gets Shutdown(Requested) after its batch in progress (it may checkpoint: recProc does), the worker
// hands the lease over, and the thief starts at that checkpoint: no ErrLeaseLost, no LeaseLost, no
// duplicate, even with the owner's processor busy in ProcessRecords when the request arrives.
func TestBalanceStealIsAGracefulHandoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		r1 := newRecorder()
		slow := func(string) RecordProcessor { return slowProc{&recProc{r: r1}} }
		w1 := e.start("w1", slow)
		waitFor(t, 10*time.Second, "w1 holding both shards", func() bool { return len(w1.w.Shards()) == 2 })
		for i := range 40 {
			e.kc.put(shardName(i%2), "k", fmt.Appendf(nil, "r%d", i))
		}
		waitFor(t, 10*time.Second, "first records", func() bool { return r1.total() > 0 })
		r2 := newRecorder()
		w2 := e.start("w2", r2.factory)
		// The bound for a join: two take cycles (the env's take interval is testFailover/3).
		// The hand-off itself needs the owner's next renewal (up to one renew interval after the
		// request, when the request and a renewal fall on the same instant) plus its batch in progress.
		waitFor(t, 2*testFailover/3, "w2 holding one shard", func() bool { return len(w2.w.Shards()) == 1 })
		for i := 40; i < 80; i++ {
			e.kc.put(shardName(i%2), "k", fmt.Appendf(nil, "r%d", i))
		}
		waitFor(t, 10*time.Second, "every record", func() bool { return r1.total()+r2.total() >= 80 })
		synctest.Wait()
		if n := r1.total() + r2.total(); n != 80 {
			t.Errorf("%d deliveries of 80 records, want each once", n)
		}
		moved := w2.w.Shards()[0]
		var ends []string
		for _, ev := range r1.eventList() {
			if strings.HasPrefix(ev, "end ") {
				ends = append(ends, ev)
			}
		}
		if want := []string{fmt.Sprintf("end %s %v", moved, Requested)}; !slices.Equal(ends, want) {
			t.Errorf("w1's processors ended with %v, want %v", ends, want)
		}
		r1.mu.Lock()
		if len(r1.ckErrs) != 0 {
			t.Errorf("w1's checkpoints failed: %v", r1.ckErrs)
		}
		r1.mu.Unlock()
		w1.shutdown(t)
		w2.shutdown(t)
	})
}

// slowProc takes 400 ms per batch, so a batch is in progress when a handoff request arrives.
type slowProc struct{ *recProc }

func (p slowProc) ProcessRecords(ctx context.Context, in ProcessRecordsInput) error {
	time.Sleep(400 * time.Millisecond)
	return p.recProc.ProcessRecords(ctx, in)
}
