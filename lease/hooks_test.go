package lease_test

import (
	"slices"
	"sync"

	"github.com/shardwise/shardwise/lease"
)

// recorder implements every hook and keeps what it saw.
type recorder struct {
	mu          sync.Mutex
	renews      []lease.RenewEvent
	taken       []lease.TakenEvent
	lost        []lease.LostEvent
	released    []lease.ReleasedEvent
	checkpoints []lease.CheckpointEvent
	rounds      []lease.TakeRoundEvent
}

var (
	_ lease.HookLeaseRenewed    = (*recorder)(nil)
	_ lease.HookLeaseTaken      = (*recorder)(nil)
	_ lease.HookLeaseLost       = (*recorder)(nil)
	_ lease.HookLeaseReleased   = (*recorder)(nil)
	_ lease.HookLeaseCheckpoint = (*recorder)(nil)
	_ lease.HookLeaseTakeRound  = (*recorder)(nil)
)

func (r *recorder) OnLeaseRenewed(e lease.RenewEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.renews = append(r.renews, e)
}

func (r *recorder) OnLeaseTaken(e lease.TakenEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.taken = append(r.taken, e)
}

func (r *recorder) OnLeaseLost(e lease.LostEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lost = append(r.lost, e)
}

func (r *recorder) OnLeaseReleased(e lease.ReleasedEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.released = append(r.released, e)
}

func (r *recorder) OnLeaseCheckpoint(e lease.CheckpointEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checkpoints = append(r.checkpoints, e)
}

func (r *recorder) OnLeaseTakeRound(e lease.TakeRoundEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rounds = append(r.rounds, e)
}

func (r *recorder) counts() (taken, stolen, lost int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.taken {
		if e.Reason == lease.TakenStolen {
			stolen++
		}
	}
	return len(r.taken), stolen, len(r.lost)
}

func (r *recorder) lostEvents() []lease.LostEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lost)
}

func (r *recorder) takenEvents() []lease.TakenEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.taken)
}

func (r *recorder) renewCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.renews)
}

func (r *recorder) releasedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.released)
}
