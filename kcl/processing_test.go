package kcl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/lease"
)

func TestProcessRecordsErrorRedeliversSameBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		for i := range 5 {
			e.kc.put(shardName(0), "k", fmt.Appendf(nil, "r%d", i))
		}
		rec := newRecorder()
		rec.failUntil = 3 // three failed deliveries, then success
		e.start("w1", rec.factory)
		waitFor(t, 20*time.Second, "5 records", func() bool { return rec.total() == 5 })
		got := rec.get(shardName(0))
		for i, r := range got {
			if string(r.Data) != fmt.Sprintf("r%d", i) {
				t.Fatalf("record %d = %q: batch skipped or reordered", i, r.Data)
			}
		}
		rec.mu.Lock()
		calls := rec.calls[shardName(0)]
		rec.mu.Unlock()
		if calls != 4 {
			t.Errorf("ProcessRecords calls = %d, want 4 (3 failures + 1)", calls)
		}
	})
}

type filterCounter struct{ n atomic.Int64 }

func (f *filterCounter) OnRecordsFiltered(e FilteredEvent) { f.n.Add(int64(e.Records)) }

func TestSubRecordsOutsideShardFilteredOneByOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		// Find keys for each half of the key space.
		var low, high []string
		for i := 0; len(low) < 3 || len(high) < 3; i++ {
			k := fmt.Sprintf("key-%d", i)
			if aggregation.PartitionKeyHash(k)[0] < 0x80 {
				low = append(low, k)
			} else {
				high = append(high, k)
			}
		}
		// An aggregate put to shard 0 (low half) holding 3 low and 3 high keys, interleaved.
		keys := []string{low[0], high[0], low[1], high[1], low[2], high[2]}
		e.kc.put(shardName(0), "a", aggregate(t, keys...))
		rec := newRecorder()
		fc := &filterCounter{}
		e.start("w1", rec.factory, WithHooks(fc))
		waitFor(t, 20*time.Second, "3 records", func() bool { return rec.total() == 3 })
		synctest.Wait()
		got := rec.get(shardName(0))
		for i, r := range got {
			if r.PartitionKey != low[i] || !r.Aggregated || r.Position.SubSequenceNumber != 2*i {
				t.Errorf("record %d = %q sub %d aggregated %v, want %q sub %d", i, r.PartitionKey, r.Position.SubSequenceNumber, r.Aggregated, low[i], 2*i)
			}
		}
		if fc.n.Load() != 3 {
			t.Errorf("filtered = %d, want 3", fc.n.Load())
		}
		// The checkpoint covers the filtered tail too? The processor checkpointed its last record (sub 4).
		if l := e.lease(shardName(0)); l.CheckpointSubSequence != 4 {
			t.Errorf("checkpoint sub = %d, want 4", l.CheckpointSubSequence)
		}
	})
}

func TestRestartSkipsCheckpointedSubRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		keys := []string{"a0", "a1", "a2", "a3", "a4"}
		seq := e.kc.put(shardName(0), "a", aggregate(t, keys...))
		e.kc.put(shardName(0), "after", []byte("after"))
		// A lease table as a previous worker left it: checkpoint at sub-record 2 of the aggregate.
		m := e.manager("old")
		if err := m.Create(t.Context(), lease.Lease{Key: shardName(0), Checkpoint: seq, CheckpointSubSequence: 2,
			StartingHashKey: "0", EndingHashKey: aggregation.MaxHashKey.String()}); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		e.start("w1", rec.factory)
		waitFor(t, 20*time.Second, "3 records", func() bool { return rec.total() == 3 })
		synctest.Wait()
		got := rec.get(shardName(0))
		var names []string
		for _, r := range got {
			names = append(names, string(r.Data))
		}
		if want := []string{"a3", "a4", "after"}; !slices.Equal(names, want) {
			t.Errorf("delivered %v, want %v", names, want)
		}
		if ev := rec.eventList(); len(ev) == 0 || ev[0] != fmt.Sprintf("init %s %s/2", shardName(0), seq) {
			t.Errorf("events %v: want init at the checkpoint", ev)
		}
	})
}

