package kpl

import (
	"context"
	"sync"
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
	mu   sync.Mutex
	done bool
	ch   chan struct{} // made on demand by Done or a blocking Wait
	res  Result
	err  error
}

// closedCh is handed out by Done for futures resolved before anyone asked for a channel.
var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func newFailedFuture(err error) *Future {
	return &Future{done: true, err: err}
}

// resolve publishes the outcome set in res/err (written before the call, by the resolving
// goroutine only).
func (f *Future) resolve() {
	f.mu.Lock()
	f.done = true
	if f.ch != nil {
		close(f.ch)
	}
	f.mu.Unlock()
}

// Done returns a channel closed exactly once, when the outcome is known.
func (f *Future) Done() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ch == nil {
		if f.done {
			return closedCh
		}
		f.ch = make(chan struct{})
	}
	return f.ch
}

// Wait blocks until the outcome is known or ctx ends; ctx bounds only the wait, never the record.
// The error is a *RecordError (or ctx.Err() when the wait ended first).
func (f *Future) Wait(ctx context.Context) (Result, error) {
	f.mu.Lock()
	done := f.done
	f.mu.Unlock()
	if !done {
		select {
		case <-f.Done():
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	return f.res, f.err
}
