package lease

import (
	"fmt"
	"time"
)

// A Hook is any value implementing one or more of the HookXxx interfaces below; register hooks with
// WithHooks. New hook kinds may be added without breaking existing hooks. Hooks run synchronously on
// Manager and Coordinator goroutines: they must be fast, safe for concurrent use, must not block and must
// not call back into the Manager or Coordinator.
type Hook any

// HookRenew is called after every renewal attempt made by a Coordinator or Manager.Renew.
type HookRenew interface {
	OnRenew(e RenewEvent)
}

// RenewEvent describes one renewal.
type RenewEvent struct {
	Key     string
	Counter int64         // the new counter on success, the expected one on failure
	Latency time.Duration // of the DynamoDB call(s)
	Err     error         // nil, ErrLeaseLost-wrapping, or a transient DynamoDB error
}

// HookLeaseTaken is called when a Coordinator takes a lease (unowned, expired or stolen).
type HookLeaseTaken interface {
	OnLeaseTaken(e TakenEvent)
}

// TakeReason says why a lease was taken.
type TakeReason int

const (
	// TakenUnowned: the lease had no owner (new, or released by its owner).
	TakenUnowned TakeReason = iota + 1
	// TakenExpired: the owner stopped renewing for the failover time.
	TakenExpired
	// TakenStolen: a live, over-loaded worker held it and handed it over on request (graceful handoff,
	// see Manager.RequestHandoff), or did not within the failover time; taken to balance the fleet.
	TakenStolen
)

func (r TakeReason) String() string {
	switch r {
	case TakenUnowned:
		return "unowned"
	case TakenExpired:
		return "expired"
	case TakenStolen:
		return "stolen"
	}
	return fmt.Sprintf("TakeReason(%d)", int(r))
}

// TakenEvent describes a lease taken by this worker.
type TakenEvent struct {
	Lease         Lease // the new copy, owned by this worker
	PreviousOwner string
	Reason        TakeReason
}

// HookLeaseLost is called when a Coordinator drops a lease it held without releasing it: a renewal or
// checkpoint found it taken (ErrLeaseLost), or renewals failed for the whole failover time.
type HookLeaseLost interface {
	OnLeaseLost(e LostEvent)
}

// LostEvent describes a lost lease.
type LostEvent struct {
	Lease Lease // the last copy this worker held
	Err   error // why: wraps ErrLeaseLost, or the last renewal error when renewals timed out
}

// HookLeaseReleased is called when this worker releases a lease it held (Manager.Release succeeded).
type HookLeaseReleased interface {
	OnLeaseReleased(l Lease)
}

// HookCheckpoint is called after every Checkpoint and PrepareCheckpoint attempt.
type HookCheckpoint interface {
	OnCheckpoint(e CheckpointEvent)
}

// CheckpointEvent describes one checkpoint write.
type CheckpointEvent struct {
	Key               string
	SequenceNumber    string
	SubSequenceNumber int64
	Prepared          bool // PrepareCheckpoint rather than Checkpoint
	Latency           time.Duration
	Err               error
}

// HookTakeRound is called after every take round of a Coordinator (the Java KCL's TakeLeases metrics).
type HookTakeRound interface {
	OnTakeRound(e TakeRoundEvent)
}

// TakeRoundEvent summarises one take round.
type TakeRoundEvent struct {
	Leases    int // leases in the table
	Workers   int // live workers seen, this one included
	Target    int // leases per worker this worker aims for
	Held      int // leases this worker held before the round
	Available int // unowned or expired leases seen
	Taken     int // leases taken this round (stolen ones included)
	Stolen    int
	Latency   time.Duration
	Err       error // a failed scan; conflicts on individual leases are not errors
}

type hooks struct {
	renew      []HookRenew
	taken      []HookLeaseTaken
	lost       []HookLeaseLost
	released   []HookLeaseReleased
	checkpoint []HookCheckpoint
	takeRound  []HookTakeRound
}

func newHooks(hs []Hook) (hooks, error) {
	var h hooks
	for i, x := range hs {
		ok := false
		if v, is := x.(HookRenew); is {
			h.renew, ok = append(h.renew, v), true
		}
		if v, is := x.(HookLeaseTaken); is {
			h.taken, ok = append(h.taken, v), true
		}
		if v, is := x.(HookLeaseLost); is {
			h.lost, ok = append(h.lost, v), true
		}
		if v, is := x.(HookLeaseReleased); is {
			h.released, ok = append(h.released, v), true
		}
		if v, is := x.(HookCheckpoint); is {
			h.checkpoint, ok = append(h.checkpoint, v), true
		}
		if v, is := x.(HookTakeRound); is {
			h.takeRound, ok = append(h.takeRound, v), true
		}
		if !ok {
			return hooks{}, fmt.Errorf("%w: hook %d (%T) implements no lease hook interface", ErrInvalidConfig, i, x)
		}
	}
	return h, nil
}

func (h *hooks) onRenew(e RenewEvent) {
	for _, x := range h.renew {
		x.OnRenew(e)
	}
}

func (h *hooks) onTaken(e TakenEvent) {
	for _, x := range h.taken {
		x.OnLeaseTaken(e)
	}
}

func (h *hooks) onLost(e LostEvent) {
	for _, x := range h.lost {
		x.OnLeaseLost(e)
	}
}

func (h *hooks) onReleased(l Lease) {
	for _, x := range h.released {
		x.OnLeaseReleased(l)
	}
}

func (h *hooks) onCheckpoint(e CheckpointEvent) {
	for _, x := range h.checkpoint {
		x.OnCheckpoint(e)
	}
}

func (h *hooks) onTakeRound(e TakeRoundEvent) {
	for _, x := range h.takeRound {
		x.OnTakeRound(e)
	}
}
