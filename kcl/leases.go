package kcl

import (
	"context"
	"fmt"

	"github.com/shardwise/shardwise/internal/leasecoord"
	"github.com/shardwise/shardwise/lease"
)

// Lease ownership is the lease coordinator's job (renewals every RenewInterval, take rounds every
// TakeInterval, serialised writes per lease). The worker reconciles its shard consumers with
// Coordinator.Held whenever Coordinator.Changed fires: a held, unfinished lease without a consumer gets
// one; a consumer whose lease is no longer held is cancelled (LeaseLost). Finished leases (SHARD_END)
// stay held, as in the Java KCL, until the shard-sync leader deletes them (planCleanup); no consumer runs
// for them.

// coordinator is what the worker uses of package lease's coordinator (internal to the module, reached
// through internal/leasecoord): lease ownership, renewals and the serialised writes to held leases.
type coordinator interface {
	Run(ctx context.Context) error
	Changed() <-chan struct{}
	Trigger()
	Held() []lease.Lease
	Lease(key string) (lease.Lease, bool)
	DeferHandoffs()
	StopTaking()
	Leader() string
	Checkpoint(ctx context.Context, key, seq string, subSeq int64) (lease.Lease, error)
	PrepareCheckpoint(ctx context.Context, key, seq string, subSeq int64, state []byte) (lease.Lease, error)
	CheckpointShardEnd(ctx context.Context, key string, children []string) (lease.Lease, error)
	Release(ctx context.Context, key string) error
	ReleaseAll(ctx context.Context) error
}

// newCoordinator returns the lease coordinator of m with the worker's fleet timing.
func newCoordinator(m *lease.Manager, cfg leasecoord.Config) (coordinator, error) {
	c, err := leasecoord.New(m, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return c.(coordinator), nil
}

// isLeader reports whether this worker runs the periodic shard sync and lease cleanup: the owner of the
// smallest-keyed live, unfinished lease does, so one worker of a running fleet syncs (two at most while
// ownership moves, which conditional writes make harmless). With no live lease at all, every worker may.
func isLeader(c coordinator, self string) bool {
	l := c.Leader()
	return l == "" || l == self
}
