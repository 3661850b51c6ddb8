package kcl

import (
	"errors"

	"github.com/shardwise/shardwise/lease"
)

// Sentinel errors. Test with errors.Is: the worker wraps them with context.
var (
	// ErrWorkerClosed is returned by Run after Shutdown was called (the http.ErrServerClosed pattern),
	// and by Run when called a second time.
	ErrWorkerClosed = errors.New("kcl: worker closed")
	// ErrInvalidPosition is returned by a checkpoint to a position before the stored checkpoint, after
	// the last record delivered to the processor, or to a sentinel (TrimHorizon, Latest, AtTimestamp).
	ErrInvalidPosition = errors.New("kcl: invalid checkpoint position")
	// ErrLeaseLost is returned by a checkpoint after the worker lost the shard's lease (taken by another
	// worker, or renewals failed for the failover time). It is the same value as lease.ErrLeaseLost.
	ErrLeaseLost = lease.ErrLeaseLost
	// ErrInvalidConfig is returned by NewWorker for an invalid argument or option.
	ErrInvalidConfig = errors.New("kcl: invalid configuration")
	// ErrIncompleteShardList is returned (wrapped, and only logged by the worker) by a shard sync whose
	// ListShards result leaves holes in the hash key space of the open shards: the listing is
	// inconsistent (resharding in progress, or pagination raced it), so no leases are created from it.
	ErrIncompleteShardList = errors.New("kcl: open shards do not cover the hash key space")
	// ErrConsumerRegistration is returned (wrapped) by Run when the EnhancedFanOut consumer could not be
	// registered: Kinesis refused it with LimitExceededException MaxRegisterRefusals times (a stream
	// has at most 20 consumers, at most 5 being created). The worker stopped as after Shutdown.
	// Deregister consumers no longer used, or read by polling.
	ErrConsumerRegistration = errors.New("kcl: enhanced fan-out consumer registration refused")
)

// isLeaseLost reports whether err means this worker no longer holds a lease.
func isLeaseLost(err error) bool { return errors.Is(err, lease.ErrLeaseLost) }
