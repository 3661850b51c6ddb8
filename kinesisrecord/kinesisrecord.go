// Package kinesisrecord turns a Kinesis record into the user records a consumer sees, the way the
// Java KCL sees them, so that every reader in the toolkit (kcl workers, the shardwise CLI, Lambda
// handlers) delivers the same records from the same data.
//
// For each Kinesis record, in this order:
//
//  1. A Shardwise compression frame ([compression.IsFramed]) is decompressed. A frame that does not
//     decode is passed on as it came, and reported.
//  2. A KPL aggregate (the aggregation magic, a body and an MD5 trailer) is split into its user
//     records, numbered by sub-sequence number from 0. Data with the magic but a wrong trailer (or
//     too short to hold one) is a plain record, as the Java KCL treats it, and is not reported; an
//     aggregate whose trailer matches but whose body does not parse is delivered as one plain record
//     and reported.
//  3. When the shard's hash key range is given, each user record of an aggregate whose effective hash
//     key (its explicit hash key, or the MD5 of its partition key) lies outside the range, or is not
//     a valid key, is marked [UserRecord.OutsideRange]: the Java KCL drops it, since a KPL aggregate
//     built before a reshard can carry records that now belong to a sibling shard. Plain records are
//     never marked. Streams with the AUTO record distribution place records regardless of their keys,
//     so readers of such streams pass no range.
//
// A [Decoder] reuses its memory from record to record: decoding allocates only what
// [aggregation.AppendDeaggregate] allocates for an aggregate's key tables. User records' Data share
// memory with the Kinesis record's data (or with the decompressed payload) and partition keys with
// the aggregate's key table.
package kinesisrecord

import (
	"crypto/md5"
	"errors"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
)

// Record is a Kinesis record as GetRecords, SubscribeToShard or a Lambda event carries it.
type Record struct {
	Data           []byte // as stored: plain, a KPL aggregate, or compressed (base64 already decoded)
	PartitionKey   string // the key it was put with (an aggregate's first key)
	SequenceNumber string // the Kinesis sequence number, shared by every user record of an aggregate
}

// UserRecord is one record as a consumer sees it: a user record of a KPL aggregate, or the whole
// Kinesis record.
type UserRecord struct {
	// PartitionKey is the user record's key from the aggregate's key table, or the Kinesis record's.
	PartitionKey string
	// ExplicitHashKey is the user record's explicit hash key from the aggregate; "" for plain records
	// (Kinesis does not return the explicit hash key of a record).
	ExplicitHashKey string
	// Data is the payload, decompressed.
	Data []byte
	// SequenceNumber is the Kinesis record's; the user records of one aggregate share it.
	SequenceNumber string
	// SubSequenceNumber is the user record's index in its aggregate, 0 for plain records.
	SubSequenceNumber int
	// Aggregated reports whether the record came out of a KPL aggregate.
	Aggregated bool
	// OutsideRange reports a user record of an aggregate whose effective hash key is outside the
	// range given to [Decoder.Each], or invalid: the Java KCL drops it.
	OutsideRange bool
}

// Decoder decodes Kinesis records. The zero value is ready to use and decompresses with
// [compression.Decode]'s shared decoder. A Decoder is not safe for concurrent use.
type Decoder struct {
	// Decompressor, when set, decompresses frames instead of compression.Decode (to bound the
	// decoded size differently).
	Decompressor *compression.Decoder

	subs []aggregation.UserRecord // reused: the user records of one aggregate

	// The last explicit hash key parsed: the user records of an aggregate usually share a few (KPL
	// key tables), so each is parsed once per aggregate rather than once per user record.
	lastEHK string
	lastKey aggregation.HashKey
}

// aggOverhead is the aggregation magic and MD5 trailer: an aggregate is longer than this.
const aggOverhead = len(aggregation.Magic) + md5.Size

// Each calls yield with each user record of r, in order. When rng is not nil, the user records of an
// aggregate outside it are yielded with OutsideRange set; the caller drops them (the Java KCL does)
// or not. Each stops early when yield returns false.
//
// The error is non-nil when r looked like a compression frame or a KPL aggregate (with a matching
// checksum) but did not decode: r's data was then yielded as it came, as one plain record. It wraps
// [compression.ErrCorrupt], [compression.ErrTooLarge] or [aggregation.ErrCorrupt]. The yielded
// records share memory with r.Data and are valid as long as it is; the decompressed payload is fresh
// memory.
func (d *Decoder) Each(r Record, rng *aggregation.HashRange, yield func(UserRecord) bool) error {
	data := r.Data
	var derr error
	if compression.IsFramed(data) {
		var out []byte
		var ok bool
		if d.Decompressor != nil {
			out, ok, derr = d.Decompressor.Decode(data)
		} else {
			out, ok, derr = compression.Decode(data)
		}
		if ok {
			data = out
		}
	}
	if len(data) > aggOverhead && string(data[:len(aggregation.Magic)]) == aggregation.Magic {
		subs, err := aggregation.AppendDeaggregate(d.subs[:0], data)
		switch {
		case err == nil:
			for i := range subs {
				s := &subs[i]
				u := UserRecord{
					PartitionKey: s.PartitionKey, ExplicitHashKey: s.ExplicitHashKey, Data: s.Data,
					SequenceNumber: r.SequenceNumber, SubSequenceNumber: s.SubSequenceNumber, Aggregated: true,
				}
				if rng != nil {
					k, ok := d.hashKey(s.PartitionKey, s.ExplicitHashKey)
					u.OutsideRange = !ok || !rng.Contains(k)
				}
				if !yield(u) {
					break
				}
			}
			clear(subs) // drop references to this record's data
			d.subs = subs[:0]
			return derr
		case errors.Is(err, aggregation.ErrChecksum):
			// The magic without a matching checksum: plain data, as the Java KCL sees it.
		default:
			derr = err
		}
	}
	yield(UserRecord{PartitionKey: r.PartitionKey, Data: data, SequenceNumber: r.SequenceNumber})
	return derr
}

// Append appends the user records of r to dst and returns it, with the error of [Decoder.Each].
// When rng is not nil, user records outside it are left out, as the Java KCL drops them.
func (d *Decoder) Append(dst []UserRecord, r Record, rng *aggregation.HashRange) ([]UserRecord, error) {
	err := d.Each(r, rng, func(u UserRecord) bool {
		if !u.OutsideRange {
			dst = append(dst, u)
		}
		return true
	})
	return dst, err
}

// hashKey returns the effective hash key of a user record and whether it is valid.
func (d *Decoder) hashKey(pk, ehk string) (aggregation.HashKey, bool) {
	if ehk == "" {
		return aggregation.PartitionKeyHash(pk), true
	}
	if ehk == d.lastEHK {
		return d.lastKey, true
	}
	k, err := aggregation.EffectiveHashKey(pk, ehk)
	if err != nil {
		return k, false
	}
	d.lastEHK, d.lastKey = ehk, k
	return k, true
}
