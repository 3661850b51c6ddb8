package kcl

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/lease"
)

// A GetRecords answer without NextShardIterator and without ChildShards, for a shard that is still
// open, is asked about once more before it counts as the end of the shard (the Java KCL's retry): the
// shard is not finished and records written later are delivered, also when it happens again later.
func TestNullIteratorWithoutChildrenRetriedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.kc.put(shardName(0), "k", []byte("r0"))
		e.kc.nullNext = func(id string, call int) bool { return call == 1 || call == 3 } // twice, not in a row
		rec := newRecorder()
		e.start("w1", rec.factory)
		waitFor(t, 20*time.Second, "r0", func() bool { return rec.total() == 1 })
		e.kc.put(shardName(0), "k", []byte("r1"))
		waitFor(t, 20*time.Second, "r1 after the null iterator", func() bool { return rec.total() == 2 })
		if l := e.lease(shardName(0)); l.Finished() {
			t.Errorf("lease checkpoint %q: an open shard was finished", l.Checkpoint)
		}
	})
}

// The same answer twice in a row is the end of the shard (engines that do not send ChildShards).
func TestNullIteratorTwiceIsShardEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.kc.put(shardName(0), "k", []byte("r0"))
		e.kc.nullNext = func(string, int) bool { return true }
		rec := newRecorder()
		e.start("w1", rec.factory)
		waitFor(t, 20*time.Second, "shard end", func() bool {
			l, err := e.manager("reader").Get(t.Context(), shardName(0))
			return err == nil && l.Checkpoint == lease.ShardEnd
		})
		if got := e.kc.getCalls(shardName(0)); len(got) != 2 {
			t.Errorf("%d GetRecords calls before shard end, want 2", len(got))
		}
	})
}

// Polling is paced by bytes and calls: an idle shard is polled every PollInterval (1.5 s by default,
// the Java KCL's idleTimeBetweenReadsInMillis), and after an answer of n bytes the next call waits
// n / 2 MiB/s, when Kinesis would throttle every read of the shard: 2 s after a 4 MiB answer (more
// than PollInterval; 5 s after a 10 MiB one, which costs the test seconds of JSON under -race).
func TestPollingPacedByBytesAndCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		// Four records of 1 MiB with their partition keys: one answer.
		const n, size = 4, 1<<20 - 1
		for range n {
			e.kc.put(shardName(0), "k", make([]byte, size))
		}
		rec := newRecorder()
		w := e.start("w1", rec.factory, PollInterval(DefaultPollInterval))
		waitFor(t, time.Minute, "4 records", func() bool { return rec.total() == n })
		time.Sleep(20 * time.Second)
		synctest.Wait()
		w.stop()
		big := e.kc.getCalls(shardName(0))
		if len(big) < 3 {
			t.Fatalf("%d calls", len(big))
		}
		if want := time.Duration(n * size * int64(time.Second) / (2 << 20)); big[1].Sub(big[0]) < want {
			t.Errorf("next call %v after a 4 MiB answer, want at least %v", big[1].Sub(big[0]), want)
		}
		idle := e.kc.getCalls(shardName(1))
		for i := 1; i < len(idle); i++ {
			if gap := idle[i].Sub(idle[i-1]); gap < DefaultPollInterval {
				t.Errorf("idle shard polled %v after the previous call, want at least %v", gap, DefaultPollInterval)
			}
		}
	})
}

