package kpl

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
)

// Sentinel errors. Every error a Future reports is a *RecordError wrapping one of these (or the
// underlying cause), so both errors.Is and errors.As work.
var (
	// ErrClosed: the Producer was closed before the record was delivered, or PutAsync was called
	// after Close.
	ErrClosed = errors.New("kpl: producer closed")
	// ErrRecordExpired: the record was not delivered within RecordTTL; RecordError.Attempts says why.
	ErrRecordExpired = errors.New("kpl: record expired before delivery (RecordTTL)")
	// ErrMaxBuffered: TryPutAsync found the buffer full (MaxBufferedRecords or MaxBufferedBytes).
	ErrMaxBuffered = errors.New("kpl: max buffered records or bytes reached")
	// ErrRecordTooLarge: partition key plus data exceed the stream's maximum record size.
	ErrRecordTooLarge = errors.New("kpl: record larger than the stream's maximum record size")
	// ErrInvalidRecord: the partition key or explicit hash key is invalid. The error also wraps the
	// aggregation package's ErrInvalidPartitionKey or ErrInvalidHashKey.
	ErrInvalidRecord = errors.New("kpl: invalid record")
	// ErrInvalidConfig: New was given an invalid option.
	ErrInvalidConfig = errors.New("kpl: invalid configuration")
	// ErrThrottled: with FailIfThrottled, Kinesis answered ProvisionedThroughputExceededException.
	ErrThrottled = errors.New("kpl: record throttled (FailIfThrottled)")
	// ErrRecordFailed: Kinesis rejected the record with a non-retryable error; Code and Message say
	// which.
	ErrRecordFailed = errors.New("kpl: record rejected by Kinesis")
)

// RecordError is the error of a record that was not delivered. Err is the reason: one of the
// sentinels above, a context error (PutAsync's wait ended), or a request-level SDK error (which
// errors.As can unpack, e.g. into *types.ResourceNotFoundException).
type RecordError struct {
	Code     string    // last Kinesis error code, if any ("ProvisionedThroughputExceededException", ...)
	Message  string    // last Kinesis error message, if any
	ShardID  string    // shard of the last attempt, if any
	Attempts []Attempt // every PutRecords attempt that carried the record; read-only
	Err      error     // the cause: ErrRecordExpired, ErrInvalidRecord, ErrClosed, a request error, ...
}

func (e *RecordError) Error() string {
	msg := "kpl: record failed"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Code != "" {
		msg += ": " + e.Code
		if e.Message != "" {
			msg += ": " + e.Message
		}
	}
	if len(e.Attempts) > 0 {
		msg += " (after " + strconv.Itoa(len(e.Attempts)) + " attempts)"
	}
	return msg
}

// Unwrap returns Err.
func (e *RecordError) Unwrap() error { return e.Err }

// LogValue reports the error as structured attributes.
func (e *RecordError) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("err", fmt.Sprint(e.Err)),
		slog.String("code", e.Code),
		slog.String("shard_id", e.ShardID),
		slog.Int("attempts", len(e.Attempts)),
	)
}

func invalidConfig(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}
