package kpl

import (
	"context"
	"sync/atomic"
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
	Message  string        // the entry's ErrorMessage or the request error's message; "" on success
}

// Result describes a delivered record.
type Result struct {
	ShardID           string    // the shard that holds the record
	SequenceNumber    string    // of the Kinesis record (an aggregate's user records share it)
	SubSequenceNumber int       // position inside the aggregated Kinesis record (0 when not aggregated)
	Aggregated        bool      // the Kinesis record is a KPL aggregate
	Attempts          []Attempt // every attempt, the last one successful; read-only, may be shared
}

// A Future is the pending outcome of PutAsync. Its methods are safe for concurrent use.
type Future struct {
	// st is nil while pending, then the channel Done made for waiters, and &closedCh once the
	// outcome is published: sub, d and err are written before that store and read only after it.
	st   atomic.Pointer[chan struct{}]
	sub  int32        // SubSequenceNumber once delivered; until then the put order (putOrder)
	done bool         // resolved when made (a rejected record); never written afterwards
	d    *delivery    // delivered: what the user records of its Kinesis record share
	err  *RecordError // failed
}

// delivery is the part of a Result that the user records of one delivered Kinesis record share
// (one allocation per Kinesis record instead of a Result per user record).
type delivery struct {
	shardID, seq string
	aggregated   bool
	attempts     []Attempt
}

// result returns the outcome of a resolved, delivered future.
func (f *Future) result() Result {
	d := f.d
	if d == nil {
		return Result{}
	}
	return Result{ShardID: d.shardID, SequenceNumber: d.seq, SubSequenceNumber: int(f.sub),
		Aggregated: d.aggregated, Attempts: d.attempts}
}

// closedCh is handed out by Done for futures resolved before anyone asked for a channel.
var closedCh = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func newFailedFuture(err *RecordError) *Future {
	f := &Future{done: true, err: err}
	f.st.Store(&closedCh)
	return f
}

// resolve publishes the outcome set in sub, d and err (written before the call, by the resolving
// goroutine only).
func (f *Future) resolve() {
	if ch := f.st.Swap(&closedCh); ch != nil && ch != &closedCh {
		close(*ch)
	}
}

// isDone reports whether the outcome is published.
func (f *Future) isDone() bool { return f.st.Load() == &closedCh }

// Done returns a channel closed exactly once, when the outcome is known.
func (f *Future) Done() <-chan struct{} {
	if ch := f.st.Load(); ch != nil {
		return *ch
	}
	ch := make(chan struct{})
	if f.st.CompareAndSwap(nil, &ch) {
		return ch
	}
	return *f.st.Load() // another Done made one first, or the outcome was published meanwhile
}

// Wait blocks until the outcome is known or ctx ends; ctx bounds only the wait, never the record.
// The error is a *RecordError (or ctx.Err() when the wait ended first).
func (f *Future) Wait(ctx context.Context) (Result, error) {
	if !f.isDone() {
		select {
		case <-f.Done():
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
	if f.err != nil {
		return Result{}, f.err
	}
	return f.result(), nil
}
