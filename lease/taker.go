package lease

import (
	"cmp"
	"math/rand/v2"
	"slices"
)

// The take plan, as a pure function of one observation so it can be tested exhaustively.
//
//   - workers = distinct owners of leases that are not expired, plus this worker;
//   - target = ceil(leases / workers), capped by MaxLeasesForWorker;
//   - this worker first takes available leases (unowned ones, then expired ones, the longest-unchanged
//     first) until it holds target;
//   - if it still holds fewer than target, it steals (from Shardwise workers only: see OwnedByShardwise), at most maxSteal per round, each time from the
//     currently most-loaded worker V, and only while V holds at least target leases and at least two more
//     than this worker (counts updated after every steal).
//
// The last rule is the hysteresis: a steal never leaves the victim with fewer leases than the thief, so
// the sum of squared per-worker counts strictly falls with every steal; a balanced fleet (counts differing
// by at most one) never steals, and an unbalanced one converges instead of passing leases around.
// 3 workers over 8 leases settle at 3/3/2: the worker with 2 is below target 3, but the workers with 3
// hold only one more than it.

type candidate struct {
	lease  Lease
	reason TakeReason
}

type takePlan struct {
	leases, workers, target, mine, available int
	take                                     []candidate
	// spare are the available leases not chosen, in preference order: a take that loses a race (another
	// worker took that lease first) is replaced by the next spare in the same round.
	spare []candidate
}

// planTakes computes what this worker (self) should take. skip holds keys this worker must not take (its
// recently released leases). maxLeases <= 0 means no cap.
func planTakes(states []leaseState, self string, maxSteal, maxLeases int, skip map[string]bool) takePlan {
	p := takePlan{leases: len(states)}
	if len(states) == 0 {
		return p
	}
	counts := map[string]int{self: 0}
	var avail []leaseState
	for _, s := range states {
		if s.Available() {
			if !skip[s.Lease.Key] {
				avail = append(avail, s)
			}
			p.available++
			continue
		}
		counts[effectiveOwner(s.Lease)]++
	}
	p.workers = len(counts)
	p.target = (len(states) + p.workers - 1) / p.workers
	if maxLeases > 0 && p.target > maxLeases {
		p.target = maxLeases
	}
	p.mine = counts[self]
	need := p.target - p.mine
	if need <= 0 {
		return p
	}

	// Unowned leases first (shuffled, so workers starting together spread out instead of all racing for
	// the same one), then expired ones, the longest-unchanged first.
	rand.Shuffle(len(avail), func(i, j int) { avail[i], avail[j] = avail[j], avail[i] })
	slices.SortStableFunc(avail, func(a, b leaseState) int {
		ua, ub := a.Lease.Owner == "", b.Lease.Owner == ""
		if ua != ub {
			if ua {
				return -1
			}
			return 1
		}
		if ua {
			return 0
		}
		return cmp.Compare(b.Unchanged, a.Unchanged)
	})
	for _, s := range avail {
		reason := TakenExpired
		if s.Lease.Owner == "" {
			reason = TakenUnowned
		}
		if need == 0 {
			p.spare = append(p.spare, candidate{lease: s.Lease, reason: reason})
			continue
		}
		p.take = append(p.take, candidate{lease: s.Lease, reason: reason})
		counts[self]++
		need--
	}

	// Steal from live workers.
	byOwner := map[string][]Lease{}
	for _, s := range states {
		// Only Shardwise workers honour a handoff request: a Java KCL worker's live lease is never asked
		// for (it would block every other request and count as this worker's while the Java worker keeps
		// it); it is taken only once expired.
		if !s.Available() && s.Lease.Owner != self && s.Lease.PendingOwner == "" && s.Lease.OwnedByShardwise() && !skip[s.Lease.Key] {
			byOwner[s.Lease.Owner] = append(byOwner[s.Lease.Owner], s.Lease)
		}
	}
	for stolen := 0; need > 0 && stolen < maxSteal; stolen++ {
		victim, most := "", -1
		for w, n := range counts {
			if w != self && len(byOwner[w]) > 0 && (n > most || n == most && w < victim) {
				victim, most = w, n
			}
		}
		if victim == "" || most < p.target || most-counts[self] < 2 {
			break
		}
		ls := byOwner[victim]
		i := rand.IntN(len(ls))
		p.take = append(p.take, candidate{lease: ls[i], reason: TakenStolen})
		byOwner[victim] = slices.Delete(ls, i, i+1)
		counts[victim]--
		counts[self]++
		need--
	}
	return p
}

// effectiveOwner is the worker a live lease counts for in balancing: the requester of a pending handoff
// on a Shardwise worker's lease (the lease is on its way there), else the owner.
func effectiveOwner(l Lease) string {
	if l.PendingOwner != "" && l.OwnedByShardwise() { // a request on a Java worker's lease is never honoured
		return l.PendingOwner
	}
	return l.Owner
}
