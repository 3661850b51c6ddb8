package kcl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/internal/awserr"
	"github.com/shardwise/shardwise/internal/backoff"
	"github.com/shardwise/shardwise/internal/kinesisjson"
)

// errRetrievalDone is returned by retriever.Next after the shard-end batch.
var errRetrievalDone = errors.New("kcl: retrieval finished")

// minPollInterval keeps a shard at or under the GetRecords limit of 5 calls per second.
const minPollInterval = 200 * time.Millisecond

// notFoundLimit is how many ResourceNotFoundExceptions in a row, for a shard ListShards still shows
// closed, make it count as gone. A shard ListShards shows open is never given up on.
const notFoundLimit = 3

// poller is the polling retriever: one goroutine per shard calls GetRecords and hands batches over a
// channel whose capacity is the prefetch bound, so at most prefetch batches wait for the processor;
// it polls again only while fewer than PrefetchBytes bytes wait, and within the worker's byte budget.
type poller struct {
	kc         KinesisAPI
	rc         retrievalConfig
	cfg        *config
	maxRecords int32
	throttle   backoff.Policy
	budget     *byteBudget
	hooks      *hooks
	log        *slog.Logger

	out    chan batch
	queued atomic.Int64  // bytes of the batches in out
	taken  chan struct{} // signalled (capacity 1) when Next takes a batch
	held   int64         // bytes of the batch last returned by Next; caller of Next only
	done   chan struct{} // closed when the goroutine exits; err is set before
	err    error
	cancel context.CancelFunc
	once   sync.Once
}

func newPoller(ctx context.Context, kc KinesisAPI, rc retrievalConfig, cfg *config, budget *byteBudget, h *hooks, log *slog.Logger) *poller {
	ctx, cancel := context.WithCancel(ctx)
	p := &poller{
		kc: kc, rc: rc, cfg: cfg, maxRecords: int32(cfg.maxRecords),
		throttle: backoff.Policy{Base: max(cfg.pollInterval, minPollInterval), Max: cfg.maxThrottleBackoff},
		budget:   budget, hooks: h, log: log,
		out:   make(chan batch, cfg.prefetch),
		taken: make(chan struct{}, 1),
		done:  make(chan struct{}), cancel: cancel,
	}
	go p.run(ctx)
	return p
}

// Next returns the next batch. The previous batch's bytes count against the worker's budget until
// Next is called again (the processor is done with it then).
func (p *poller) Next(ctx context.Context) (batch, error) {
	p.budget.release(p.held)
	p.held = 0
	select {
	case b, ok := <-p.out:
		if ok {
			p.queued.Add(-b.bytes)
			p.held = b.bytes
			select {
			case p.taken <- struct{}{}:
			default:
			}
			return b, nil
		}
		<-p.done
		if p.err != nil {
			return batch{}, p.err
		}
		return batch{}, errRetrievalDone
	case <-ctx.Done():
		return batch{}, ctx.Err()
	}
}

// Close stops the goroutine and gives back the bytes of every batch it fetched.
func (p *poller) Close() {
	p.once.Do(func() {
		p.cancel()
		<-p.done
		for b := range p.out {
			p.budget.release(b.bytes)
		}
		p.budget.release(p.held)
		p.held = 0
	})
	<-p.done
}

func (p *poller) run(ctx context.Context) {
	defer close(p.done)
	defer close(p.out)
	p.err = p.loop(ctx)
	if ctx.Err() != nil {
		p.err = nil // closed: not a failure
	}
}

