package kcl

import (
	"context"
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

	scratch []decodedRecord          // reused by convert
	subs    []aggregation.UserRecord // reused by convert: every user record of a batch
}

// convertResult is what one GetRecords batch turned into.
type convertResult struct {
	records  []Record
	bytes    int64
	filtered int
	skipped  int
	// last is the position of the last user record seen in the batch, delivered or not (filtered and
	// skipped ones included), so checkpointing it never re-reads what was dropped.
	last    Position
	hasLast bool
}

// convert appends the user records of in to dst (reusing its capacity) and returns them.
func (c *converter) convert(in []types.Record, dst []Record) convertResult {
	// First decode every Kinesis record, so the result slice is sized once: a 10 MiB GetRecords batch
	// of small aggregated records holds hundreds of thousands of user records, and growing the slice
	// step by step would copy it several times over.
	decoded, subs := c.scratch[:0], c.subs[:0]
	total := 0
	for i := range in {
		kr := &in[i]
		d := decodedRecord{data: kr.Data}
		if compression.IsFramed(d.data) {
			out, ok, err := c.dec.Decode(d.data)
			if err != nil {
				c.corrupt(aws.ToString(kr.SequenceNumber), err)
			}
			if ok {
				d.data = out
			}
		}
		if aggregation.IsAggregated(d.data) {
			start := len(subs)
			var err error
			if subs, err = aggregation.AppendDeaggregate(subs, d.data); err != nil {
				// Corrupt aggregate: one plain record, as the Java KCL delivers it.
				c.corrupt(aws.ToString(kr.SequenceNumber), err)
			} else {
				d.start, d.end, d.aggregated = start, len(subs), true
			}
		}
		if d.aggregated {
			total += d.end - d.start
		} else {
			total++
		}
		decoded = append(decoded, d)
	}

	res := convertResult{records: slices.Grow(dst[:0], total)}
	for i := range in {
		kr, d := &in[i], &decoded[i]
		seq := aws.ToString(kr.SequenceNumber)
		arrival := aws.ToTime(kr.ApproximateArrivalTimestamp)
		if !d.aggregated {
			res.add(c, Record{
				PartitionKey: aws.ToString(kr.PartitionKey), Data: d.data,
				ApproximateArrival: arrival, Position: Position{SequenceNumber: seq},
			}, false)
			continue
		}
		for j := d.start; j < d.end; j++ {
			s := &subs[j]
			res.add(c, Record{
				PartitionKey: s.PartitionKey, ExplicitHashKey: s.ExplicitHashKey, Data: s.Data,
				ApproximateArrival: arrival, Aggregated: true,
				Position: Position{SequenceNumber: seq, SubSequenceNumber: s.SubSequenceNumber},
			}, true)
		}
	}
	clear(decoded) // drop references to this batch's data
	clear(subs)
	c.scratch, c.subs = decoded[:0], subs[:0]
	if res.filtered > 0 {
		c.hooks.onFiltered(c.shardID, res.filtered)
		c.log.LogAttrs(context.Background(), slog.LevelDebug, "user records outside the shard's hash range dropped",
			slog.Int("count", res.filtered))
	}
	return res
}

// decodedRecord is one Kinesis record after decompression and deaggregation.
type decodedRecord struct {
	data       []byte
	start, end int // its user records in converter.subs, when aggregated
	aggregated bool
}

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
	if sub && c.hasRange {
		k, ok := c.hashKey(r.PartitionKey, r.ExplicitHashKey)
		if !ok || !c.rng.Contains(k) {
			res.filtered++
			return
		}
	}
	res.records = append(res.records, r)
	res.bytes += int64(len(r.Data))
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
