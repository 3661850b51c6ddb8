package kcl

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/shardwise/shardwise/lease"
)

// ShardCheckpointer is the Checkpointer the worker passes to processors. Besides Checkpoint it
// checkpoints the last delivered record and prepares two-phase checkpoints. It is safe for concurrent
// use; writes to the lease are serialised with the worker's renewals.
type ShardCheckpointer struct {
	shardID string
	coord   *lease.Coordinator
	onLost  func()        // cancels the shard consumer
	sem     chan struct{} // one slot: validation and write of one checkpoint at a time

	mu            sync.Mutex
	stored        Position // the checkpoint in the table (a sentinel or a record position)
	lastDelivered Position // the last user record handed to the processor (filtered ones included)
	delivered     bool
	ended         bool // the ShardEnd checkpoint is written
}

func newCheckpointer(shardID string, coord *lease.Coordinator, onLost func(), stored Position) *ShardCheckpointer {
	return &ShardCheckpointer{shardID: shardID, coord: coord, onLost: onLost, sem: make(chan struct{}, 1), stored: stored}
}

// locked runs fn with the checkpoint slot held (a channel, so waits are durable under synctest); an
// ErrLeaseLost from fn stops the shard consumer.
func (cp *ShardCheckpointer) locked(ctx context.Context, fn func() error) error {
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

// Checkpoint stores pos: the shard is processed up to and including that record. pos must not be before
// the stored checkpoint nor after the last delivered record, and must be a record position
// (ErrInvalidPosition otherwise; ShardEnd is accepted as a no-op once the shard ended, because the
// worker writes it itself). Checkpointing the stored position again is a no-op. After the lease is gone it
// returns ErrLeaseLost. ctx bounds the write.
func (cp *ShardCheckpointer) Checkpoint(ctx context.Context, pos Position) error {
	return cp.write(ctx, pos, nil, false)
}

// CheckpointLast checkpoints the last record delivered to the processor (including user records the
// worker filtered out of it). Without any delivered record it is a no-op.
func (cp *ShardCheckpointer) CheckpointLast(ctx context.Context) error {
	pos, ok := cp.LastDelivered()
	if !ok {
		return nil
	}
	return cp.Checkpoint(ctx, pos)
}

// LastDelivered returns the position of the last record delivered to the processor, and false before
// the first batch.
func (cp *ShardCheckpointer) LastDelivered() (Position, bool) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.lastDelivered, cp.delivered
}

// PrepareCheckpoint stores pos as the lease's pending checkpoint, with optional application state,
// without moving the checkpoint (the Java KCL's two-phase checkpoint). The same validation as Checkpoint
// applies. Commit the returned PreparedCheckpoint, or let a later Checkpoint supersede it; a processor
// started after a failure finds it in InitializeInput.PendingCheckpoint.
func (cp *ShardCheckpointer) PrepareCheckpoint(ctx context.Context, pos Position, state []byte) (*PreparedCheckpoint, error) {
	if err := cp.write(ctx, pos, slices.Clone(state), true); err != nil {
		return nil, err
	}
	return &PreparedCheckpoint{cp: cp, pos: pos}, nil
}

// A PreparedCheckpoint is a checkpoint stored as pending; Commit makes it the checkpoint.
type PreparedCheckpoint struct {
	cp  *ShardCheckpointer
	pos Position
}

// Position returns the prepared position.
func (p *PreparedCheckpoint) Position() Position { return p.pos }

// Commit checkpoints the prepared position (see ShardCheckpointer.Checkpoint).
func (p *PreparedCheckpoint) Commit(ctx context.Context) error { return p.cp.Checkpoint(ctx, p.pos) }

func (cp *ShardCheckpointer) write(ctx context.Context, pos Position, state []byte, prepare bool) error {
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
		stored, last, delivered, ended := cp.stored, cp.lastDelivered, cp.delivered, cp.ended
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
func (cp *ShardCheckpointer) setDelivered(pos Position) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if !cp.delivered || comparePositions(pos, cp.lastDelivered) > 0 {
		cp.lastDelivered, cp.delivered = pos, true
	}
}

// checkpointShardEnd writes ShardEnd with the children; after it every Checkpoint is a no-op or invalid.
func (cp *ShardCheckpointer) checkpointShardEnd(ctx context.Context, children []string) error {
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
