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
	"github.com/shardwise/shardwise/internal/awserr"
	"github.com/shardwise/shardwise/internal/backoff"
)

const (
	// minForcedRefreshGap spaces shard-map refreshes triggered by wrong-shard results and
	// unroutable records, so a burst of them costs one ListShards pass.
	minForcedRefreshGap = time.Second
	// minRecheckGap spaces DescribeStreamSummary calls triggered by events (wrong-shard streaks,
	// records refused as invalid): the operation is limited to 20 calls per second per account.
	minRecheckGap = 5 * time.Second
	// wrongShardRecheck is the number of wrong-shard results under one shard map after which the
	// stream's record distribution is described again (it may have been switched to AUTO).
	wrongShardRecheck = 2
)

// describeRetry spaces failed DescribeStreamSummary calls (throttled at start by a fleet deploy,
// for instance): the producer works meanwhile, with the stream as the judge of record sizes.
var describeRetry = backoff.Policy{Base: time.Second, Max: 30 * time.Second}

// jitter returns d ±20%.
func jitter(d time.Duration) time.Duration { return d*4/5 + rand.N(d*2/5+1) }

// refresher owns the shard map: it lists the open shards (ShardFilter AT_LATEST) once the first
// DescribeStreamSummary attempt has told the record distribution, then periodically (±20% jitter)
// and whenever asked; failures retry with backoff. Wrong-shard results on shards the open map does
// not know are resolved by one listing of the whole lineage.
func (p *Producer) refresher() {
	defer p.wg.Done()
	if p.cfg.noPredict {
		return // DisableShardPrediction: no shard map at all
	}
	ctx := p.baseCtx
	select {
	case <-p.described:
	case <-ctx.Done():
		return
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	reason := "initial"
	fails := 0
	for {
		start := time.Now()
		m, ranges, err := p.listShards(ctx, true)
		if ctx.Err() != nil {
			return
		}
		ev := ShardMapEvent{Stream: p.stream, Reason: reason, Duration: time.Since(start), Err: err}
		var wait time.Duration
		if err != nil {
			fails++
			wait = p.retry.Delay(fails - 1)
			if awserr.IsNotFound(err) {
				// No such stream: records waiting for a map would only expire; fail them now.
				var out outcomes
				p.mu.Lock()
				for _, u := range p.unrouted {
					out.fail(u, &RecordError{Err: err, Code: codeResourceNotFound, Message: awserr.Classify(err).Message, Attempts: u.prior()})
				}
				p.unrouted = nil
				p.mu.Unlock()
				p.finish(out)
			}
			level := slog.LevelWarn
			if awserr.Classify(err).Code == "AccessDeniedException" {
				// A PutRecords-only policy: send without prediction, and look again now and then.
				wait = max(wait, p.cfg.refreshInterval)
				p.setPrediction(ctx, false, "ListShards denied") // logs the change once
				level = slog.LevelDebug
			}
			p.log.LogAttrs(ctx, level, "kpl shard map refresh failed",
				slog.String("reason", reason), slog.Int("attempt", fails), slog.String("err", err.Error()))
		} else {
			p.setPrediction(ctx, true, "ListShards allowed")
			fails = 0
			ev.OpenShards = m.Len()
			var out outcomes
			p.mu.Lock()
			unknown := false
			if !p.closed {
				p.applyMapLocked(m, ranges, time.Now(), &out)
				unknown = len(p.pendingWrong) > 0
			}
			inferred := p.autoInferred
			p.autoInferred = false
			p.mu.Unlock()
			p.finish(out)
			if inferred {
				p.log.LogAttrs(ctx, slog.LevelWarn, "kpl records keep landing on other shards and DescribeStreamSummary is denied: taking the stream for AUTO (aggregation and shard prediction off); grant kinesis:DescribeStreamSummary to know for sure")
				for _, h := range p.hooks.distribution {
					h.OnDistributionChanged(DistributionEvent{Stream: p.stream, Strategy: string(types.RecordDistributionStrategyAuto), Reason: "inferred"})
				}
			}
			if unknown {
				p.resolvePendingWrong(ctx)
			}
			p.wake()
			p.log.LogAttrs(ctx, slog.LevelDebug, "kpl shard map refreshed",
				slog.String("reason", reason), slog.Int("open_shards", m.Len()))
			wait = jitter(p.cfg.refreshInterval)
		}
		for _, h := range p.hooks.shardMap {
			h.OnShardMapRefreshed(ev)
		}
		timer.Reset(wait)
		reason = "periodic"
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case reason = <-p.refresh:
			// Bursts of wrong-shard results: one refresh per gap is enough.
			if !sleepUntil(ctx, timer, start.Add(minForcedRefreshGap)) {
				return
			}
		}
	}
}

