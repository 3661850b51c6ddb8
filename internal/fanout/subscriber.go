package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/shardwise/shardwise/internal/backoff"
)

// An Event is what a [Subscriber] delivers: the records of one SubscribeToShardEvent, or the end of the
// shard.
type Event struct {
	// Records are in sequence-number order, never one already delivered by this Subscriber.
	Records []types.Record
	// MillisBehindLatest is how far the last record is behind the tip of the shard.
	MillisBehindLatest int64
	// ContinuationSequenceNumber is where the shard has been read up to; "" at shard end.
	ContinuationSequenceNumber string
	// ShardEnd: the shard is closed and every record of it was delivered in this or an earlier event.
	// ChildShards then lists the shards that continue it (the Records may be empty).
	ShardEnd    bool
	ChildShards []types.ChildShard
}

// A Subscriber reads one shard through enhanced fan-out as one registered consumer: it calls
// SubscribeToShard, hands the events over through a bounded buffer, and resubscribes after the last
// ContinuationSequenceNumber whenever a subscription ends (Kinesis ends each after at most 5 minutes)
// or breaks, until the shard ends, a fatal error occurs, or it is closed.
//
// A Subscriber owns one goroutine; [Subscriber.Close] stops it and waits for it. Next is meant for one
// caller goroutine; Close is safe to call from any goroutine, more than once.
type Subscriber struct {
	api         SubscribeAPI
	consumerARN string
	shardID     string
	cfg         config
	callOpts    []func(*kinesis.Options)
	log         *slog.Logger

	out    chan Event
	done   chan struct{} // closed when the goroutine has exited; err is set before
	err    error
	cancel context.CancelFunc
	once   sync.Once
}

// Subscribe starts reading shardID of the consumer consumerARN from start and returns at once; events
// arrive through [Subscriber.Next]. start.Type is one of TRIM_HORIZON, LATEST, AT_TIMESTAMP (with
// Timestamp), AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER (with SequenceNumber). To resume from a
// checkpoint of a user record inside a KPL aggregate, start AT_SEQUENCE_NUMBER the checkpointed
// sequence number and skip the sub-records at or below the checkpointed sub-sequence number.
//
// ctx bounds the subscriber's whole life: cancelling it stops it as [Subscriber.Close] does.
func Subscribe(ctx context.Context, api SubscribeAPI, consumerARN, shardID string, start types.StartingPosition, opts ...Option) (*Subscriber, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if consumerARN == "" || shardID == "" {
		return nil, fmt.Errorf("fanout: consumer ARN %q and shard ID %q must be set", consumerARN, shardID)
	}
	if err := validateStart(start); err != nil {
		return nil, err
	}
	s := &Subscriber{
		api: api, consumerARN: consumerARN, shardID: shardID, cfg: cfg,
		log:  cfg.logger.With("shard_id", shardID),
		out:  make(chan Event, cfg.buffer),
		done: make(chan struct{}),
	}
	// The subscriber owns backoff: the SDK retryer must not multiply it, nor retry refusals that
	// only the 5 s rule can clear.
	s.callOpts = append(s.callOpts, func(o *kinesis.Options) { o.RetryMaxAttempts = 1 }, ownProtocol)
	if hc := cfg.httpClient; hc != nil {
		s.callOpts = append(s.callOpts, func(o *kinesis.Options) { o.HTTPClient = hc })
	}
	ctx, s.cancel = context.WithCancel(ctx)
	go s.run(ctx, start)
	return s, nil
}

// ownProtocol gives one SubscribeToShard call a protocol instance of its own. The client's shared
// awsjson.Protocol keeps event-stream scratch state (a lazily built decoder and a payload buffer) in
// one Codec used without locking by every open stream of the client: concurrent subscriptions on
// one client are a data race (aws/smithy-go issue #714, smithy-go v1.28.9). A fresh protocol per
// call keeps each stream's decoding to itself.
func ownProtocol(o *kinesis.Options) { o.Protocol = awsjson.New11(schemas.Kinesis_20131202) }

func validateStart(p types.StartingPosition) error {
	switch p.Type {
	case types.ShardIteratorTypeTrimHorizon, types.ShardIteratorTypeLatest:
		return nil
	case types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber:
		if aws.ToString(p.SequenceNumber) == "" {
			return fmt.Errorf("fanout: starting position %s needs a sequence number", p.Type)
		}
		return nil
	case types.ShardIteratorTypeAtTimestamp:
		if p.Timestamp == nil {
			return fmt.Errorf("fanout: starting position AT_TIMESTAMP needs a timestamp")
		}
		return nil
	}
	return fmt.Errorf("fanout: unknown starting position type %q", p.Type)
}

