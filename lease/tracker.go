package lease

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// A tracker judges lease expiry from one observer's point of view, without comparing clocks across hosts:
// it remembers, for every lease key, the counter and owner it last saw and when (on this process's
// monotonic clock, time.Now) it first saw them. A lease is expired when it has an owner and its counter and
// owner have not changed for longer than the failover time. An unowned lease (new, released or evicted) is
// available at once.
//
// A lease seen for the first time counts as changed at that moment, so an observer that starts up waits
// one failover time before it judges any owned lease expired (as the Java KCL does). Because a change is
// only noticed at the next observation, a dead owner's lease is judged expired at most
// failover + (time between observations) after its last renewal.
//
// A tracker is safe for concurrent use.
type tracker struct {
	failover time.Duration

	mu   sync.Mutex
	seen map[string]observation
}

type observation struct {
	lease   Lease
	changed time.Time // when this observer first saw lease.Counter/lease.Owner; monotonic
}

// leaseState is a lease as a tracker sees it.
type leaseState struct {
	Lease Lease
	// Unchanged is how long the counter and owner have been seen unchanged by this observer.
	Unchanged time.Duration
	// Expired: owned, and unchanged for longer than the failover time.
	Expired bool
}

// Available reports whether the lease may be taken without stealing: unowned or expired.
func (s leaseState) Available() bool { return s.Lease.Owner == "" || s.Expired }

// newTracker returns a tracker with the given failover time (the lease duration).
func newTracker(failover time.Duration) *tracker {
	return &tracker{failover: failover, seen: map[string]observation{}}
}

// Observe records a complete List result as seen now. Leases missing from leases are forgotten (deleted).
func (t *tracker) Observe(leases []Lease) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	next := make(map[string]observation, len(leases))
	for _, l := range leases {
		o, ok := t.seen[l.Key]
		if !ok || o.lease.Counter != l.Counter || o.lease.Owner != l.Owner {
			o.changed = now
		}
		o.lease = l.clone()
		next[l.Key] = o
	}
	t.seen = next
}

// Expired reports whether the lease with key is owned and has not changed for longer than the failover
// time. Unknown keys are not expired.
func (t *tracker) Expired(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.seen[key]
	return ok && t.state(o, time.Now()).Expired
}

// Get returns the state of the lease with key as last observed.
func (t *tracker) Get(key string) (leaseState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.seen[key]
	if !ok {
		return leaseState{}, false
	}
	return t.state(o, time.Now()), true
}

// States returns every lease as last observed, judged now, sorted by key.
func (t *tracker) States() []leaseState {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]leaseState, 0, len(t.seen))
	for _, o := range t.seen {
		out = append(out, t.state(o, now))
	}
	slices.SortFunc(out, func(a, b leaseState) int { return cmp.Compare(a.Lease.Key, b.Lease.Key) })
	return out
}

func (t *tracker) state(o observation, now time.Time) leaseState {
	d := now.Sub(o.changed)
	return leaseState{Lease: o.lease.clone(), Unchanged: d, Expired: o.lease.Owner != "" && d > t.failover}
}