// setPrediction turns shard prediction on or off after ListShards was allowed or denied, and
// reports a change (log and HookDistributionChanged).
func (p *Producer) setPrediction(ctx context.Context, on bool, reason string) {
	var out outcomes
	p.mu.Lock()
	changed := p.noPredict == on && !p.closed
	if changed {
		p.noPredict = !on
		p.relayoutLocked(time.Now(), &out)
	}
	auto := p.auto
	p.mu.Unlock()
	p.finish(out)
	if !changed {
		return
	}
	if on {
		p.log.LogAttrs(ctx, slog.LevelWarn, "kpl ListShards works again: shard prediction back on", slog.String("reason", reason))
	} else {
		p.log.LogAttrs(ctx, slog.LevelWarn, "kpl cannot list shards (the IAM policy lacks kinesis:ListShards): sending without shard prediction or aggregation",
			slog.String("reason", reason))
	}
	strategy := string(types.RecordDistributionStrategyUserPartitionKey)
	if auto {
		strategy = string(types.RecordDistributionStrategyAuto)
	}
	for _, h := range p.hooks.distribution {
		h.OnDistributionChanged(DistributionEvent{Stream: p.stream, Strategy: strategy, Predicting: on && !auto, Reason: reason})
	}
	p.wake()
}

// sleepUntil waits on timer until t (at once when t has passed); false when ctx ended first.
func sleepUntil(ctx context.Context, timer *time.Timer, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer.Reset(d)
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// resolvePendingWrong learns the ranges of receiving shards the open map does not know (closed
// shards, or shards that closed between the call and the listing) from one listing of the whole
// lineage, then settles the aggregates that waited for them.
func (p *Producer) resolvePendingWrong(ctx context.Context) {
	_, ranges, err := p.listShards(ctx, false)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		p.log.LogAttrs(ctx, slog.LevelWarn, "kpl listing the shard lineage failed", slog.String("err", err.Error()))
		ranges = nil // the pending aggregates are resent whole
	}
	var out outcomes
	p.mu.Lock()
	if !p.closed {
		for id, r := range ranges {
			p.ranges[id] = r
		}
		var waiting []*userRec
		for _, w := range p.pendingWrong {
			waiting = append(waiting, p.splitWrongShard(w, &out)...)
		}
		p.pendingWrong = nil
		p.rerouteLocked(waiting, time.Now(), &out)
	}
	p.mu.Unlock()
	p.finish(out)
	p.wake() // the shards these aggregates fenced may send
}

// describer owns what DescribeStreamSummary tells: the stream's maximum record size and its record
// distribution. It describes the stream at start (the first shard map waits for that attempt, so an
// AUTO stream never sees aggregates), retries failures in the background with backoff, and describes
// again periodically and when asked (wrong-shard streaks, records refused as invalid).
func (p *Producer) describer() {
	defer p.wg.Done()
	ctx := p.baseCtx
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	reason := "initial"
	fails := 0
	for {
		start := time.Now()
		err := p.describe(ctx, reason)
		if reason == "initial" {
			close(p.described)
		}
		if ctx.Err() != nil {
			return
		}
		wait := jitter(p.cfg.describeInterval)
		if err != nil {
			fails++
			c := awserr.Classify(err)
			p.mu.Lock()
			p.describeDenied = c.Class == awserr.Terminal && !c.NotFound
			p.mu.Unlock()
			if c.Class != awserr.Terminal || c.NotFound {
				wait = min(wait, describeRetry.Delay(fails-1))
			}
			level := slog.LevelWarn
			if c.Code == "AccessDeniedException" && fails > 1 {
				level = slog.LevelDebug // a policy without the permission: said once is enough
			}
			p.log.LogAttrs(ctx, level, "kpl DescribeStreamSummary failed; the stream judges record sizes until it succeeds",
				slog.String("reason", reason), slog.Int("attempt", fails), slog.String("err", err.Error()))
		} else {
			fails = 0
		}
		timer.Reset(wait)
		reason = "periodic"
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case reason = <-p.recheck:
			if !sleepUntil(ctx, timer, start.Add(minRecheckGap)) {
				return
			}
		}
	}
}

