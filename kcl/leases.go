package kcl

import (
	"github.com/shardwise/shardwise/lease"
)

// Lease ownership is lease.Coordinator's job (renewals every RenewInterval, take rounds every
// TakeInterval, serialised writes per lease). The worker reconciles its shard consumers with
// Coordinator.Held whenever Coordinator.Changed fires: a held, unfinished lease without a consumer gets
// one; a consumer whose lease is no longer held is cancelled (LeaseLost). Finished leases (SHARD_END)
// stay held, as in the Java KCL, until the shard-sync leader deletes them (planCleanup); no consumer runs
// for them.

// isLeader reports whether this worker runs the periodic shard sync and lease cleanup: the owner of the
// smallest-keyed live, unfinished lease does, so one worker of a running fleet syncs (two at most while
// ownership moves, which conditional writes make harmless). With no live lease at all, every worker may.
func isLeader(states []lease.LeaseState, self string) bool {
	for _, s := range states { // sorted by key
		if s.Lease.Owner == "" || s.Expired || s.Lease.Finished() {
			continue
		}
		return s.Lease.Owner == self
	}
	return true
}
