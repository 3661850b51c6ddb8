package kpl

import (
	"context"
	"time"
)

// Record is a user record.
type Record struct {
	// PartitionKey is required: 1 to 256 Unicode characters. It routes the record (MD5 hash) unless
	// ExplicitHashKey is set.
	PartitionKey string
	// ExplicitHashKey optionally routes the record: a decimal number in [0, 2^128-1].
	ExplicitHashKey string
	// Data must not be modified by the caller until the record's Future is done.
	Data []byte
}

// Attempt describes one PutRecords call that carried a record.
type Attempt struct {
	Time     time.Time     // when the call started
	Duration time.Duration // until its response (or error)
	ShardID  string        // the shard that answered, or the predicted shard when the call failed
	Code     string        // "" on success, else the entry's ErrorCode or the request error's code
	Message  string
}

// Result describes a delivered record.
type Result struct {
	ShardID           string
	SequenceNumber    string
	SubSequenceNumber int       // position inside the aggregated Kinesis record (0 when not aggregated)
	Aggregated        bool      // the Kinesis record is a KPL aggregate
	Attempts          []Attempt // every attempt, the last one successful; read-only, may be shared
}

// A Future is the pending outcome of PutAsync. Its methods are safe for concurrent use.
type Future struct {
	done chan struct{}
	res  Result
	err  error
}

func newFailedFuture(err error) *Future {
	f := &Future{done: make(chan struct{}), err: err}
	close(f.done)
	return f
}

// Done returns a channel closed exactly once, when the outcome is known.
func (f *Future) Done() <-chan struct{} { return f.done }

// Wait blocks until the outcome is known or ctx ends; ctx bounds only the wait, never the record.
// The error is a *RecordError (or ctx.Err() when the wait ended first).
func (f *Future) Wait(ctx context.Context) (Result, error) {
	select {
	case <-f.done:
		return f.res, f.err
	default:
	}
	select {
	case <-f.done:
		return f.res, f.err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}
