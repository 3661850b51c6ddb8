package kcl

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

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
)

// isThrottle reports whether err is a Kinesis throttling answer.
func isThrottle(err error) bool {
	var pte *types.ProvisionedThroughputExceededException
	var kte *types.KMSThrottlingException
	var lee *types.LimitExceededException
	if errors.As(err, &pte) || errors.As(err, &kte) || errors.As(err, &lee) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "LimitExceededException":
			return true
		}
	}
	return false
}

// isExpiredIterator reports whether err says the shard iterator expired (5 minutes after it was made).
func isExpiredIterator(err error) bool {
	var eie *types.ExpiredIteratorException
	if errors.As(err, &eie) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ExpiredIteratorException"
}

// isNotFound reports whether err says the stream or shard does not exist (a shard past retention).
func isNotFound(err error) bool {
	var rnf *types.ResourceNotFoundException
	return errors.As(err, &rnf)
}

// isLeaseLost reports whether err means this worker no longer holds a lease.
func isLeaseLost(err error) bool { return errors.Is(err, lease.ErrLeaseLost) }
