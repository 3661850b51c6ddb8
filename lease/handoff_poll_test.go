package lease_test

import (
	"testing"
	"testing/synctest"
	"time"
)

// handoffPoll is how often a requester reads a young request (the Coordinator's handoffPollInterval).
const handoffPoll = 50 * time.Millisecond

// With the default timing (renewals every 3.3 s, take rounds every 20 s), a requester reads its requested
// leases every 50 ms while the request is younger than the failover time, so a lease handed over is
// adopted within 50 ms (plus the read), not at the next slow check or take round.
func TestRequesterAdoptsHandoffWithinPoll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 4)
		a := startWorker(t, db, "a")
		a.c.DeferHandoffs()
		synctest.Wait()
		b := startWorker(t, db, "b")
		synctest.Wait() // b's first round: two requests
		time.Sleep(renewEvery + afterRounds)
		var requested []string
		for _, l := range a.c.Held() {
			if l.PendingOwner == "b" {
				requested = append(requested, l.Key)
			}
		}
		if len(requested) != 2 {
			t.Fatalf("a sees %d requests, want 2", len(requested))
		}
		time.Sleep(time.Millisecond) // off b's read ticks
		for _, k := range requested {
			if err := a.c.Release(t.Context(), k); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		for len(b.c.Held()) < 2 {
			if time.Since(start) > handoffPoll+afterRounds {
				t.Fatalf("b holds %d of the handed-over leases %v after the transfer, want both within %v",
					len(b.c.Held()), time.Since(start), handoffPoll)
			}
			time.Sleep(time.Millisecond)
		}
		checkExclusive(t, db, a, b)
	})
}

// A request the owner has not answered within the failover time (the owner died) is read at the slow
// cadence, min(RenewInterval, TakeInterval)/4, until the lease expires and is taken: the fast reads are
// for the hand-off that is about to happen.
func TestOldRequestReadSlowly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 4)
		a := startWorker(t, db, "a")
		a.c.DeferHandoffs()
		synctest.Wait()
		b := startWorker(t, db, "b")
		synctest.Wait() // b's first round: two requests
		a.kill()
		requestedAt := time.Now()

		time.Sleep(time.Second)
		young := db.Calls("GetItem")
		time.Sleep(time.Second)
		if n, min := db.Calls("GetItem")-young, 2*int(time.Second/handoffPoll)-2; n < min {
			t.Errorf("young requests: %d reads in 1 s, want at least %d (two leases every %v)", n, min, handoffPoll)
		}

		time.Sleep(failover - time.Since(requestedAt) + afterRounds)
		old := db.Calls("GetItem")
		const window = 5 * time.Second
		time.Sleep(window)
		slow := renewEvery / 4
		if n, max := db.Calls("GetItem")-old, 2*(int(window/slow)+1); n > max {
			t.Errorf("old requests: %d reads in %v, want at most %d (two leases every %v)", n, window, max, slow)
		}
		if len(b.c.Held()) != 0 {
			t.Fatalf("b holds %v before a's leases were taken as expired", heldKeys(b))
		}
	})
}
