package kcl_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/lease"
)

// A worker joining a fan-out fleet right after the first worker subscribed requests one of its leases.
// The owner keeps processing the shard until Kinesis's 5 s rule (kinesistest enforces it) no longer
// refuses the requester's SubscribeToShard, then hands over: the requester subscribes once, is never
// refused, and every record is delivered exactly once. Lease defaults (failover 10 s); about 6 s.
func TestFanOutHandoffNotRefusedBySubscribeWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if testing.Short() {
			t.Skip("real-time hand-off (about 6 s)")
		}
		e := newEFOEnv(t)
		e.createStream("ho", 2)
		l := newLedger()
		var wg sync.WaitGroup
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(func() { cancel(); wg.Wait() })
		start := func(owner string) *kcl.Worker {
			m, err := lease.NewManager(e.db, "efo-app", owner)
			if err != nil {
				t.Fatal(err)
			}
			w, err := kcl.NewWorker(e.kc, m, "ho", l.factory, kcl.EnhancedFanOut("efo-app"), kcl.StartAt(kcl.TrimHorizon))
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				if err := w.Run(ctx); !errors.Is(err, context.Canceled) {
					t.Errorf("%s: Run = %v", owner, err)
				}
			})
			return w
		}
		w1 := start("w1")
		waitUntil(t, 20*time.Second, "w1 subscribed to both shards", func() bool {
			return len(w1.Shards()) == 2 && e.srv.Calls("SubscribeToShard") == 2
		})
		w2 := start("w2")
		put := 0
		waitUntil(t, 20*time.Second, "w2 reading the shard handed over", func() bool {
			for _, k := range []string{"a", "b", "c", "d"} {
				e.put("ho", k, []byte(fmt.Sprintf("%s-%05d", k, put)))
				put++
			}
			return len(w2.Shards()) == 1 && len(w1.Shards()) == 1 && e.srv.Calls("SubscribeToShard") >= 3
		})
		waitUntil(t, 20*time.Second, "every record", func() bool { return l.distinct() == put })
		if n := e.srv.Calls("SubscribeToShard"); n != 3 {
			t.Errorf("%d SubscribeToShard calls, want 3 (one per shard for w1, one for w2, none refused)", n)
		}
		if d := l.dups(); d != 0 {
			t.Errorf("%d records delivered twice, want 0 (graceful hand-off at the checkpoint)", d)
		}

	})
}
