package kcl

import (
	"strconv"
	"time"

	"github.com/shardwise/shardwise/lease"
)

// A Position is a place in a shard: a record's sequence number and, for a user record packed in a KPL
// aggregate, its sub-sequence number (its index in the aggregate; 0 for plain records). A checkpoint at a
// Position means "processed up to and including this record". Positions are comparable with ==.
//
// The sentinels TrimHorizon, Latest, ShardEnd and AtTimestamp(t) carry a sentinel name in SequenceNumber,
// exactly as the lease table stores them.
type Position struct {
	SequenceNumber    string    // of the Kinesis record, or a sentinel such as TRIM_HORIZON
	SubSequenceNumber int       // the user record's index inside an aggregate (0 otherwise)
	timestamp         time.Time // AtTimestamp only
}

var (
	// TrimHorizon is the oldest record still in the shard.
	TrimHorizon = Position{SequenceNumber: lease.TrimHorizon}
	// Latest is just after the newest record at the time processing starts.
	Latest = Position{SequenceNumber: lease.Latest}
	// ShardEnd is the end of a closed shard; the worker checkpoints it itself (see the package doc).
	ShardEnd = Position{SequenceNumber: lease.ShardEnd}
)

// AtTimestamp is the first record whose approximate arrival time is at or after t. As an initial position
// it is stored in the lease table as the AT_TIMESTAMP sentinel; the time itself comes from the worker's
// StartAt option.
func AtTimestamp(t time.Time) Position {
	return Position{SequenceNumber: lease.AtTimestamp, timestamp: t.UTC()}
}

// Timestamp returns the time of an AtTimestamp position (zero for others).
func (p Position) Timestamp() time.Time { return p.timestamp }

// IsSentinel reports whether p is TrimHorizon, Latest, ShardEnd or an AtTimestamp position rather than
// the position of a record.
func (p Position) IsSentinel() bool {
	switch p.SequenceNumber {
	case lease.TrimHorizon, lease.Latest, lease.ShardEnd, lease.AtTimestamp:
		return true
	}
	return false
}

// String returns "seq/sub" for records and the sentinel name otherwise.
func (p Position) String() string {
	if p.SequenceNumber == lease.AtTimestamp && !p.timestamp.IsZero() {
		return lease.AtTimestamp + "(" + p.timestamp.Format(time.RFC3339Nano) + ")"
	}
	if p.IsSentinel() || p.SequenceNumber == "" {
		return p.SequenceNumber
	}
	return p.SequenceNumber + "/" + strconv.Itoa(p.SubSequenceNumber)
}

// valid reports whether p is a record position: a decimal sequence number and a non-negative
// sub-sequence number.
func (p Position) valid() bool {
	return validSequenceNumber(p.SequenceNumber) && p.SubSequenceNumber >= 0
}

func validSequenceNumber(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// compareSequenceNumbers compares two decimal sequence numbers numerically (they can exceed 2^64, so
// compare the digits without leading zeros: longer is larger, then lexicographically).
func compareSequenceNumbers(a, b string) int {
	a, b = trimZeros(a), trimZeros(b)
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

// comparePositions orders two record positions (sequence number, then sub-sequence number).
func comparePositions(a, b Position) int {
	if c := compareSequenceNumbers(a.SequenceNumber, b.SequenceNumber); c != 0 {
		return c
	}
	switch {
	case a.SubSequenceNumber < b.SubSequenceNumber:
		return -1
	case a.SubSequenceNumber > b.SubSequenceNumber:
		return 1
	}
	return 0
}

// positionFromLease reads a lease's checkpoint. initial supplies the timestamp of AT_TIMESTAMP.
func positionFromLease(l lease.Lease, initial Position) Position {
	switch l.Checkpoint {
	case "":
		return initial
	case lease.AtTimestamp:
		if initial.SequenceNumber == lease.AtTimestamp {
			return initial
		}
		return Position{SequenceNumber: lease.AtTimestamp} // no time configured: the consumer refuses it
	}
	return Position{SequenceNumber: l.Checkpoint, SubSequenceNumber: int(l.CheckpointSubSequence)}
}