func TestShardEndCheckpointsAndStartsChildrenAfterParents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		for i := range 4 {
			e.kc.put(shardName(0), fmt.Sprintf("k%d", i), []byte("p0"))
			e.kc.put(shardName(1), fmt.Sprintf("k%d", i), []byte("p1"))
		}
		rec := newRecorder()
		e.start("w1", rec.factory)
		waitFor(t, 20*time.Second, "8 records", func() bool { return rec.total() == 8 })
		c1, c2 := e.kc.split(shardName(0))
		e.kc.put(c1, "x", []byte("child1"))
		e.kc.put(c2, "y", []byte("child2"))
		waitFor(t, 30*time.Second, "children's records", func() bool { return rec.total() == 10 })
		// Merge the two split children and shard 1? Only adjacent shards merge: c2 and shard 1.
		m := e.kc.merge(c2, shardName(1))
		e.kc.put(m, "z", []byte("merged"))
		waitFor(t, 30*time.Second, "merged child's record", func() bool { return rec.total() == 11 })
		synctest.Wait()

		ev := rec.eventList()
		idx := func(s string) int {
			i := slices.Index(ev, s)
			if i < 0 {
				t.Fatalf("event %q missing from %v", s, ev)
			}
			return i
		}
		parentEnd := idx("end " + shardName(0) + " ShardEnded")
		if idx("init "+c1+" TRIM_HORIZON") < parentEnd || idx("init "+c2+" TRIM_HORIZON") < parentEnd {
			t.Errorf("a child started before its parent ended: %v", ev)
		}
		mInit := idx("init " + m + " TRIM_HORIZON")
		if mInit < idx("end "+c2+" ShardEnded") || mInit < idx("end "+shardName(1)+" ShardEnded") {
			t.Errorf("merged child started before both parents ended: %v", ev)
		}
		for _, k := range []string{shardName(0), shardName(1), c2} {
			l := e.lease(k)
			if !l.Finished() || len(l.ChildShardIDs) == 0 {
				t.Errorf("lease %s: checkpoint %q children %v, want SHARD_END with children", k, l.Checkpoint, l.ChildShardIDs)
			}
		}
	})
}

type iterHooks struct{ expired, throttled atomic.Int64 }

func (h *iterHooks) OnExpiredIterator(ShardEvent)         { h.expired.Add(1) }
func (h *iterHooks) OnGetRecordsThrottled(ThrottledEvent) { h.throttled.Add(1) }

func TestExpiredIteratorResumesAfterLastFetched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		for i := range 3 {
			e.kc.put(shardName(0), "k", fmt.Appendf(nil, "r%d", i))
		}
		e.kc.getErr = func(_ string, call int) *kinesistest.Error {
			if call == 3 || call == 4 {
				return &kinesistest.Error{Code: kinesistest.CodeExpiredIterator, Message: "expired"}
			}
			return nil
		}
		rec := newRecorder()
		h := &iterHooks{}
		e.start("w1", rec.factory, WithHooks(h), MaxRecordsPerPoll(1))
		waitFor(t, 20*time.Second, "3 records", func() bool { return rec.total() == 3 })
		for i := 3; i < 6; i++ {
			e.kc.put(shardName(0), "k", fmt.Appendf(nil, "r%d", i))
		}
		waitFor(t, 20*time.Second, "6 records", func() bool { return rec.total() == 6 })
		synctest.Wait()
		for i, r := range rec.get(shardName(0)) {
			if string(r.Data) != fmt.Sprintf("r%d", i) {
				t.Fatalf("record %d = %q: lost or duplicated around the expired iterator", i, r.Data)
			}
		}
		if h.expired.Load() != 2 {
			t.Errorf("expired iterator hook = %d, want 2", h.expired.Load())
		}
	})
}

func TestThrottlingBacksOffAndStaysUnderFiveCallsPerSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		for i := range 50 {
			e.kc.put(shardName(0), "k", fmt.Appendf(nil, "r%d", i))
		}
		e.kc.getErr = func(_ string, call int) *kinesistest.Error {
			if call >= 2 && call <= 6 {
				return &kinesistest.Error{Code: kinesistest.CodeThroughputExceeded, Message: "slow down"}
			}
			return nil
		}
		rec := newRecorder()
		h := &iterHooks{}
		e.start("w1", rec.factory, WithHooks(h), MaxRecordsPerPoll(5))
		waitFor(t, 60*time.Second, "50 records", func() bool { return rec.total() == 50 })
		synctest.Wait()
		for i, r := range rec.get(shardName(0)) {
			if string(r.Data) != fmt.Sprintf("r%d", i) {
				t.Fatalf("record %d = %q", i, r.Data)
			}
		}
		if h.throttled.Load() != 5 {
			t.Errorf("throttled hook = %d, want 5", h.throttled.Load())
		}
		calls := e.kc.getCalls(shardName(0))
		for i := 5; i < len(calls); i++ {
			if d := calls[i].Sub(calls[i-5]); d < time.Second {
				t.Fatalf("calls %d..%d within %v: more than 5 GetRecords per second", i-5, i, d)
			}
		}
		// Backoff grows: the gap after the 5th consecutive throttle exceeds the one after the 1st.
		if g1, g5 := calls[2].Sub(calls[1]), calls[6].Sub(calls[5]); g5 <= g1 {
			t.Errorf("backoff did not grow: %v then %v", g1, g5)
		}
	})
}