// loop runs until shard end (returns nil), the shard is gone (its error), or ctx ends.
func (p *poller) loop(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wait := func(d time.Duration) bool {
		if d <= 0 {
			return ctx.Err() == nil
		}
		timer.Reset(d)
		select {
		case <-timer.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var (
		lastFetched string // sequence number of the last record fetched (and queued or delivered)
		iterator    string // "" until made, and again after it expired
		failures    int
		throttled   int  // GetRecords throttled in a row (logged once per streak)
		notFound    int  // ResourceNotFoundExceptions in a row for a shard listed closed
		nullRetried bool // the last answer had a null NextShardIterator without ChildShards (asked again)
	)
	// retry backs off after a failed call; false when ctx ended.
	retry := func(d time.Duration) bool {
		failures++
		return wait(max(d, minPollInterval))
	}
	// gone decides what a ResourceNotFoundException means: the shard is gone (nil error returned to
	// end retrieval with err) only when ListShards no longer lists it, or lists it closed
	// notFoundLimit times in a row; a shard listed open is retried for as long as it takes.
	gone := func(err error) (bool, error) {
		shards, lerr := listShards(ctx, p.kc, p.rc.stream, p.cfg.callTimeout)
		if lerr != nil {
			p.log.LogAttrs(ctx, slog.LevelWarn, "shard not found, and ListShards failed to confirm it; retrying",
				slog.Any("err", err), slog.Any("list_err", lerr))
			return false, nil
		}
		i := slices.IndexFunc(shards, func(s shardInfo) bool { return s.id == p.rc.shardID })
		switch {
		case i < 0:
			return true, fmt.Errorf("kcl: shard %s is not listed: %w", p.rc.shardID, err)
		case shards[i].open:
			notFound = 0
			p.log.LogAttrs(ctx, slog.LevelWarn, "ResourceNotFoundException for a shard ListShards shows open; retrying",
				slog.Any("err", err))
			return false, nil
		}
		notFound++
		if notFound >= notFoundLimit {
			return true, fmt.Errorf("kcl: closed shard %s not found %d times: %w", p.rc.shardID, notFound, err)
		}
		p.log.LogAttrs(ctx, slog.LevelWarn, "ResourceNotFoundException for a closed shard; confirming again",
			slog.Any("err", err), slog.Int("times", notFound))
		return false, nil
	}
	for {
		// Prefetch bounds: wait while PrefetchBytes wait for the processor.
		for p.queued.Load() >= p.cfg.prefetchBytes {
			select {
			case <-p.taken:
			case <-ctx.Done():
				return nil
			}
		}
		if iterator == "" {
			it, err := p.iterator(ctx, lastFetched)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil && awserr.IsNotFound(err):
				if isGone, gerr := gone(err); isGone {
					return gerr
				}
				if !retry(p.throttle.Delay(failures)) {
					return nil
				}
				continue
			case err != nil:
				d := p.throttle.Delay(failures)
				p.log.LogAttrs(ctx, slog.LevelWarn, "GetShardIterator failed; retrying",
					slog.Any("err", err), slog.Duration("backoff", d))
				if !retry(d) {
					return nil
				}
				continue
			}
			iterator = it
		}
		// The worker's budget: a call in flight may take callReserve; what its answer does not keep
		// is given back at once.
		if !p.budget.acquire(ctx, callReserve) {
			return nil
		}
		callStart := time.Now()
		gctx, cancel := callCtx(ctx, p.cfg.callTimeout)
		out, err := p.kc.GetRecords(gctx, &kinesis.GetRecordsInput{
			ShardIterator: aws.String(iterator), Limit: aws.Int32(p.maxRecords),
		}, noSDKRetries, kinesisjson.FastGetRecords)
		cancel()
		if err != nil {
			p.budget.release(callReserve)
			if ctx.Err() != nil {
				return nil
			}
			// Anything but an expired iterator or a missing shard is retried with backoff, as the Java
			// KCL does for GetRecords (KMS key state changes, access errors and timeouts included).
			info := awserr.Classify(err)
			var d time.Duration
			switch {
			case info.ExpiredIterator:
				p.hooks.onExpired(p.rc.shardID)
				p.log.LogAttrs(ctx, slog.LevelInfo, "shard iterator expired; renewing after the last fetched record",
					slog.String("seq", lastFetched))
				iterator = ""
			case info.Class == awserr.Throttle:
				d = p.throttle.Delay(failures)
				p.hooks.onThrottled(p.rc.shardID, d)
				level := slog.LevelDebug
				if throttled == 0 {
					level = slog.LevelWarn
				}
				throttled++
				p.log.LogAttrs(ctx, level, "GetRecords throttled; backing off (repeats logged at Debug until a call succeeds)",
					slog.Duration("backoff", d), slog.Int("in_a_row", throttled))
			case info.NotFound:
				isGone, gerr := gone(err)
				if isGone {
					return gerr
				}
				iterator = ""
				d = p.throttle.Delay(failures)
			case errors.Is(err, context.DeadlineExceeded):
				d = p.throttle.Delay(failures)
				p.log.LogAttrs(ctx, slog.LevelWarn, "GetRecords not answered within the call timeout; retrying",
					slog.Duration("timeout", p.cfg.callTimeout), slog.Duration("backoff", d))
			default:
				d = p.throttle.Delay(failures)
				p.log.LogAttrs(ctx, slog.LevelWarn, "GetRecords failed; retrying",
					slog.Any("err", err), slog.Duration("backoff", d))
			}
			if !retry(d) {
				return nil
			}
			continue
		}
		var size int64
		for i := range out.Records {
			size += int64(len(out.Records[i].Data))
		}
		p.budget.release(callReserve - min(size, callReserve))
		p.budget.take(size - callReserve) // an answer over its reservation (never from Kinesis)
		if throttled > 0 {
			p.log.LogAttrs(ctx, slog.LevelInfo, "GetRecords no longer throttled", slog.Int("throttled_calls", throttled))
			throttled = 0
		}
		failures, notFound = 0, 0
		behind := aws.ToInt64(out.MillisBehindLatest)
		p.hooks.onBehind(p.rc.shardID, behind)
		end := aws.ToString(out.NextShardIterator) == ""
		if n := len(out.Records); n > 0 {
			lastFetched = aws.ToString(out.Records[n-1].SequenceNumber)
		}
		switch {
		case !end:
			nullRetried = false
		case len(out.ChildShards) == 0 && !nullRetried:
			// A null iterator without the children that continue the shard: the Java KCL asks once
			// more (with a new iterator) before taking it as the end of the shard.
			nullRetried, end = true, false
			p.log.LogAttrs(ctx, slog.LevelInfo, "no next shard iterator and no child shards; asking once more before shard end")
		}
		if len(out.Records) > 0 || end || p.cfg.deliverEmpty {
			b := batch{records: out.Records, millisBehindLatest: behind, bytes: size, shardEnd: end, children: out.ChildShards}
			p.queued.Add(size)
			select {
			case p.out <- b:
			case <-ctx.Done():
				p.queued.Add(-size)
				p.budget.release(size)
				return nil
			}
		} else {
			p.budget.release(size)
		}
		if end {
			return nil
		}
		iterator = aws.ToString(out.NextShardIterator)
		// The idle time between calls, shorter while catching up when asked for, and never shorter
		// than the shard's 2 MiB/s asks for what this answer held.
		d := p.cfg.pollInterval
		if c := p.cfg.catchUpInterval; c > 0 && len(out.Records) > 0 && behind > 0 {
			d = c
		}
		if rate := p.cfg.readRate; rate > 0 {
			pace := time.Duration(size * int64(time.Second) / rate)
			d = max(d, time.Until(callStart.Add(pace)))
		}
		if !wait(d) {
			return nil
		}
	}
}

// iterator returns a shard iterator: after lastFetched when records were fetched already (a renewal
// after expiry), otherwise at the start position.
func (p *poller) iterator(ctx context.Context, lastFetched string) (string, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: p.rc.stream.nameField(), StreamARN: p.rc.stream.arnField(),
		ShardId: aws.String(p.rc.shardID)}
	switch start := p.rc.start; {
	case lastFetched != "":
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(lastFetched)
	case start == TrimHorizon:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	case start == Latest:
		in.ShardIteratorType = types.ShardIteratorTypeLatest
	case start.SequenceNumber == AtTimestamp(time.Time{}).SequenceNumber:
		if start.timestamp.IsZero() {
			in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
		} else {
			in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
			in.Timestamp = aws.Time(start.timestamp)
		}
	default:
		in.ShardIteratorType = types.ShardIteratorTypeAtSequenceNumber
		in.StartingSequenceNumber = aws.String(start.SequenceNumber)
	}
	ctx, cancel := callCtx(ctx, p.cfg.callTimeout)
	defer cancel()
	out, err := p.kc.GetShardIterator(ctx, in)
	if err != nil {
		return "", fmt.Errorf("kcl: GetShardIterator %s %s: %w", p.rc.shardID, in.ShardIteratorType, err)
	}
	return aws.ToString(out.ShardIterator), nil
}
