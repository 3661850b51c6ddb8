package main

import (
	"context"
	"math/big"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// leaseState is one lease as the monitor last read it.
type leaseState struct {
	owner      string
	counter    string
	checkpoint string
}

// ownerChange is a lease moving from one owner to another ("" = none), seen at t.
type ownerChange struct {
	shard, from, to string
	at              time.Time
}

// leaseMonitor scans a lease table directly (not through any proxy) every interval and records
// owner changes and checkpoint regressions (a checkpoint sequence number going back: a stale
// write landed).
type leaseMonitor struct {
	db    *dynamodb.Client
	table string

	mu          sync.Mutex
	leases      map[string]leaseState
	changes     []ownerChange
	regressions int
	scanErrs    int
	onScan      func() // called after each scan (the failover tracker's update)

	// Expiry: an owned, open lease whose counter has not changed for expireAfter is expired (any
	// other worker may take it), whoever owns it; the lease table's own definition of a lost lease.
	expireAfter  time.Duration // 0: not tracked
	counterAt    map[string]time.Time
	expired      map[string]bool // in a stall already counted
	expiries     []ownerChange   // from: the owner whose lease expired
	longestStall time.Duration
}

func newLeaseMonitor(db *dynamodb.Client, table string) *leaseMonitor {
	return &leaseMonitor{db: db, table: table, leases: map[string]leaseState{}, counterAt: map[string]time.Time{}, expired: map[string]bool{}}
}

// run scans until ctx ends.
func (m *leaseMonitor) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		m.scan(ctx)
		if m.onScan != nil {
			m.onScan()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *leaseMonitor) scan(ctx context.Context) {
	got := map[string]leaseState{}
	var start map[string]types.AttributeValue
	for {
		out, err := m.db.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(m.table), ConsistentRead: aws.Bool(true), ExclusiveStartKey: start})
		if err != nil {
			m.mu.Lock()
			m.scanErrs++
			m.mu.Unlock()
			return
		}
		for _, it := range out.Items {
			got[str(it["leaseKey"])] = leaseState{owner: str(it["leaseOwner"]), counter: num(it["leaseCounter"]), checkpoint: str(it["checkpoint"])}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		start = out.LastEvaluatedKey
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for shard, st := range got {
		old, ok := m.leases[shard]
		if ok && old.owner != st.owner {
			m.changes = append(m.changes, ownerChange{shard: shard, from: old.owner, to: st.owner, at: now})
		}
		if ok && seqLess(st.checkpoint, old.checkpoint) {
			m.regressions++
		}
		if !ok || old.counter != st.counter {
			m.counterAt[shard] = now
			m.expired[shard] = false
		} else if m.expireAfter > 0 && st.owner != "" && st.checkpoint != "SHARD_END" {
			stall := now.Sub(m.counterAt[shard])
			m.longestStall = max(m.longestStall, stall)
			if stall >= m.expireAfter && !m.expired[shard] {
				m.expired[shard] = true
				m.expiries = append(m.expiries, ownerChange{shard: shard, from: st.owner, at: now})
			}
		}
		m.leases[shard] = st
	}
}

// trackExpiries makes the monitor count leases expiring (counter unchanged for failover) from now
// on, and returns a function giving the expiries seen and the longest counter stall since.
func (m *leaseMonitor) trackExpiries(failover time.Duration) func() ([]ownerChange, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireAfter = failover
	m.expiries, m.longestStall = nil, 0
	return func() ([]ownerChange, time.Duration) {
		m.mu.Lock()
		defer m.mu.Unlock()
		return append([]ownerChange(nil), m.expiries...), m.longestStall
	}
}

// seqLess reports whether sequence number a < b; sentinels (TRIM_HORIZON, SHARD_END, ...) compare
// as nothing.
func seqLess(a, b string) bool {
	x, ok1 := new(big.Int).SetString(a, 10)
	y, ok2 := new(big.Int).SetString(b, 10)
	return ok1 && ok2 && x.Cmp(y) < 0
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func num(v types.AttributeValue) string {
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return ""
}

// snapshot returns the leases last read.
func (m *leaseMonitor) snapshot() map[string]leaseState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]leaseState, len(m.leases))
	for k, v := range m.leases {
		out[k] = v
	}
	return out
}

// changesSince returns the owner changes seen at or after t.
func (m *leaseMonitor) changesSince(t time.Time) []ownerChange {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ownerChange
	for _, c := range m.changes {
		if !c.at.Before(t) {
			out = append(out, c)
		}
	}
	return out
}

// owned counts the open (not SHARD_END) leases of each owner.
func (m *leaseMonitor) owned() map[string]int {
	out := map[string]int{}
	for _, st := range m.snapshot() {
		if st.checkpoint != "SHARD_END" && st.owner != "" {
			out[st.owner]++
		}
	}
	return out
}

func (m *leaseMonitor) regressionCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.regressions
}

// failoverTracker turns the deaths of owners (a kill, a cut link) into failover times: the time
// from a death to the moment each lease the dead owner held was seen with another owner.
type failoverTracker struct {
	mu      sync.Mutex
	pending map[string]time.Time // shard -> death of its owner, not yet taken over
	longest time.Duration
	taken   int
}

func newFailoverTracker() *failoverTracker {
	return &failoverTracker{pending: map[string]time.Time{}}
}

// died notes that owner stopped at t; its open leases in m must move.
func (f *failoverTracker) died(m *leaseMonitor, owner string, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for shard, st := range m.snapshot() {
		if st.owner == owner && st.checkpoint != "SHARD_END" {
			if _, ok := f.pending[shard]; !ok {
				f.pending[shard] = t
			}
		}
	}
}

// update resolves pending take-overs from the monitor's current view: a pending shard whose owner is
// now someone alive (not in dead) or whose lease ended is done.
func (f *failoverTracker) update(m *leaseMonitor, dead func(owner string) bool) {
	snap := m.snapshot()
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for shard, t := range f.pending {
		st, ok := snap[shard]
		if !ok {
			continue
		}
		if st.checkpoint == "SHARD_END" {
			delete(f.pending, shard)
			continue
		}
		if st.owner != "" && !dead(st.owner) {
			if d := now.Sub(t); d > f.longest {
				f.longest = d
			}
			f.taken++
			delete(f.pending, shard)
		}
	}
}

// result returns the longest failover seen, and the take-overs still pending for longer than
// bound (a kill just before the end may still be within its failover time) with the longest wait.
func (f *failoverTracker) result(bound time.Duration) (longest, pendingFor time.Duration, npending int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for _, t := range f.pending {
		if d := now.Sub(t); d > bound {
			npending++
			pendingFor = max(pendingFor, d)
		}
	}
	return f.longest, pendingFor, npending
}
