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
	res := convertResult{records: dst[:0]}
	for i := range in {
		kr := &in[i]
		seq := aws.ToString(kr.SequenceNumber)
		arrival := aws.ToTime(kr.ApproximateArrivalTimestamp)
		data := kr.Data
		if compression.IsFramed(data) {
			d, ok, err := c.dec.Decode(data)
			if err != nil {
				c.corrupt(seq, err)
			}
			if ok {
				data = d
			}
		}
		if !aggregation.IsAggregated(data) {
			res.add(c, Record{
				PartitionKey: aws.ToString(kr.PartitionKey), Data: data,
				ApproximateArrival: arrival, Position: Position{SequenceNumber: seq},
			}, false)
			continue
		}
		subs, err := aggregation.Deaggregate(data)
		if err != nil { // corrupt aggregate: one plain record, as the Java KCL delivers it
			c.corrupt(seq, err)
			res.add(c, Record{
				PartitionKey: aws.ToString(kr.PartitionKey), Data: data,
				ApproximateArrival: arrival, Position: Position{SequenceNumber: seq},
			}, false)
			continue
		}
		res.records = slices.Grow(res.records, len(subs))
		for j := range subs {
			s := &subs[j]
			res.add(c, Record{
				PartitionKey: s.PartitionKey, ExplicitHashKey: s.ExplicitHashKey, Data: s.Data,
				ApproximateArrival: arrival, Aggregated: true,
				Position: Position{SequenceNumber: seq, SubSequenceNumber: s.SubSequenceNumber},
			}, true)
		}
	}
	if res.filtered > 0 {
		c.hooks.onFiltered(c.shardID, res.filtered)
		c.log.LogAttrs(context.Background(), slog.LevelDebug, "user records outside the shard's hash range dropped",
			slog.Int("count", res.filtered))
	}
	return res
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
