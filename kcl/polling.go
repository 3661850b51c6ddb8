package kcl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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

// poller is the polling retriever: one goroutine per shard calls GetRecords and hands batches over a
// channel whose capacity is the prefetch bound, so at most prefetch batches wait for the processor.
type poller struct {
	kc         KinesisAPI
	rc         retrievalConfig
	interval   time.Duration
	maxRecords int32
	throttle   backoff.Policy
	hooks      *hooks
	log        *slog.Logger

	out    chan batch
	done   chan struct{} // closed when the goroutine exits; err is set before
	err    error
	cancel context.CancelFunc
	once   sync.Once
}

func newPoller(ctx context.Context, kc KinesisAPI, rc retrievalConfig, cfg *config, h *hooks, log *slog.Logger) *poller {
	ctx, cancel := context.WithCancel(ctx)
	p := &poller{
		kc: kc, rc: rc, interval: cfg.pollInterval, maxRecords: int32(cfg.maxRecords),
		throttle: backoff.Policy{Base: max(cfg.pollInterval, minPollInterval), Max: cfg.maxThrottleBackoff},
		hooks:    h, log: log,
		out:  make(chan batch, cfg.prefetch),
		done: make(chan struct{}), cancel: cancel,
	}
	go p.run(ctx)
	return p
}

func (p *poller) Next(ctx context.Context) (batch, error) {
	select {
	case b, ok := <-p.out:
		if ok {
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

func (p *poller) Close() {
	p.once.Do(p.cancel)
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

// loop runs until shard end (returns nil) or ctx ends.
func (p *poller) loop(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wait := func(d time.Duration) bool {
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
	)
	// retry backs off after a failed call; false when ctx ended.
	retry := func(d time.Duration) bool {
		failures++
		return wait(max(d, minPollInterval))
	}
	for {
		if iterator == "" {
			it, err := p.iterator(ctx, lastFetched)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil && awserr.IsNotFound(err):
				return fmt.Errorf("kcl: shard %s: %w", p.rc.shardID, err)
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
		out, err := p.kc.GetRecords(ctx, &kinesis.GetRecordsInput{
			ShardIterator: aws.String(iterator), Limit: aws.Int32(p.maxRecords),
		}, noSDKRetries, kinesisjson.FastGetRecords)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Anything but an expired iterator or a missing shard is retried with backoff, as the Java
			// KCL does for GetRecords (KMS key state changes and access errors included).
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
				p.log.LogAttrs(ctx, slog.LevelWarn, "GetRecords throttled; backing off", slog.Duration("backoff", d))
			case info.NotFound:
				return fmt.Errorf("kcl: shard %s: %w", p.rc.shardID, err)
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
		failures = 0
		behind := aws.ToInt64(out.MillisBehindLatest)
		p.hooks.onBehind(p.rc.shardID, behind)
		end := out.NextShardIterator == nil || aws.ToString(out.NextShardIterator) == ""
		if n := len(out.Records); n > 0 {
			lastFetched = aws.ToString(out.Records[n-1].SequenceNumber)
		}
		if len(out.Records) > 0 || end {
			b := batch{records: out.Records, millisBehindLatest: behind, shardEnd: end, children: out.ChildShards}
			select {
			case p.out <- b:
			case <-ctx.Done():
				return nil
			}
		}
		if end {
			return nil
		}
		iterator = aws.ToString(out.NextShardIterator)
		// Behind the tip with data flowing: poll again as soon as the per-shard limit allows;
		// otherwise wait the poll interval.
		d := p.interval
		if len(out.Records) > 0 && behind > 0 {
			d = minPollInterval
		}
		if !wait(d) {
			return nil
		}
	}
}

// iterator returns a shard iterator: after lastFetched when records were fetched already (a renewal
// after expiry), otherwise at the start position.
func (p *poller) iterator(ctx context.Context, lastFetched string) (string, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(p.rc.stream), ShardId: aws.String(p.rc.shardID)}
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
	out, err := p.kc.GetShardIterator(ctx, in)
	if err != nil {
		return "", fmt.Errorf("kcl: GetShardIterator %s %s: %w", p.rc.shardID, in.ShardIteratorType, err)
	}
	return aws.ToString(out.ShardIterator), nil
}
