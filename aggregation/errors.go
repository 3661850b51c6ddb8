package aggregation

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test with errors.Is; the detail types below wrap them.
var (
	// ErrFull means the record would push the aggregate past its maximum size (or count):
	// Flush, then Add the record again.
	ErrFull = errors.New("aggregation: aggregate is full")
	// ErrTooLarge means the record cannot fit in an aggregate of the configured size even alone;
	// send it unaggregated (if Kinesis accepts its size) instead.
	ErrTooLarge = errors.New("aggregation: record too large to aggregate")
	// ErrChecksum means data carries the aggregation magic but its MD5 trailer does not match.
	ErrChecksum = errors.New("aggregation: aggregated record checksum mismatch")
	// ErrCorrupt means the checksum matched but the protobuf body is malformed.
	ErrCorrupt = errors.New("aggregation: corrupt aggregated record")
	// ErrInvalidPartitionKey means a partition key is empty, longer than 256 characters or not UTF-8.
	ErrInvalidPartitionKey = errors.New("aggregation: invalid partition key")
	// ErrInvalidHashKey means an explicit hash key is not a decimal number in [0, 2^128-1].
	ErrInvalidHashKey = errors.New("aggregation: invalid explicit hash key")
)

// PartitionKeyError describes an invalid partition key. It wraps ErrInvalidPartitionKey.
type PartitionKeyError struct {
	Reason string // what was wrong: empty, too long, not valid UTF-8
}

func (e *PartitionKeyError) Error() string {
	return "aggregation: invalid partition key: " + e.Reason
}

// Unwrap returns ErrInvalidPartitionKey.
func (e *PartitionKeyError) Unwrap() error { return ErrInvalidPartitionKey }

// HashKeyError describes an invalid explicit hash key. It wraps ErrInvalidHashKey.
type HashKeyError struct {
	Value  string // the offending value, cut to 64 bytes
	Reason string // what was wrong: empty, too long, not a decimal number, greater than 2^128-1
}

func (e *HashKeyError) Error() string {
	return fmt.Sprintf("aggregation: invalid explicit hash key %q: %s", e.Value, e.Reason)
}

// Unwrap returns ErrInvalidHashKey.
func (e *HashKeyError) Unwrap() error { return ErrInvalidHashKey }

// CorruptError locates a defect in an aggregated record whose checksum matched. It wraps ErrCorrupt.
type CorruptError struct {
	Offset int    // byte offset into the protobuf body where decoding failed
	Reason string // what was wrong
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("aggregation: corrupt aggregated record at offset %d: %s", e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }
