package lease_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/lease"
)

// slowTable makes every request to db take latency and throttles a fraction of them (drawn from a seeded
// generator), with calls retried as the SDK client does (the Manager's own retryer); off() ends it.
func slowTable(db *fakeaws.DynamoDB, latency time.Duration, throttle float64, seed uint64) (throttled func() int, off func()) {
	var mu sync.Mutex // the hooks run under the fake's lock; throttled() reads from the test
	rng := rand.New(rand.NewPCG(seed, 1))
	n := 0
	db.SetRetries(true)
	db.SetLatency(func(fakeaws.Call) time.Duration { return latency })
	db.SetFaults(func(fakeaws.Call) error {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() < throttle {
			n++
			return fakeaws.Throttled()
		}
		return nil
	}, nil)
	return func() int {
			mu.Lock()
			defer mu.Unlock()
			return n
		}, func() {
			db.SetLatency(nil)
			db.SetFaults(nil, nil)
		}
}

// stallWatch samples the stored counter of every lease every 250 ms (straight from the fake, no
// latency) and reports the longest time a counter stayed unchanged: what another worker's Tracker
// judges expiry by.
func stallWatch(ctx context.Context, db *fakeaws.DynamoDB, keys []string) func() (string, time.Duration) {
	var mu sync.Mutex
	worstKey, worst := "", time.Duration(0)
	last := map[string]string{}
	since := map[string]time.Time{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			now := time.Now()
			for _, k := range keys {
				it := db.Item(table, k)
				c := ""
				if v, ok := it["leaseCounter"].(*types.AttributeValueMemberN); ok {
					c = v.Value
				}
				if c != last[k] || since[k].IsZero() {
					last[k], since[k] = c, now
				}
				mu.Lock()
				if d := now.Sub(since[k]); d > worst {
					worstKey, worst = k, d
				}
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() (string, time.Duration) {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return worstKey, worst
	}
}

// TestSlowThrottledTableKeepsLeases is the chaos suite's scenario d on the fake: every DynamoDB request
// takes 2 s and 20 % of them are throttled (and retried by the SDK), failover 10 s, three workers
// holding four leases and checkpointing each held lease as fast as the table lets them (as
// `shardwise consume` does after every batch). For three minutes no lease may be lost, change owner or
// go without a counter change for the failover time. Several seeds, so one lucky draw does not pass it.
func TestSlowThrottledTableKeepsLeases(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { testSlowThrottledTable(t, seed) })
		})
	}
}

func testSlowThrottledTable(t *testing.T, seed uint64) {
	db := newFake(t)
	const nLeases = 4
	createLeases(t, db, nLeases)
	var keys []string
	for i := range nLeases {
		keys = append(keys, fmt.Sprintf("shardId-%012d", i))
	}
	var ws []*worker
	for _, name := range []string{"a", "b", "c"} {
		ws = append(ws, startWorker(t, db, name, lease.TakeInterval(3*time.Second)))
	}
	time.Sleep(4 * takeEvery) // balance: 2/1/1
	if d := distribution(ws...); fmt.Sprint(d) != "[1 1 2]" {
		t.Fatalf("fleet not balanced before the faults: %v", d)
	}
	lostBefore, takenBefore := 0, 0
	for _, w := range ws {
		taken, _, lost := w.rec.counts()
		takenBefore, lostBefore = takenBefore+taken, lostBefore+lost
	}

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var cpMu sync.Mutex
	cpOK, cpErr := 0, 0
	for _, w := range ws {
		for _, k := range keys {
			wg.Go(func() { // one "shard consumer" per worker and lease: checkpoints while it holds it
				for i := 0; ctx.Err() == nil; i++ {
					if _, held := w.c.Lease(k); held {
						_, err := w.c.Checkpoint(ctx, k, strconv.Itoa(1000+i), 0)
						cpMu.Lock()
						if err == nil {
							cpOK++
						} else if ctx.Err() == nil {
							cpErr++
						}
						cpMu.Unlock()
					}
					select {
					case <-ctx.Done():
					case <-time.After(200 * time.Millisecond):
					}
				}
			})
		}
	}
	throttled, off := slowTable(db, 2*time.Second, 0.2, seed)
	watch := stallWatch(ctx, db, keys)
	time.Sleep(3 * time.Minute)
	cancel()
	wg.Wait()
	stallKey, stall := watch()
	off()

	lost, taken := 0, 0
	for _, w := range ws {
		tk, _, ls := w.rec.counts()
		taken, lost = taken+tk, lost+ls
		for _, e := range w.rec.lostEvents() {
			t.Logf("%s lost %s: %v", w.name, e.Lease.Key, e.Err)
		}
	}
	t.Logf("throttled %d calls; checkpoints %d ok, %d failed; longest counter stall %v (%s)", throttled(), cpOK, cpErr, stall, stallKey)
	if lost != lostBefore || taken != takenBefore {
		t.Errorf("with a slow, throttled table: %d leases lost, %d taken; want none", lost-lostBefore, taken-takenBefore)
	}
	if stall >= failover {
		t.Errorf("lease %s's counter unchanged for %v: other workers may take it (failover %v)", stallKey, stall, failover)
	}
	if cpOK == 0 {
		t.Error("no checkpoint succeeded")
	}
	checkExclusive(t, db, ws...)
}
