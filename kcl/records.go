package kcl

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"log/slog"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
)

// converter turns the Kinesis records of one shard into the user records handed to its processor:
// decompress (Shardwise frame), deaggregate (KPL), drop user records outside the shard's hash range one by
// one, and skip what a restart from a checkpoint has already processed. It belongs to one shard consumer
// and is not safe for concurrent use.
type converter struct {
	shardID  string
	rng      aggregation.HashRange
	hasRange bool // false for leases without a hash range (old tables): nothing is filtered
	// noFilter is set per batch on streams with AUTO record distribution: every sub-record is
	// delivered, wherever its hash key lies.
	noFilter bool
	// skipThrough is the checkpoint a restart resumed AT: records at or before it were processed.
	skipThrough Position
	skipping    bool
	dec         *compression.Decoder
	hooks       *hooks
	log         *slog.Logger

	// The last explicit hash key parsed: the sub-records of an aggregate usually share one (KPL tables),
	// so it is parsed once per aggregate rather than once per user record.
	lastEHK string
	lastKey aggregation.HashKey

	subs []aggregation.UserRecord // reused by convert: the user records of one aggregate
}

// convertResult is what one GetRecords batch turned into.
type convertResult struct {
	records  []Record
	bytes    int64
	filtered int
	skipped  int
	dropped  []Record // the filtered records (Data cleared), reported one by one
	// last is the position of the last user record seen in the batch, delivered or not (filtered and
	// skipped ones included), so checkpointing it never re-reads what was dropped.
	last    Position
	hasLast bool
}

// convert appends the user records of in to dst (reusing its capacity) and returns them.
func (c *converter) convert(in []types.Record, dst []Record) convertResult {
	res := convertResult{records: dst[:0]}
	// A 10 MiB batch of small aggregated records holds hundreds of thousands of user records. Once
	// the first aggregate shows how many user records a byte holds, the result is grown once to what
	// the whole batch should need, instead of doubling (and copying) its way there.
	batchBytes, seenBytes, sized := 0, 0, false
	for i := range in {
		batchBytes += len(in[i].Data)
	}
	for i := range in {
		kr := &in[i]
		data := kr.Data
		seenBytes += len(data)
		if compression.IsFramed(data) {
			out, ok, err := c.dec.Decode(data)
			if err != nil {
				c.corrupt(aws.ToString(kr.SequenceNumber), err)
			}
			if ok {
				data = out
			}
		}
		seq := aws.ToString(kr.SequenceNumber)
		arrival := aws.ToTime(kr.ApproximateArrivalTimestamp)
		if len(data) > aggOverhead && bytes.HasPrefix(data, aggregation.Magic[:]) {
			subs, err := aggregation.AppendDeaggregate(c.subs[:0], data)
			switch {
			case err == nil:
				if !sized && seenBytes < batchBytes {
					sized = true
					need := len(res.records) + len(subs) + int(float64(len(subs))*float64(batchBytes-seenBytes)/float64(seenBytes)*1.05)
					res.records = slices.Grow(res.records, need-len(res.records))
				}
				for j := range subs {
					s := &subs[j]
					res.add(c, Record{
						PartitionKey: s.PartitionKey, ExplicitHashKey: s.ExplicitHashKey, Data: s.Data,
						ApproximateArrival: arrival, Aggregated: true,
						Position: Position{SequenceNumber: seq, SubSequenceNumber: s.SubSequenceNumber},
					}, true)
				}
				clear(subs) // drop references to this batch's data
				c.subs = subs[:0]
				continue
			case errors.Is(err, aggregation.ErrChecksum):
				// The magic but not the checksum of an aggregate: a plain record, as the Java KCL sees it.
			default:
				// Corrupt aggregate: one plain record, as the Java KCL delivers it.
				c.corrupt(seq, err)
			}
		}
		res.add(c, Record{
			PartitionKey: aws.ToString(kr.PartitionKey), Data: data,
			ApproximateArrival: arrival, Position: Position{SequenceNumber: seq},
		}, false)
	}
	if res.filtered > 0 {
		// Never silent: each dropped user record is logged and reported.
		for _, r := range res.dropped {
			// No partition key, explicit hash key or data: only where the record is and where its hash
			// key falls relative to the shard's range.
			c.log.LogAttrs(context.Background(), slog.LevelWarn, "user record outside the shard's hash range dropped",
				slog.String("seq", r.Position.SequenceNumber), slog.Int("sub_seq", r.Position.SubSequenceNumber),
				slog.Bool("explicit_hash_key", r.ExplicitHashKey != ""), slog.String("hash_key", c.rangePosition(r)))
			c.hooks.onDropped(DroppedEvent{ShardID: c.shardID, Position: r.Position, PartitionKey: r.PartitionKey, Reason: dropOutsideRange})
		}
		c.hooks.onFiltered(c.shardID, res.filtered)
	}
	return res
}

// dropOutsideRange is DroppedEvent.Reason for a sub-record outside the shard's hash key range.
const dropOutsideRange = "hash key outside the shard's range"

// aggOverhead is the magic and MD5 trailer around an aggregate's body.
const aggOverhead = len(aggregation.Magic) + md5.Size

// add appends r unless it was processed before a restart or (for sub-records) lies outside the shard.
func (res *convertResult) add(c *converter, r Record, sub bool) {
	res.last, res.hasLast = r.Position, true
	if c.skipping {
		if comparePositions(r.Position, c.skipThrough) <= 0 {
			res.skipped++
			return
		}
		c.skipping = false
	}
	if sub && c.hasRange && !c.noFilter {
		k, ok := c.hashKey(r.PartitionKey, r.ExplicitHashKey)
		if !ok || !c.rng.Contains(k) {
			res.filtered++
			r.Data = nil
			res.dropped = append(res.dropped, r)
			return
		}
	}
	res.records = append(res.records, r)
	res.bytes += int64(len(r.Data))
}

// rangePosition says where a filtered user record's hash key lies relative to the shard's range
// ("below the range", "above the range", "invalid"), for logging without the key itself.
func (c *converter) rangePosition(r Record) string {
	k, ok := c.hashKey(r.PartitionKey, r.ExplicitHashKey)
	switch {
	case !ok:
		return "invalid"
	case k.Compare(c.rng.Start) < 0:
		return "below the range"
	case k.Compare(c.rng.End) > 0:
		return "above the range"
	}
	return "inside the range" // not filtered by range; kept for completeness
}

// hashKey returns the effective hash key of a user record; false when it is invalid.
func (c *converter) hashKey(pk, ehk string) (aggregation.HashKey, bool) {
	if ehk == "" {
		return aggregation.PartitionKeyHash(pk), true
	}
	if ehk == c.lastEHK {
		return c.lastKey, true
	}
	k, err := aggregation.EffectiveHashKey(pk, ehk)
	if err != nil {
		return k, false
	}
	c.lastEHK, c.lastKey = ehk, k
	return k, true
}

func (c *converter) corrupt(seq string, err error) {
	c.hooks.onCorrupt(c.shardID, seq, err)
	c.log.LogAttrs(context.Background(), slog.LevelWarn, "corrupt record delivered as one plain record",
		slog.String("seq", seq), slog.Any("err", err))
}
