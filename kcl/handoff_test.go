package kcl

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// newHandoffConsumer is a shard consumer with only what requestHandoff uses.
func newHandoffConsumer(t *testing.T, failover time.Duration, readyAt func() time.Time) *shardConsumer {
	ctx, cancel := context.WithCancel(t.Context())
	fetchCtx, stopFetch := context.WithCancel(ctx)
	t.Cleanup(cancel)
	c := &shardConsumer{
		w: &Worker{failover: failover}, shardID: "shardId-000000000000", log: slog.New(slog.DiscardHandler),
		ctx: ctx, cancel: cancel, fetchCtx: fetchCtx, stopFetch: stopFetch, readyAt: readyAt,
	}
	t.Cleanup(c.stopHandoffTimer)
	return c
}

// A hand-off request stops fetching at once when the requester can read the shard at once (polling, or
// no subscription yet), and otherwise only when fan-out's 5 s rule no longer refuses the requester's
// SubscribeToShard: the shard is processed here until then. A resubscription meanwhile moves that time;
// the wait never exceeds half the failover time. Worker.Shutdown's requestShutdown never waits.
func TestRequestHandoffWaitsForSubscribeWindow(t *testing.T) {
	const failover = 10 * time.Second
	synctest.Test(t, func(t *testing.T) {
		c := newHandoffConsumer(t, failover, nil)
		c.requestHandoff()
		synctest.Wait()
		if c.fetchCtx.Err() == nil {
			t.Error("polling: fetching goes on after a hand-off request")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c := newHandoffConsumer(t, failover, func() time.Time { return time.Time{} })
		c.requestHandoff()
		synctest.Wait()
		if c.fetchCtx.Err() == nil {
			t.Error("fan-out before any subscription: fetching goes on after a hand-off request")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		ready := time.Now().Add(3 * time.Second)
		c := newHandoffConsumer(t, failover, func() time.Time { return ready })
		c.requestHandoff()
		c.requestHandoff() // a second Changed signal changes nothing
		time.Sleep(3*time.Second - time.Millisecond)
		if c.fetchCtx.Err() != nil {
			t.Fatal("fetching stopped before the requester could subscribe")
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if c.fetchCtx.Err() == nil {
			t.Fatal("fetching goes on after the requester could subscribe")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var ready atomic.Int64 // read on the timer's goroutine
		ready.Store(start.Add(2 * time.Second).UnixNano())
		c := newHandoffConsumer(t, failover, func() time.Time { return time.Unix(0, ready.Load()) })
		c.requestHandoff()
		time.Sleep(time.Second)
		ready.Store(start.Add(4 * time.Second).UnixNano()) // resubscribed: the requester must wait longer
		time.Sleep(2 * time.Second)
		if c.fetchCtx.Err() != nil {
			t.Fatal("fetching stopped within 5 s of a resubscription")
		}
		ready.Store(start.Add(time.Hour).UnixNano()) // a window that would outlast the cap
		time.Sleep(failover/2 - 3*time.Second + time.Millisecond)
		synctest.Wait()
		if c.fetchCtx.Err() == nil {
			t.Fatalf("fetching goes on %v after the request, want at most failover/2 = %v", time.Since(start), failover/2)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		c := newHandoffConsumer(t, failover, func() time.Time { return time.Now().Add(3 * time.Second) })
		c.requestHandoff()
		c.requestShutdown() // Worker.Shutdown: at once
		if c.fetchCtx.Err() == nil {
			t.Error("requestShutdown waited for a pending hand-off")
		}
	})
}

// The fan-out retriever's ready time is 5 s (plus a margin) after its last accepted subscription.
func TestFanOutHandoffReadyAt(t *testing.T) {
	r := &fanOutRetriever{}
	if at := r.handoffReadyAt(); !at.IsZero() {
		t.Errorf("before any subscription: %v, want zero", at)
	}
	acc := time.Unix(1000, 0)
	r.accepted.Store(acc.UnixNano())
	if got, want := r.handoffReadyAt(), acc.Add(5*time.Second+handoffMargin); !got.Equal(want) {
		t.Errorf("ready at %v, want %v", got, want)
	}
}
