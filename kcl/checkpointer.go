package kcl

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/shardwise/shardwise/lease"
)

// shardCheckpointer is the Checkpointer the worker passes to processors; it also implements
// CheckpointPreparer. It is safe for concurrent use; writes to the lease are serialised with the
// worker's renewals.
type shardCheckpointer struct {
	shardID string
	coord   coordinator
	onLost  func()        // cancels the shard consumer
	sem     chan struct{} // one slot: validation and write of one checkpoint at a time

	mu        sync.Mutex
	stored    Position // the checkpoint in the table (a sentinel or a record position)
	last      Position // the last user record handed to the processor (filtered ones included)
	delivered bool
	ended     bool // the ShardEnd checkpoint is written
}

func newCheckpointer(shardID string, coord coordinator, onLost func(), stored Position) *shardCheckpointer {
	return &shardCheckpointer{shardID: shardID, coord: coord, onLost: onLost, sem: make(chan struct{}, 1), stored: stored}
}

// locked runs fn with the checkpoint slot held (a channel, so waits are durable under synctest); an
// ErrLeaseLost from fn stops the shard consumer.
func (cp *shardCheckpointer) locked(ctx context.Context, fn func() error) error {
	select {
	case cp.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-cp.sem }()
	err := fn()
	if isLeaseLost(err) {
		cp.onLost()
	}
	return err
}

// Checkpoint implements Checkpointer: it stores pos: the shard is processed up to and including that record. pos must not be before
// the stored checkpoint nor after the last delivered record, and must be a record position
// (ErrInvalidPosition otherwise; ShardEnd is accepted as a no-op once the shard ended, because the
// worker writes it itself). Checkpointing the stored position again is a no-op. After the lease is gone it
// returns ErrLeaseLost. ctx bounds the write.
func (cp *shardCheckpointer) Checkpoint(ctx context.Context, pos Position) error {
	return cp.write(ctx, pos, nil, false)
}

// lastDelivered returns the position of the last record delivered to the processor (including user
// records the worker filtered out of its batches), and false before the first batch.
func (cp *shardCheckpointer) lastDelivered() (Position, bool) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.last, cp.delivered
}

// PrepareCheckpoint implements CheckpointPreparer.
func (cp *shardCheckpointer) PrepareCheckpoint(ctx context.Context, pos Position, state []byte) error {
	return cp.write(ctx, pos, slices.Clone(state), true)
}

func (cp *shardCheckpointer) write(ctx context.Context, pos Position, state []byte, prepare bool) error {
	if pos == ShardEnd {
		cp.mu.Lock()
		ended := cp.ended
		cp.mu.Unlock()
		if ended && !prepare {
			return nil
		}
		return fmt.Errorf("kcl: checkpoint %s at %v: %w (the worker writes ShardEnd itself)", cp.shardID, pos, ErrInvalidPosition)
	}
	if !pos.valid() {
		return fmt.Errorf("kcl: checkpoint %s at %v: %w: not a record position", cp.shardID, pos, ErrInvalidPosition)
	}
	// Validate inside the lease's write slot, so concurrent checkpoints cannot pass validation in one
	// order and write in the other (which could move the checkpoint backwards).
	return cp.locked(ctx, func() error {
		if _, held := cp.coord.Lease(cp.shardID); !held {
			return fmt.Errorf("kcl: checkpoint %s: %w", cp.shardID, ErrLeaseLost)
		}
		cp.mu.Lock()
		stored, last, delivered, ended := cp.stored, cp.last, cp.delivered, cp.ended
		cp.mu.Unlock()
		switch {
		case ended:
			return fmt.Errorf("kcl: checkpoint %s at %v: %w: the shard ended", cp.shardID, pos, ErrInvalidPosition)
		case !delivered || comparePositions(pos, last) > 0:
			return fmt.Errorf("kcl: checkpoint %s at %v: %w: after the last delivered record %v", cp.shardID, pos, ErrInvalidPosition, last)
		case !stored.IsSentinel() && stored.SequenceNumber != "" && comparePositions(pos, stored) < 0:
			return fmt.Errorf("kcl: checkpoint %s at %v: %w: before the stored checkpoint %v", cp.shardID, pos, ErrInvalidPosition, stored)
		case !prepare && pos == stored:
			return nil
		}
		var err error
		if prepare {
			_, err = cp.coord.PrepareCheckpoint(ctx, cp.shardID, pos.SequenceNumber, int64(pos.SubSequenceNumber), state)
		} else {
			_, err = cp.coord.Checkpoint(ctx, cp.shardID, pos.SequenceNumber, int64(pos.SubSequenceNumber))
		}
		if err != nil {
			return err
		}
		if !prepare {
			cp.mu.Lock()
			cp.stored = pos
			cp.mu.Unlock()
		}
		return nil
	})
}

// delivered records that the processor was handed records up to pos.
func (cp *shardCheckpointer) setDelivered(pos Position) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if !cp.delivered || comparePositions(pos, cp.last) > 0 {
		cp.last, cp.delivered = pos, true
	}
}

// checkpointShardEnd writes ShardEnd with the children; after it every Checkpoint is a no-op or invalid.
func (cp *shardCheckpointer) checkpointShardEnd(ctx context.Context, children []string) error {
	err := cp.locked(ctx, func() error {
		var err error
		if len(children) == 0 {
			_, err = cp.coord.Checkpoint(ctx, cp.shardID, lease.ShardEnd, 0)
		} else {
			_, err = cp.coord.CheckpointShardEnd(ctx, cp.shardID, children)
		}
		return err
	})
	if err == nil {
		cp.mu.Lock()
		cp.stored, cp.ended = ShardEnd, true
		cp.mu.Unlock()
	}
	return err
}
