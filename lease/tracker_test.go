package lease

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestTrackerExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(10 * time.Second)
		owned := Lease{Key: "a", Owner: "w1", Counter: 5}
		unowned := Lease{Key: "b", Counter: 3}
		tr.Observe([]Lease{owned, unowned})

		// First sight counts as a change: an observer that just started never judges a lease expired.
		if tr.Expired("a") {
			t.Error("a lease seen for the first time is expired")
		}
		if st, _ := tr.Get("b"); !st.Available() || st.Expired {
			t.Errorf("unowned lease: %+v, want available at once and not expired", st)
		}

		time.Sleep(10 * time.Second)
		tr.Observe([]Lease{owned, unowned})
		if tr.Expired("a") {
			t.Error("expired after exactly the failover time; want strictly longer")
		}
		time.Sleep(time.Millisecond)
		if !tr.Expired("a") {
			t.Error("unchanged for longer than the failover time but not expired")
		}

		// A counter change (a renewal) makes it live again, measured from when this observer saw it.
		owned.Counter++
		tr.Observe([]Lease{owned, unowned})
		if st, _ := tr.Get("a"); st.Expired || st.Unchanged != 0 {
			t.Errorf("after a renewal: %+v", st)
		}
		// So does an owner change without a counter change (a Java KCL 3.x handoff).
		time.Sleep(11 * time.Second)
		owned.Owner = "w2"
		tr.Observe([]Lease{owned, unowned})
		if tr.Expired("a") {
			t.Error("owner change not treated as a change")
		}

		// Leases missing from a scan are forgotten; unknown keys are never expired.
		tr.Observe([]Lease{unowned})
		if _, ok := tr.Get("a"); ok || tr.Expired("a") {
			t.Error("a deleted lease is still tracked")
		}
		if got := len(tr.States()); got != 1 {
			t.Errorf("States() has %d entries, want 1", got)
		}
	})
}

// Expiry depends only on what this observer saw and its own monotonic clock: a lease renewed between two
// observations looks fresh, however long the owner's renewals took.
func TestTrackerUsesObservationTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := newTracker(10 * time.Second)
		l := Lease{Key: "a", Owner: "w", Counter: 1}
		tr.Observe([]Lease{l})
		time.Sleep(9 * time.Second)
		l.Counter = 2
		time.Sleep(9 * time.Second) // the change happened 9s ago, but this observer sees it only now
		tr.Observe([]Lease{l})
		time.Sleep(9 * time.Second)
		if tr.Expired("a") {
			t.Error("expired 9s after this observer first saw the counter")
		}
		time.Sleep(2 * time.Second)
		if !tr.Expired("a") {
			t.Error("not expired 11s after this observer first saw the counter")
		}
	})
}
