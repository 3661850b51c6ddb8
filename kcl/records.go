package kcl

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
	"github.com/shardwise/shardwise/kinesisrecord"
)

// converter turns the Kinesis records of one shard into the user records handed to its processor:
// the view of package kinesisrecord (decompress, deaggregate, mark user records outside the shard's
// hash range), dropping the marked ones one by one, and skipping what a restart from a checkpoint has
// already processed. It belongs to one shard consumer and is not safe for concurrent use.
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

	view kinesisrecord.Decoder // its Decompressor is dec
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
	c.view.Decompressor = c.dec
	var rng *aggregation.HashRange
	if c.hasRange && !c.noFilter {
		rng = &c.rng
	}
	// A 10 MiB batch of small aggregated records holds hundreds of thousands of user records. Once
	// the first aggregate shows how many user records a byte holds, the result is grown once to what
	// the whole batch should need, instead of doubling (and copying) its way there.
	batchBytes, seenBytes, sized := 0, 0, false
	for i := range in {
		batchBytes += len(in[i].Data)
	}
	var arrival time.Time
	aggregated := false // the last Kinesis record was an aggregate
	add := func(u kinesisrecord.UserRecord) bool {
		aggregated = u.Aggregated
		res.add(c, Record{
			PartitionKey: u.PartitionKey, ExplicitHashKey: u.ExplicitHashKey, Data: u.Data,
			ApproximateArrival: arrival, Aggregated: u.Aggregated,
			Position: Position{SequenceNumber: u.SequenceNumber, SubSequenceNumber: u.SubSequenceNumber},
		}, u.OutsideRange)
		return true
	}
	for i := range in {
		kr := &in[i]
		seenBytes += len(kr.Data)
		arrival = aws.ToTime(kr.ApproximateArrivalTimestamp)
		seq := aws.ToString(kr.SequenceNumber)
		before := len(res.records) + res.filtered + res.skipped
		if err := c.view.Each(kinesisrecord.Record{Data: kr.Data, PartitionKey: aws.ToString(kr.PartitionKey), SequenceNumber: seq}, rng, add); err != nil {
			// Corrupt data: one plain record, as the Java KCL delivers it.
			c.corrupt(seq, err)
		}
		if n := len(res.records) + res.filtered + res.skipped - before; !sized && aggregated && seenBytes < batchBytes {
			sized = true
			need := len(res.records) + int(float64(n)*float64(batchBytes-seenBytes)/float64(seenBytes)*1.05)
			res.records = slices.Grow(res.records, need-len(res.records))
		}
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

// add appends r unless it was processed before a restart or lies outside the shard (outside: a
// sub-record the view marked).
func (res *convertResult) add(c *converter, r Record, outside bool) {
	res.last, res.hasLast = r.Position, true
	if c.skipping {
		if comparePositions(r.Position, c.skipThrough) <= 0 {
			res.skipped++
			return
		}
		c.skipping = false
	}
	if outside {
		res.filtered++
		r.Data = nil
		res.dropped = append(res.dropped, r)
		return
	}
	res.records = append(res.records, r)
	res.bytes += int64(len(r.Data))
}

// rangePosition says where a filtered user record's hash key lies relative to the shard's range
// ("below the range", "above the range", "invalid"), for logging without the key itself.
func (c *converter) rangePosition(r Record) string {
	k, err := aggregation.EffectiveHashKey(r.PartitionKey, r.ExplicitHashKey)
	switch {
	case err != nil:
		return "invalid"
	case k.Compare(c.rng.Start) < 0:
		return "below the range"
	case k.Compare(c.rng.End) > 0:
		return "above the range"
	}
	return "inside the range" // not filtered by range; kept for completeness
}

func (c *converter) corrupt(seq string, err error) {
	c.hooks.onCorrupt(c.shardID, seq, err)
	c.log.LogAttrs(context.Background(), slog.LevelWarn, "corrupt record delivered as one plain record",
		slog.String("seq", seq), slog.Any("err", err))
}