func TestCorruptAggregateDeliveredAsOnePlainRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		bad := aggregate(t, "a", "b")
		bad[len(bad)-1] ^= 0xff // MD5 mismatch
		e.kc.put(shardName(0), "pk", bad)
		rec := newRecorder()
		e.start("w1", rec.factory)
		waitFor(t, 20*time.Second, "1 record", func() bool { return rec.total() == 1 })
		got := rec.get(shardName(0))[0]
		if got.Aggregated || got.PartitionKey != "pk" || string(got.Data) != string(bad) {
			t.Errorf("got %+v, want the raw record", got)
		}
	})
}

func TestCheckpointValidation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		s1 := e.kc.put(shardName(0), "k", []byte("1"))
		s2 := e.kc.put(shardName(0), "k", []byte("2"))
		type result struct {
			name string
			err  error
			want error
		}
		results := make(chan []result, 1)
		var once atomic.Bool
		proc := procFunc(func(ctx context.Context, in ProcessRecordsInput) error {
			if !once.CompareAndSwap(false, true) {
				return nil
			}
			cp := in.Checkpointer
			var rs []result
			check := func(name string, err, want error) { rs = append(rs, result{name, err, want}) }
			check("sentinel", cp.Checkpoint(ctx, TrimHorizon), ErrInvalidPosition)
			check("past delivered", cp.Checkpoint(ctx, Position{SequenceNumber: s2 + "0"}), ErrInvalidPosition)
			check("sub past delivered", cp.Checkpoint(ctx, Position{SequenceNumber: s2, SubSequenceNumber: 1}), ErrInvalidPosition)
			check("last", cp.Checkpoint(ctx, Position{SequenceNumber: s2}), nil)
			check("backwards", cp.Checkpoint(ctx, Position{SequenceNumber: s1}), ErrInvalidPosition)
			check("same again", cp.Checkpoint(ctx, Position{SequenceNumber: s2}), nil)
			check("shard end", cp.Checkpoint(ctx, ShardEnd), ErrInvalidPosition)
			results <- rs
			return nil
		})
		r := e.start("w1", func(string) RecordProcessor { return proc })
		var rs []result
		select {
		case rs = <-results:
		case <-time.After(20 * time.Second):
			t.Fatal("no batch")
		}
		for _, x := range rs {
			if !errors.Is(x.err, x.want) || (x.want == nil && x.err != nil) {
				t.Errorf("%s: Checkpoint = %v, want %v", x.name, x.err, x.want)
			}
		}
		if l := e.lease(shardName(0)); l.Checkpoint != s2 {
			t.Errorf("stored checkpoint %q, want %q", l.Checkpoint, s2)
		}
		// Another worker steals the lease: the next checkpoint says ErrLeaseLost.
		l := e.lease(shardName(0))
		thief := e.manager("thief")
		if _, err := thief.Take(t.Context(), l); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "lease loss noticed", func() bool { return len(r.w.Shards()) == 0 })
		proc.mu.Lock()
		cp := proc.last
		proc.mu.Unlock()
		if err := cp.Checkpoint(t.Context(), Position{SequenceNumber: s2}); !errors.Is(err, ErrLeaseLost) && !errors.Is(err, ErrInvalidPosition) {
			t.Errorf("checkpoint after loss = %v, want ErrLeaseLost", err)
		}
		if err := cp.(*shardCheckpointer).coord.Release(t.Context(), shardName(0)); !errors.Is(err, ErrLeaseLost) {
			t.Errorf("release after loss = %v", err)
		}
		_ = strings.Contains
	})
}