// Next returns the next event. It blocks until one is ready, the shard ends, the subscriber fails or
// is closed, or ctx ends. After the shard-end event (Event.ShardEnd) and after Close it returns
// [ErrDone]; after a fatal error (the consumer, shard or stream is gone, an invalid starting sequence
// number, access denied) it returns that error. ctx bounds only this wait.
func (s *Subscriber) Next(ctx context.Context) (Event, error) {
	select {
	case ev, ok := <-s.out:
		if ok {
			return ev, nil
		}
		<-s.done
		if s.err != nil {
			return Event{}, s.err
		}
		return Event{}, ErrDone
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// Done returns a channel closed once the subscriber's goroutine has exited (shard end delivered to the
// buffer, fatal error, or Close). Events may still be buffered for Next.
func (s *Subscriber) Done() <-chan struct{} { return s.done }

// Close stops the subscriber, closes its event stream and waits for its goroutine. Buffered events are
// dropped. It is idempotent and safe for concurrent use.
func (s *Subscriber) Close() {
	s.once.Do(s.cancel)
	<-s.done
}

func (s *Subscriber) run(ctx context.Context, start types.StartingPosition) {
	defer close(s.done)
	defer close(s.out)
	err := s.loop(ctx, start)
	if ctx.Err() != nil {
		err = nil // closed: not a failure
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "fan-out subscription failed", slog.Any("err", err))
	}
	s.err = err
}

// outcome is how one subscription ended.
type outcome int

const (
	ended    outcome = iota // the server ended it cleanly (expiry): resubscribe at once
	broken                  // refused, failed or cut: resubscribe after a backoff
	shardEnd                // the shard-end event was handed over: finished
	stopped                 // ctx ended
)

// loop subscribes again and again until the shard ends (nil), a fatal error, or ctx ends.
func (s *Subscriber) loop(ctx context.Context, start types.StartingPosition) error {
	pos := start
	var (
		failures   int
		lastOK     time.Time // when the last subscription was accepted
		lastCall   time.Time // when SubscribeToShard was last called
		wait       time.Duration
		lastSeqOut string // sequence number of the last record handed over (duplicate guard)
	)
	policy := backoff.Policy{Base: 2 * MinRetryDelay, Max: s.cfg.maxRetryDelay}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		// Kinesis allows one SubscribeToShard per second per consumer and shard.
		if !lastCall.IsZero() {
			wait = max(wait, MinRetryDelay-time.Since(lastCall))
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return nil
			}
		}
		wait = 0
		lastCall = time.Now()
		res, accepted, err := s.subscribeOnce(ctx, &pos, &lastSeqOut)
		if accepted {
			lastOK, failures = lastCall, 0 // an accepted subscription is progress: back off from scratch
		}
		switch res {
		case shardEnd:
			return nil
		case stopped:
			return nil
		case ended:
			failures = 0
			continue
		}
		if isFatal(err) {
			if !accepted {
				s.attempt(pos, err, 0)
			}
			return fmt.Errorf("fanout: shard %s: %w", s.shardID, err)
		}
		wait = policy.Delay(failures)
		failures++
		// A new subscription within 5 s of the last accepted one would only be refused.
		if !lastOK.IsZero() {
			wait = max(wait, SubscribeWindow-time.Since(lastOK))
		}
		if !accepted {
			s.attempt(pos, err, wait) // an accepted subscription was reported when it opened
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "fan-out subscription refused or broken; retrying",
			slog.Any("err", err), slog.Duration("retry_in", wait), slog.String("start", describe(pos)))
	}
}

// errSilent reports a subscription that sent no event for the event timeout.
var errSilent = errors.New("fanout: no event within the event timeout")

// attempt reports one SubscribeToShard call to the OnAttempt hook.
func (s *Subscriber) attempt(pos types.StartingPosition, err error, retry time.Duration) {
	if s.cfg.onAttempt != nil {
		s.cfg.onAttempt(Attempt{ShardID: s.shardID, Start: pos, Err: err, Retry: retry})
	}
}

func describe(p types.StartingPosition) string {
	switch p.Type {
	case types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber:
		return string(p.Type) + " " + aws.ToString(p.SequenceNumber)
	case types.ShardIteratorTypeAtTimestamp:
		return string(p.Type) + " " + aws.ToTime(p.Timestamp).UTC().Format(time.RFC3339Nano)
	}
	return string(p.Type)
}

