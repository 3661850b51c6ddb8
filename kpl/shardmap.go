package kpl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
)

// minForcedRefreshGap spaces refreshes triggered by wrong-shard results, so a burst of them costs
// one ListShards pass.
const minForcedRefreshGap = 200 * time.Millisecond

// refresher owns the shard map: it learns the stream's maximum record size, lists the shards at
// start, then periodically (with ±20% jitter) and whenever asked; failures retry with backoff.
func (p *Producer) refresher() {
	defer p.wg.Done()
	ctx := p.baseCtx
	if p.cfg.maxRecordSizeFixed == 0 {
		p.describe(ctx)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	reason := "initial"
	fails := 0
	for {
		start := time.Now()
		m, ranges, err := p.listShards(ctx)
		if ctx.Err() != nil {
			return
		}
		ev := ShardMapEvent{Reason: reason, Duration: time.Since(start), Err: err}
		var wait time.Duration
		if err != nil {
			fails++
			wait = p.retry.Delay(fails - 1)
			var nf *types.ResourceNotFoundException
			if errors.As(err, &nf) {
				// No such stream: records waiting for a map would only expire; fail them now.
				var out outcomes
				p.mu.Lock()
				for _, u := range p.unrouted {
					out.fail(u, &RecordError{Err: err, Code: codeResourceNotFound, Message: aws.ToString(nf.Message), Attempts: u.prior})
				}
				p.unrouted = nil
				p.mu.Unlock()
				p.finish(out)
			}
			p.log.LogAttrs(ctx, slog.LevelWarn, "kpl shard map refresh failed",
				slog.String("reason", reason), slog.Int("attempt", fails), slog.String("err", err.Error()))
		} else {
			fails = 0
			ev.OpenShards = m.Len()
			var out outcomes
			p.mu.Lock()
			if !p.closed {
				p.applyMapLocked(m, ranges, time.Now(), &out)
			}
			p.mu.Unlock()
			p.finish(out)
			p.wake()
			p.log.LogAttrs(ctx, slog.LevelDebug, "kpl shard map refreshed",
				slog.String("reason", reason), slog.Int("open_shards", m.Len()))
			wait = p.cfg.refreshInterval*4/5 + rand.N(p.cfg.refreshInterval*2/5+1)
		}
		for _, h := range p.hooks.shardMap {
			h.OnShardMapRefreshed(p.stream, ev)
		}
		timer.Reset(wait)
		reason = "periodic"
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case reason = <-p.refresh:
			// Wrong-shard bursts: one refresh per gap is enough.
			if gap := minForcedRefreshGap - time.Since(start); gap > 0 {
				timer.Reset(gap)
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		}
	}
}

// describe learns the stream's maximum record size; on failure (e.g. no permission) it assumes
// the historical 1 MiB.
func (p *Producer) describe(ctx context.Context) {
	in := &kinesis.DescribeStreamSummaryInput{}
	if p.isARN {
		in.StreamARN = aws.String(p.stream)
	} else {
		in.StreamName = aws.String(p.stream)
	}
	size := 1 << 20
	for attempt := 0; attempt < 3; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, p.cfg.requestTimeout)
		out, err := p.client.DescribeStreamSummary(cctx, in)
		cancel()
		if err == nil {
			if d := out.StreamDescriptionSummary; d != nil && d.MaxRecordSizeInKiB != nil && *d.MaxRecordSizeInKiB > 0 {
				size = int(*d.MaxRecordSizeInKiB) << 10
			}
			break
		}
		if ctx.Err() != nil {
			return
		}
		p.log.LogAttrs(ctx, slog.LevelWarn, "kpl DescribeStreamSummary failed; assuming 1 MiB records",
			slog.String("err", err.Error()))
		var nf *types.ResourceNotFoundException
		var denied interface{ ErrorCode() string }
		if errors.As(err, &nf) || (errors.As(err, &denied) && denied.ErrorCode() == "AccessDeniedException") {
			break
		}
		t := time.NewTimer(p.retry.Delay(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	p.mu.Lock()
	p.maxRecordSize = size
	p.mu.Unlock()
}

// listShards lists every shard of the stream (following NextToken, which must be sent without the
// stream name) and returns a map of the open ones plus the ranges of all, closed ones included, for
// judging where wrong-shard records landed.
func (p *Producer) listShards(ctx context.Context) (*aggregation.ShardMap, map[string]aggregation.HashRange, error) {
	in := &kinesis.ListShardsInput{}
	if p.isARN {
		in.StreamARN = aws.String(p.stream)
	} else {
		in.StreamName = aws.String(p.stream)
	}
	ranges := map[string]aggregation.HashRange{}
	var open []aggregation.ShardRange
	for pages := 0; ; pages++ {
		if pages > 10000 {
			return nil, nil, errors.New("kpl: ListShards pagination does not end")
		}
		cctx, cancel := context.WithTimeout(ctx, p.cfg.requestTimeout)
		out, err := p.client.ListShards(cctx, in)
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("kpl: ListShards: %w", err)
		}
		for _, sh := range out.Shards {
			id := aws.ToString(sh.ShardId)
			if sh.HashKeyRange == nil {
				return nil, nil, fmt.Errorf("kpl: ListShards: shard %s has no hash key range", id)
			}
			rng, err := aggregation.ParseHashRange(aws.ToString(sh.HashKeyRange.StartingHashKey), aws.ToString(sh.HashKeyRange.EndingHashKey))
			if err != nil {
				return nil, nil, fmt.Errorf("kpl: ListShards: shard %s: %w", id, err)
			}
			ranges[id] = rng
			if sh.SequenceNumberRange == nil || sh.SequenceNumberRange.EndingSequenceNumber == nil {
				open = append(open, aggregation.ShardRange{ShardID: id, Range: rng})
			}
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	if len(open) == 0 {
		return nil, nil, errors.New("kpl: ListShards: the stream has no open shard")
	}
	m, err := aggregation.NewShardMap(open)
	if err != nil {
		return nil, nil, fmt.Errorf("kpl: %w", err)
	}
	return m, ranges, nil
}