// CatchUpInterval is opt-in: a shard behind the tip is polled at that interval; at the tip it goes
// back to PollInterval.
func TestCatchUpInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		for i := range 10 {
			e.kc.put(shardName(0), "k", fmt.Appendf(nil, "r%d", i))
		}
		time.Sleep(time.Second) // MillisBehindLatest reads the clock: unread records a second old
		rec := newRecorder()
		w := e.start("w1", rec.factory, PollInterval(DefaultPollInterval), CatchUpInterval(300*time.Millisecond), MaxRecordsPerPoll(2))
		waitFor(t, time.Minute, "10 records", func() bool { return rec.total() == 10 })
		time.Sleep(5 * time.Second)
		synctest.Wait()
		w.stop()
		calls := e.kc.getCalls(shardName(0))
		for i := 1; i < 5; i++ { // 5 answers of 2 records, behind the tip until the last one
			if gap := calls[i].Sub(calls[i-1]); gap != 300*time.Millisecond {
				t.Errorf("catching up: call %d %v after the previous one, want 300ms", i, gap)
			}
		}
		if gap := calls[len(calls)-1].Sub(calls[len(calls)-2]); gap < DefaultPollInterval {
			t.Errorf("at the tip: %v between calls, want %v", gap, DefaultPollInterval)
		}
	})
}

type dropRecorder struct {
	mu sync.Mutex
	ev []DroppedEvent
}

func (d *dropRecorder) OnRecordDropped(e DroppedEvent) {
	d.mu.Lock()
	d.ev = append(d.ev, e)
	d.mu.Unlock()
}

// Every sub-record dropped for lying outside the shard's range is reported on its own, with its
// position (and logged at Warn): never silent.
func TestDroppedSubRecordsReportedOneByOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 2)
		var low, high []string
		for i := 0; len(low) < 2 || len(high) < 2; i++ {
			k := fmt.Sprintf("key-%d", i)
			if aggregation.PartitionKeyHash(k)[0] < 0x80 {
				low = append(low, k)
			} else {
				high = append(high, k)
			}
		}
		seq := e.kc.put(shardName(0), "a", aggregate(t, low[0], high[0], low[1], high[1]))
		rec := newRecorder()
		d := &dropRecorder{}
		e.start("w1", rec.factory, WithHooks(d))
		waitFor(t, 20*time.Second, "2 records", func() bool { return rec.total() == 2 })
		synctest.Wait()
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.ev) != 2 {
			t.Fatalf("dropped events %+v, want 2", d.ev)
		}
		for i, ev := range d.ev {
			want := Position{SequenceNumber: seq, SubSequenceNumber: 2*i + 1}
			if ev.ShardID != shardName(0) || ev.Position != want || ev.PartitionKey != high[i] || ev.Reason == "" {
				t.Errorf("dropped %d = %+v, want %v %q", i, ev, want, high[i])
			}
		}
	})
}

// A lease at AT_TIMESTAMP (what a Java application started at a timestamp writes) adopted by a worker
// without StartAt(AtTimestamp(t)) is not read from TRIM_HORIZON: the time is in the application's
// configuration, so Run stops with ErrInvalidConfig saying what to configure, and nothing is delivered.
// With StartAt(AtTimestamp(t)) the shard is read from t.
func TestAtTimestampLeaseNeedsStartAtTimestamp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		e.kc.put(shardName(0), "k", []byte("old"))
		time.Sleep(time.Minute)
		from := time.Now()
		e.kc.put(shardName(0), "k", []byte("new"))
		if err := e.manager("java").Create(t.Context(), lease.Lease{Key: shardName(0), Checkpoint: lease.AtTimestamp}); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		r := e.start("w1", rec.factory)
		var err error
		select {
		case err = <-r.done:
			r.done <- err
		case <-time.After(time.Minute):
			t.Fatal("Run still running on an AT_TIMESTAMP lease without a timestamp")
		}
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "StartAt(AtTimestamp") {
			t.Fatalf("Run = %v, want ErrInvalidConfig naming StartAt(AtTimestamp(t))", err)
		}
		if rec.total() != 0 {
			t.Errorf("%d records delivered", rec.total())
		}

		rec2 := newRecorder()
		e.start("w2", rec2.factory, StartAt(AtTimestamp(from)))
		waitFor(t, time.Minute, "the record at the timestamp", func() bool { return rec2.total() == 1 })
		if got := rec2.get(shardName(0)); string(got[0].Data) != "new" {
			t.Errorf("delivered %q, want the record at the timestamp", got[0].Data)
		}
	})
}