// subscribeOnce runs one subscription from *pos, advancing *pos to AFTER_SEQUENCE_NUMBER the
// continuation of every event handed over (or empty). accepted reports whether SubscribeToShard
// succeeded; err says why a broken subscription broke.
func (s *Subscriber) subscribeOnce(ctx context.Context, pos *types.StartingPosition, lastSeqOut *string) (res outcome, accepted bool, err error) {
	// Cancelling subCtx tears down the HTTP/2 stream even if the SDK is blocked in a read. Until the
	// event stream opens, the call timeout cancels it too: a call that is never answered is retried.
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := *pos
	var timedOut atomic.Bool
	timeout := time.AfterFunc(s.cfg.callTimeout, func() { timedOut.Store(true); cancel() })
	out, err := s.api.SubscribeToShard(subCtx, &kinesis.SubscribeToShardInput{
		ConsumerARN: aws.String(s.consumerARN), ShardId: aws.String(s.shardID), StartingPosition: &start,
	}, s.callOpts...)
	stillTimed := timeout.Stop()
	if ctx.Err() != nil {
		if err == nil {
			out.GetStream().Close()
		}
		return stopped, false, nil
	}
	if timedOut.Load() || !stillTimed {
		if err == nil {
			out.GetStream().Close()
		}
		return broken, false, fmt.Errorf("fanout: SubscribeToShard not answered within %v: %w", s.cfg.callTimeout, context.DeadlineExceeded)
	}
	if err != nil {
		return broken, false, err
	}
	es := out.GetStream()
	defer es.Close()
	s.attempt(start, nil, 0)
	s.log.LogAttrs(ctx, slog.LevelDebug, "fan-out subscription opened", slog.String("start", describe(start)))

	silent := time.NewTimer(s.cfg.eventTimeout)
	defer silent.Stop()
	for {
		var raw types.SubscribeToShardEventStream
		var ok bool
		select {
		case raw, ok = <-es.Events():
		case <-silent.C:
			return broken, true, errSilent
		case <-ctx.Done():
			return stopped, true, nil
		}
		if !ok {
			if ctx.Err() != nil {
				return stopped, true, nil
			}
			if err := es.Err(); err != nil {
				return broken, true, err
			}
			s.log.LogAttrs(ctx, slog.LevelDebug, "fan-out subscription ended; renewing", slog.String("next", describe(*pos)))
			return ended, true, nil
		}
		member, isEvent := raw.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if s.cfg.onReceive != nil && isEvent {
			s.cfg.onReceive(len(member.Value.Records))
		}
		if !isEvent {
			s.log.LogAttrs(ctx, slog.LevelDebug, "unknown fan-out event ignored", slog.String("type", fmt.Sprintf("%T", raw)))
			silent.Reset(s.cfg.eventTimeout)
			continue
		}
		e := member.Value
		ev := Event{
			Records:            fresh(e.Records, lastSeqOut),
			MillisBehindLatest: aws.ToInt64(e.MillisBehindLatest),
		}
		if e.ContinuationSequenceNumber == nil {
			ev.ShardEnd, ev.ChildShards = true, e.ChildShards
			if !s.deliver(ctx, ev) {
				return stopped, true, nil
			}
			s.log.LogAttrs(ctx, slog.LevelInfo, "shard end reached through fan-out", slog.Int("children", len(e.ChildShards)))
			return shardEnd, true, nil
		}
		ev.ContinuationSequenceNumber = aws.ToString(e.ContinuationSequenceNumber)
		if len(ev.Records) > 0 {
			// Blocks while the caller is behind: the event stream is not read meanwhile, so HTTP/2
			// flow control holds the server back.
			if !s.deliver(ctx, ev) {
				return stopped, true, nil
			}
		}
		*pos = types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(ev.ContinuationSequenceNumber)}
		silent.Reset(s.cfg.eventTimeout)
	}
}

func (s *Subscriber) deliver(ctx context.Context, ev Event) bool {
	select {
	case s.out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// fresh drops records at or before the last one handed over (Kinesis does not resend them after an
// AFTER_SEQUENCE_NUMBER resubscription; this guards the exactly-once hand-over regardless) and
// records the last sequence number kept.
func fresh(recs []types.Record, last *string) []types.Record {
	i := 0
	for i < len(recs) && *last != "" && compareSeq(aws.ToString(recs[i].SequenceNumber), *last) <= 0 {
		i++
	}
	recs = recs[i:]
	if n := len(recs); n > 0 {
		*last = aws.ToString(recs[n-1].SequenceNumber)
	}
	return recs
}

// compareSeq compares two decimal sequence numbers (no leading zeros, as Kinesis writes them).
func compareSeq(a, b string) int {
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
