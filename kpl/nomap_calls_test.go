package kpl

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardwise/shardwise/kinesistest"
)

// Without a shard map (DisableShardPrediction, or ListShards denied) two PutRecords calls go at
// once, and calls in flight together never carry a record of the same hash key: each key keeps its
// Put order, also when the later call is applied first and, with StrictOrdering, under failed
// entries. Keys repeat every 700 records, so two calls of 500 would share keys if nothing kept them
// apart; odd calls are held 20 ms and even ones 5 ms, so the second of two calls in flight is
// applied first. It fails when a call may take a key that is in flight (record 701 of key k0 is
// then stored before record 1), and when the producer keeps one call at a time (no overlap).
func TestNoMapCallsKeepKeyOrder(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "strict-with-failures"}[strict], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, 4)
				type span struct{ at, until time.Time }
				var mu sync.Mutex
				var spans []span
				e.onPut(func(call int, req kinesistest.Request) (kinesistest.Action, bool) {
					d := 5 * time.Millisecond
					if call%2 == 0 {
						d = 20 * time.Millisecond
					}
					now := time.Now()
					mu.Lock()
					spans = append(spans, span{now, now.Add(d)})
					mu.Unlock()
					act := kinesistest.Action{Delay: d}
					if strict && call < 8 {
						act.FailEntries = map[int]string{}
						for i := range req.Entries() {
							if i%7 == 3 {
								act.FailEntries[i] = codeInternalFailure
							}
						}
					}
					return act, true
				})
				opts := []Option{DisableShardPrediction(), RateLimit(0), Linger(time.Second),
					RetryBackoff(time.Millisecond, 10*time.Millisecond)}
				if strict {
					opts = append(opts, StrictOrdering())
				}
				p := mustNew(t, e.kc, opts...)
				const n = 3000
				futs := make([]*Future, 0, n)
				for i := 1; i <= n; i++ {
					futs = append(futs, p.PutAsync(context.Background(), rec("k"+strconv.Itoa(i%700), i)))
				}
				if err := p.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
				for _, fu := range futs {
					if _, err := fu.Wait(context.Background()); err != nil {
						t.Fatal(err)
					}
				}
				seen := checkOrder(t, e, false)
				if len(seen) != n {
					t.Errorf("%d distinct records stored, want %d", len(seen), n)
				}
				for d, c := range seen {
					if c != 1 {
						t.Errorf("record %s stored %d times", d, c)
					}
				}
				mu.Lock()
				defer mu.Unlock()
				most := 0
				for _, s := range spans {
					at := 0
					for _, o := range spans {
						if !o.at.After(s.at) && s.at.Before(o.until) {
							at++
						}
					}
					most = max(most, at)
				}
				t.Logf("%d calls, at most %d in flight at once", len(spans), most)
				if most != 2 {
					t.Errorf("at most %d calls in flight at once, want 2", most)
				}
			})
		})
	}
}

// Without a shard map the calls in flight are consecutive: while the oldest call is in flight, the
// call after it may complete, but no third call starts, so a record is never overtaken by records
// more than one call later. The call carrying the first record is held; the next one completes;
// nothing more is sent until the first is released, and what is sent then is stored after the first
// call's records. It fails when a call starts whenever fewer than two are in flight.
func TestNoMapCallsNeverOvertakeOlder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		release := make(chan struct{})
		var mu sync.Mutex
		callOf := map[int]int64{} // record index -> the call (Nth) that stored it
		var held int64
		e.onPut(func(call int, req kinesistest.Request) (kinesistest.Action, bool) {
			entries := req.Entries()
			mu.Lock()
			for _, en := range entries {
				_, idx, _ := strings.Cut(string(en.Data), ":")
				i, _ := strconv.Atoi(idx)
				callOf[i] = req.Nth
			}
			first := string(entries[0].Data) == "k1:1"
			if first {
				held = req.Nth
			}
			mu.Unlock()
			if first {
				return hold(req, release)
			}
			return kinesistest.Action{}, false
		})
		p := mustNew(t, e.kc, DisableShardPrediction(), RateLimit(0), Linger(time.Second))
		const n = 1500 // every record of its own key
		futs := make([]*Future, 0, n)
		for i := 1; i <= n; i++ {
			futs = append(futs, p.PutAsync(context.Background(), rec("k"+strconv.Itoa(i), i)))
		}
		time.Sleep(500 * time.Millisecond) // within Linger: only full calls go
		if got := e.callCount(); got != 2 {
			t.Errorf("%d calls made while the oldest is held, want 2 (the next one may pass it, no third)", got)
		}
		close(release)
		for _, fu := range futs {
			if _, err := fu.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.callCount(); got < 3 {
			t.Fatalf("%d calls, want at least 3", got)
		}
		mu.Lock()
		defer mu.Unlock()
		oldestDone, stored := false, 0
		for _, urs := range e.userRecords() { // one shard
			for _, u := range urs {
				_, idx, _ := strings.Cut(string(u.Data), ":")
				i, _ := strconv.Atoi(idx)
				stored++
				switch c := callOf[i]; {
				case c == held:
					if oldestDone {
						t.Fatalf("record %d of the held call stored after records of a call later than the next one", i)
					}
				case c > 2:
					oldestDone = true
				}
			}
		}
		if stored != n {
			t.Fatalf("%d records stored, want %d", stored, n)
		}
	})
}
