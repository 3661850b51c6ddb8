package lease_test

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardwise/shardwise/lease"
)

// The graceful handoff of a balance steal: RequestHandoff records the requester without moving the
// counter (the owner's renewals and checkpoints go on), Handoff transfers the lease conditionally.
func TestManagerRequestHandoffAndHandoff(t *testing.T) {
	db := newFake(t)
	owner, thief, other := newManager(t, db, "owner"), newManager(t, db, "thief"), newManager(t, db, "other")
	ctx := t.Context()
	mustCreate(t, owner, "s")
	l, err := owner.Take(ctx, mustGet(t, owner, "s"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := thief.RequestHandoff(ctx, l); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, thief, "s")
	if got.Owner != "owner" || got.PendingOwner != "thief" || got.Counter != l.Counter {
		t.Fatalf("after the request: %+v, want owner kept, pending thief, counter %d", got, l.Counter)
	}
	if _, err := other.RequestHandoff(ctx, got); !errors.Is(err, lease.ErrConflict) {
		t.Errorf("second request: %v, want ErrConflict", err)
	}
	if _, err := thief.RequestHandoff(ctx, lease.Lease{Key: "s", Owner: "owner", Counter: l.Counter - 1}); !errors.Is(err, lease.ErrConflict) {
		t.Errorf("request on a stale copy: %v, want ErrConflict", err)
	}
	// The owner keeps working: renew (the copy carries the request) and checkpoint.
	l, err = owner.Renew(ctx, l)
	if err != nil || l.PendingOwner != "thief" {
		t.Fatalf("renew after the request: %+v, %v", l, err)
	}
	if l, err = owner.Checkpoint(ctx, l, "42", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := thief.Handoff(ctx, l); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("handoff by a non-owner: %v, want ErrLeaseLost", err)
	}
	nl, err := owner.Handoff(ctx, l)
	if err != nil {
		t.Fatal(err)
	}
	if nl.Owner != "thief" || nl.PendingOwner != "" || nl.Counter != l.Counter+1 || nl.Checkpoint != "42" ||
		nl.CheckpointSubSequence != 3 || nl.OwnerSwitchesSinceCheckpoint != 1 {
		t.Errorf("after the handoff: %+v", nl)
	}
	if _, err := owner.Renew(ctx, l); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("old owner's renewal: %v, want ErrLeaseLost", err)
	}
	// A request left by a dead requester is cleared by a take.
	if _, err := other.RequestHandoff(ctx, nl); err != nil {
		t.Fatal(err)
	}
	tl, err := owner.Take(ctx, mustGet(t, owner, "s"))
	if err != nil || tl.PendingOwner != "" {
		t.Errorf("take over a pending request: %+v, %v", tl, err)
	}
}

