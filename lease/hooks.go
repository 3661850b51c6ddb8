package lease

import (
	"fmt"
	"time"

	"github.com/shardwise/shardwise/internal/hookset"
)

// A Hook is any value implementing one or more of the HookXxx interfaces below; register hooks with
// WithHooks. New hook kinds may be added without breaking existing hooks. Hooks run synchronously on
// Manager and Coordinator goroutines: they must be fast, safe for concurrent use, must not block and must
// not call back into the Manager or Coordinator.
//
// Every method takes one event, and every event names the lease table (a table holds the leases of
// one application on one stream). Method names are unique across the hooks of kpl, kcl, lease and
// agent: one type can implement all of them and be given to each package's WithHooks.
type Hook any

// HookLeaseRenewed is called after every renewal attempt made by a Coordinator or Manager.Renew.
type HookLeaseRenewed interface {
	OnLeaseRenewed(e RenewEvent)
}

// RenewEvent describes one renewal.
type RenewEvent struct {
	Table   string        // the lease table
	Key     string        // the lease key (leaseKey: a shard ID, or stream:shard in multi-stream tables)
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

// String returns "unowned", "expired" or "stolen".
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
	Table         string     // the lease table
	Lease         Lease      // the new copy, owned by this worker
	PreviousOwner string     // the owner before the take; "" if it had none
	Reason        TakeReason // why it could be taken: unowned, expired or stolen
}

// HookLeaseLost is called when a Coordinator drops a lease it held without releasing it: a renewal or
// checkpoint found it taken (ErrLeaseLost), or renewals failed for the whole failover time.
type HookLeaseLost interface {
	OnLeaseLost(e LostEvent)
}

// LostEvent describes a lost lease.
type LostEvent struct {
	Table string // the lease table
	Lease Lease  // the last copy this worker held
	Err   error  // why: wraps ErrLeaseLost, or the last renewal error when renewals timed out
}

// HookLeaseReleased is called when this worker releases a lease it held (Manager.Release succeeded).
type HookLeaseReleased interface {
	OnLeaseReleased(e ReleasedEvent)
}

// ReleasedEvent describes a released lease.
type ReleasedEvent struct {
	Table string // the lease table
	Lease Lease  // the released copy, without owner
}

// HookLeaseCheckpoint is called after every Checkpoint and PrepareCheckpoint attempt.
type HookLeaseCheckpoint interface {
	OnLeaseCheckpoint(e CheckpointEvent)
}

// CheckpointEvent describes one checkpoint write.
type CheckpointEvent struct {
	Table             string        // the lease table
	Key               string        // the lease key
	SequenceNumber    string        // the checkpoint written (or a sentinel such as SHARD_END)
	SubSequenceNumber int64         // the user record within an aggregate
	Prepared          bool          // PrepareCheckpoint rather than Checkpoint
	Latency           time.Duration // of the DynamoDB call(s)
	Err               error         // nil, ErrLeaseLost-wrapping, or a DynamoDB error
}

// HookLeaseTakeRound is called after every take round of a Coordinator (the Java KCL's TakeLeases
// metrics).
type HookLeaseTakeRound interface {
	OnLeaseTakeRound(e TakeRoundEvent)
}

// TakeRoundEvent summarises one take round.
type TakeRoundEvent struct {
	Table     string        // the lease table
	Leases    int           // leases in the table
	Workers   int           // live workers seen, this one included
	Target    int           // leases per worker this worker aims for
	Held      int           // leases this worker held before the round
	Available int           // unowned or expired leases seen
	Taken     int           // leases taken this round (stolen ones included)
	Stolen    int           // leases taken from a live worker this round
	Latency   time.Duration // of the round's DynamoDB calls
	Err       error         // a failed scan; conflicts on individual leases are not errors
}

// hooks holds the registered hooks by kind; the on* methods fill in the table.
type hooks struct {
	table      string
	renew      []HookLeaseRenewed
	taken      []HookLeaseTaken
	lost       []HookLeaseLost
	released   []HookLeaseReleased
	checkpoint []HookLeaseCheckpoint
	takeRound  []HookLeaseTakeRound
}

func newHooks(table string, hs []Hook) (hooks, error) {
	s := hookset.New(hs)
	h := hooks{
		table:      table,
		renew:      hookset.Take[HookLeaseRenewed](s),
		taken:      hookset.Take[HookLeaseTaken](s),
		lost:       hookset.Take[HookLeaseLost](s),
		released:   hookset.Take[HookLeaseReleased](s),
		checkpoint: hookset.Take[HookLeaseCheckpoint](s),
		takeRound:  hookset.Take[HookLeaseTakeRound](s),
	}
	if err := s.Unmatched("lease"); err != nil {
		return hooks{}, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return h, nil
}

func (h *hooks) onRenew(e RenewEvent) {
	e.Table = h.table
	for _, x := range h.renew {
		x.OnLeaseRenewed(e)
	}
}

func (h *hooks) onTaken(e TakenEvent) {
	e.Table = h.table
	for _, x := range h.taken {
		x.OnLeaseTaken(e)
	}
}

func (h *hooks) onLost(e LostEvent) {
	e.Table = h.table
	for _, x := range h.lost {
		x.OnLeaseLost(e)
	}
}

func (h *hooks) onReleased(l Lease) {
	for _, x := range h.released {
		x.OnLeaseReleased(ReleasedEvent{Table: h.table, Lease: l})
	}
}

func (h *hooks) onCheckpoint(e CheckpointEvent) {
	e.Table = h.table
	for _, x := range h.checkpoint {
		x.OnLeaseCheckpoint(e)
	}
}

func (h *hooks) onTakeRound(e TakeRoundEvent) {
	e.Table = h.table
	for _, x := range h.takeRound {
		x.OnLeaseTakeRound(e)
	}
}