// requestRecheck asks the describer to describe the stream again soon.
func (p *Producer) requestRecheck(reason string) {
	select {
	case p.recheck <- reason:
	default:
	}
}

// describe calls DescribeStreamSummary once and applies the answer: the maximum record size (1 MiB
// when the answer has none, as streams created before the setting existed) and the record
// distribution strategy.
func (p *Producer) describe(ctx context.Context, reason string) error {
	in := &kinesis.DescribeStreamSummaryInput{}
	if p.isARN {
		in.StreamARN = aws.String(p.stream)
	} else {
		in.StreamName = aws.String(p.stream)
	}
	cctx, cancel := context.WithTimeout(ctx, p.cfg.requestTimeout)
	out, err := p.client.DescribeStreamSummary(cctx, in)
	cancel()
	if err != nil {
		return err
	}
	d := out.StreamDescriptionSummary
	if d == nil {
		return errors.New("kpl: DescribeStreamSummary answered no StreamDescriptionSummary")
	}
	size := 1 << 20
	if d.MaxRecordSizeInKiB != nil && *d.MaxRecordSizeInKiB > 0 {
		size = int(*d.MaxRecordSizeInKiB) << 10
	}
	auto := d.RecordDistributionStrategy == types.RecordDistributionStrategyAuto
	var out2 outcomes
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.describeDenied = false
	if p.cfg.maxRecordSizeFixed == 0 {
		p.maxRecordSize = size
	}
	changed := auto != p.auto
	shards := int(aws.ToInt32(d.OpenShardCount))
	if changed || (shards != p.openShards && p.streamLevel()) {
		p.auto = auto
		p.wrongStreak = 0
		p.openShards = shards
		p.relayoutLocked(time.Now(), &out2)
	}
	p.openShards = shards
	p.mu.Unlock()
	p.finish(out2)
	if changed {
		strategy := string(d.RecordDistributionStrategy)
		if strategy == "" {
			strategy = string(types.RecordDistributionStrategyUserPartitionKey)
		}
		if auto {
			p.log.LogAttrs(ctx, slog.LevelWarn, "kpl stream distributes records itself (AUTO): aggregation and shard prediction off",
				slog.String("reason", reason))
		} else {
			p.log.LogAttrs(ctx, slog.LevelWarn, "kpl stream routes records by partition key again: aggregation and shard prediction on",
				slog.String("reason", reason))
		}
		predicting := !auto && !p.noPredictNow()
		for _, h := range p.hooks.distribution {
			h.OnDistributionChanged(DistributionEvent{Stream: p.stream, Strategy: strategy, Predicting: predicting, Reason: reason})
		}
		p.wake()
	}
	return nil
}

// listShards lists the stream's shards (following NextToken, which must be sent without the stream
// name): only the open ones with latest (ShardFilter AT_LATEST), else the whole lineage. It returns
// a map of the open shards plus the ranges of every shard listed.
func (p *Producer) listShards(ctx context.Context, latest bool) (*aggregation.ShardMap, map[string]aggregation.HashRange, error) {
	in := &kinesis.ListShardsInput{}
	if p.isARN {
		in.StreamARN = aws.String(p.stream)
	} else {
		in.StreamName = aws.String(p.stream)
	}
	if latest {
		in.ShardFilter = &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}
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

func (p *Producer) noPredictNow() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.noPredict
}