// A Coordinator that defers handoffs signals the request, keeps the lease until its user releases it
// (which hands it over), and the requester adopts it well within a take interval.
func TestDeferredHandoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 4)
		a := startWorker(t, db, "a")
		a.c.DeferHandoffs()
		synctest.Wait()
		if got := len(a.c.Held()); got != 4 {
			t.Fatalf("a holds %d, want 4", got)
		}
		<-a.c.Changed()
		b := startWorker(t, db, "b")
		synctest.Wait() // b's first round: two requests
		time.Sleep(renewEvery + afterRounds)
		select {
		case <-a.c.Changed():
		default:
			t.Fatal("a was not told about the requests")
		}
		var requested []string
		for _, l := range a.c.Held() {
			if l.PendingOwner != "" {
				if l.PendingOwner != "b" {
					t.Errorf("lease %s requested by %q", l.Key, l.PendingOwner)
				}
				requested = append(requested, l.Key)
			}
		}
		if len(requested) != 2 || len(a.c.Held()) != 4 || len(b.c.Held()) != 0 {
			t.Fatalf("requested %v; a holds %d, b %d: want 2 requested, a still holding all 4", requested, len(a.c.Held()), len(b.c.Held()))
		}
		start := time.Now()
		for _, k := range requested {
			if _, err := a.c.Checkpoint(t.Context(), k, "7", 0); err != nil {
				t.Fatal(err)
			}
			if err := a.c.Release(t.Context(), k); err != nil {
				t.Fatal(err)
			}
		}
		for len(b.c.Held()) < 2 {
			time.Sleep(10 * time.Millisecond)
		}
		// b checks its requests every min(RenewInterval, TakeInterval)/4; +10ms: this loop's polling.
		if el, limit := time.Since(start), renewEvery/4+10*time.Millisecond; el > limit {
			t.Errorf("b adopted the handed-over leases after %v, want <= %v", el, limit)
		}
		got := heldKeys(b)
		slices.Sort(requested)
		if !slices.Equal(got, requested) {
			t.Errorf("b holds %v, want %v", got, requested)
		}
		for _, l := range b.c.Held() {
			if l.Checkpoint != "7" {
				t.Errorf("b's %s starts at %q, want the checkpoint written before the handoff", l.Key, l.Checkpoint)
			}
		}
		if _, _, lost := a.rec.counts(); lost != 0 {
			t.Errorf("a lost %d leases, want 0 (handed over)", lost)
		}
		if _, stolen, _ := b.rec.counts(); stolen != 2 {
			t.Errorf("b stole %d, want 2", stolen)
		}
		checkExclusive(t, db, a, b)
		time.Sleep(3 * takeEvery) // balanced: nothing moves
		if got := distribution(a, b); !slices.Equal(got, []int{2, 2}) {
			t.Errorf("distribution %v, want [2 2]", got)
		}
	})
}

// A request the owner does not honour within the failover time is honoured by its Coordinator at a
// renewal; a request to a dead owner ends with the lease taken as expired.
func TestDeferredHandoffFallbacks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 4)
		a := startWorker(t, db, "a")
		a.c.DeferHandoffs()
		synctest.Wait()
		b := startWorker(t, db, "b")
		synctest.Wait()
		time.Sleep(failover + 2*renewEvery + renewEvery/4 + afterRounds)
		if got := distribution(a, b); !slices.Equal(got, []int{2, 2}) {
			t.Fatalf("unhonoured requests: distribution %v after failover + 2 renewals, want [2 2]", got)
		}
		checkExclusive(t, db, a, b)

		c := startWorker(t, db, "c") // requests one of a's or b's leases
		synctest.Wait()
		a.kill()
		b.c.DeferHandoffs()
		time.Sleep(failover + 2*takeEvery + afterRounds)
		if got := len(a.c.Held()) + len(b.c.Held()) + len(c.c.Held()); got != 4 {
			t.Fatalf("%d leases held after a died", got)
		}
		m := newManager(t, db, "observer")
		ls, err := m.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			if l.Owner == "a" {
				t.Errorf("lease %s still owned by the dead a: %+v", l.Key, l)
			}
		}
	})
}

// A worker shutting down withdraws its pending requests, so no lease is handed to a worker that is gone.
func TestReleaseAllWithdrawsRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 4)
		a := startWorker(t, db, "a")
		a.c.DeferHandoffs()
		synctest.Wait()
		b := startWorker(t, db, "b")
		synctest.Wait() // b's first round: two requests, not honoured by a
		if err := b.c.ReleaseAll(t.Context()); err != nil {
			t.Fatal(err)
		}
		m := newManager(t, db, "observer")
		ls, err := m.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			if l.PendingOwner != "" || l.Owner != "a" {
				t.Errorf("after b's ReleaseAll: %+v, want owned by a, no request", l)
			}
		}
		b.kill()
		time.Sleep(failover + 2*renewEvery)
		if got := len(a.c.Held()); got != 4 {
			t.Errorf("a holds %d, want 4", got)
		}
	})
}
