package kcl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/internal/awserr"
	"github.com/shardwise/shardwise/internal/backoff"
	"github.com/shardwise/shardwise/internal/fanout"
)

// EnhancedFanOut makes the worker read its shards through enhanced fan-out (SubscribeToShard, pushed
// over HTTP/2) as the stream consumer consumerName instead of polling GetRecords. The consumer is
// registered when missing (safe when many workers start at once) and the worker waits until it is
// ACTIVE before subscribing. Each leased shard is subscribed from its checkpoint (AT_SEQUENCE_NUMBER,
// sub-records at or below the checkpointed sub-sequence skipped) or the initial position, and
// resubscribed after the last continuation sequence number whenever Kinesis ends a subscription (at
// most every 5 minutes) or it breaks; ResourceInUseException and LimitExceededException back off for
// at least a second, respecting the 5 s rule. At most Prefetch events per shard wait for the processor;
// while they wait the event stream is not read, so HTTP/2 flow control holds Kinesis back. When another
// worker requests a lease (balancing), this worker keeps processing the shard until 5 s after its last
// accepted SubscribeToShard (at most half the failover time), so the requester's subscription is not
// refused by that rule, then checkpoints and hands the lease over: the shard pauses for tens of
// milliseconds, not seconds.
//
// The Kinesis client must also have DescribeStreamSummary (for the stream ARN), as *kinesis.Client
// does, and speak HTTP/2: the SDK's default HTTP client does for HTTPS endpoints. A custom
// http.Transport with its own TLS settings needs ForceAttemptHTTP2 (see "HTTP clients" in the package
// documentation), http.Client.Timeout must stay 0 (it would cut every subscription), and a plain-HTTP
// local endpoint needs HTTP/2 with prior knowledge (kinesistest's HTTP2Client). The consumer is not
// deregistered when the worker stops (other workers of the application keep using it) unless
// [DeregisterConsumerOnShutdown] is given. Overrides the default: polling.
func EnhancedFanOut(consumerName string) Option {
	return optionFunc(func(c *config) { c.efoConsumer = consumerName })
}

// EnhancedFanOutARN is EnhancedFanOut with an existing stream consumer given by its ARN
// (arn:aws:kinesis:<region>:<account>:stream/<stream>/consumer/<name>:<timestamp>, as
// RegisterStreamConsumer returns it): the worker registers nothing and subscribes as that consumer (the
// Java KCL's consumerArn). Overrides the default: polling.
func EnhancedFanOutARN(consumerARN string) Option {
	return optionFunc(func(c *config) {
		c.efoConsumerARN = consumerARN
		c.efoConsumer = consumerARN
		if _, after, ok := strings.Cut(consumerARN, "/consumer/"); ok {
			c.efoConsumer, _, _ = strings.Cut(after, ":")
		}
	})
}

// DeregisterConsumerOnShutdown makes a graceful [Worker.Shutdown] deregister the EnhancedFanOut stream
// consumer after every lease is released (the Kinesis client must then also have
// DeregisterStreamConsumer, as *kinesis.Client does). Use it for the last worker of an application, or
// for a one-off reader: other workers still subscribed as that consumer lose their subscriptions.
// Overrides the default: the consumer is kept.
func DeregisterConsumerOnShutdown() Option {
	return optionFunc(func(c *config) { c.efoDeregister = true })
}

// deregisterConsumer deregisters the fan-out consumer if this worker registered or found it and the
// option asks for it.
func (w *Worker) deregisterConsumer(ctx context.Context) error {
	if !w.cfg.efoDeregister || w.cfg.efoConsumer == "" {
		return nil
	}
	w.efo.mu.Lock()
	arn := w.efo.arn
	w.efo.mu.Unlock()
	if arn == "" {
		return nil // never subscribed: nothing this worker knows to deregister
	}
	api, ok := w.kc.(fanout.DeregisterAPI)
	if !ok {
		return fmt.Errorf("kcl: DeregisterConsumerOnShutdown needs a Kinesis client with DeregisterStreamConsumer")
	}
	cctx, cancel := callCtx(ctx, w.cfg.callTimeout)
	defer cancel()
	if err := fanout.Deregister(cctx, api, arn); err != nil {
		return err
	}
	w.forgetConsumer(arn)
	return nil
}

// efoState is the worker's fan-out consumer: its ARN once registered, and the registration in flight.
type efoState struct {
	mu      sync.Mutex
	arn     string
	pending chan struct{} // closed when the registration in flight has finished
}

// efoRetryPolicy spaces attempts to register the consumer or to subscribe again after a fatal-looking
// subscription error.
var efoRetryPolicy = backoff.Policy{Base: time.Second, Max: 30 * time.Second}

// efoNotFoundLimit is how many ResourceNotFoundExceptions in a row, each with the consumer confirmed
// present, make the shard count as gone (past retention), as polling treats an unknown shard.
const efoNotFoundLimit = 3

// consumerARN returns the fan-out consumer's ARN, registering it on first use. Concurrent callers wait
// for one registration instead of each describing the consumer.
func (w *Worker) consumerARN(ctx context.Context) (string, error) {
	for {
		w.efo.mu.Lock()
		if arn := w.efo.arn; arn != "" {
			w.efo.mu.Unlock()
			return arn, nil
		}
		if p := w.efo.pending; p != nil {
			w.efo.mu.Unlock()
			select {
			case <-p:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		p := make(chan struct{})
		w.efo.pending = p
		w.efo.mu.Unlock()

		arn, err := w.registerConsumer(ctx)
		w.efo.mu.Lock()
		if err == nil {
			w.efo.arn = arn
		}
		w.efo.pending = nil
		w.efo.mu.Unlock()
		close(p)
		return arn, err
	}
}

// forgetConsumer drops the cached ARN so that the next subscription checks (and re-registers) the
// consumer: after a ResourceNotFoundException it may have been deregistered.
func (w *Worker) forgetConsumer(arn string) {
	w.efo.mu.Lock()
	if w.efo.arn == arn {
		w.efo.arn = ""
	}
	w.efo.mu.Unlock()
}

func (w *Worker) registerConsumer(ctx context.Context) (string, error) {
	if arn := w.cfg.efoConsumerARN; arn != "" {
		return arn, nil // EnhancedFanOutARN: an existing consumer, registered by someone else
	}
	streamARN := w.stream.arn
	if streamARN == "" {
		sa, ok := w.kc.(fanout.StreamAPI)
		if !ok {
			return "", fmt.Errorf("%w: EnhancedFanOut needs a Kinesis client with DescribeStreamSummary (*kinesis.Client has it)", ErrInvalidConfig)
		}
		cctx, cancel := callCtx(ctx, w.cfg.callTimeout)
		arn, err := fanout.StreamARN(cctx, sa, w.stream.name)
		cancel()
		if err != nil {
			return "", err
		}
		streamARN = arn
	}
	consumer := w.cfg.efoConsumer
	arn, err := fanout.EnsureConsumer(ctx, w.kc, streamARN, consumer,
		fanout.RegistrationCallTimeout(w.cfg.callTimeout), fanout.MaxRefusals(w.cfg.registerRefusals),
		fanout.OnRefused(func(n int, err error) {
			w.log.LogAttrs(ctx, slog.LevelWarn, "enhanced fan-out consumer registration refused (stream consumer limit)",
				slog.String("consumer", consumer), slog.Int("refusal", n), slog.Int("of", w.cfg.registerRefusals), slog.Any("err", err))
			w.hooks.onRegistration(RegistrationEvent{Consumer: consumer, Refusal: n, Err: err})
		}))
	switch {
	case err == nil:
		w.log.LogAttrs(ctx, slog.LevelInfo, "enhanced fan-out consumer ready",
			slog.String("consumer", consumer), slog.String("consumer_arn", arn))
	case errors.Is(err, fanout.ErrConsumerLimit):
		err = fmt.Errorf("%w: %w", ErrConsumerRegistration, err)
		w.log.LogAttrs(ctx, slog.LevelError, "enhanced fan-out consumer registration given up; the worker stops", slog.Any("err", err))
		w.hooks.onRegistration(RegistrationEvent{Consumer: consumer, Refusal: w.cfg.registerRefusals, Err: err, GaveUp: true})
		w.stop(err)
	}
	return arn, err
}

// stop makes Run stop as Shutdown does and return err (the first such error wins).
func (w *Worker) stop(err error) {
	select {
	case w.fatal <- err:
	default:
	}
}

// fanOutRetriever is the enhanced fan-out retriever of one shard. It drives a fanout.Subscriber (which
// owns the one goroutine reading the event stream) from Next, replacing it after a fatal-looking error.
type fanOutRetriever struct {
	w    *Worker
	rc   retrievalConfig
	log  *slog.Logger
	life context.Context // the retriever's own lifecycle: the shard consumer's context; Close ends it
	stop context.CancelFunc

	// Used by the caller of Next only (one goroutine), and by Close after Next's caller is done.
	mu       sync.Mutex // guards sub and arn against Close from another goroutine
	sub      *fanout.Subscriber
	arn      string // consumer ARN sub was opened with
	after    string // continuation sequence number of the last batch handed over
	ended    bool   // the shard-end batch was handed over
	failures int    // consecutive failures to subscribe or fatal subscription errors
	notFound int    // consecutive ResourceNotFoundExceptions with the consumer present

	accepted atomic.Int64 // UnixNano of the last accepted SubscribeToShard (0: none yet); any goroutine
}

// handoffMargin is added to Kinesis's 5 s rule when a hand-off waits for it (clock granularity).
const handoffMargin = 10 * time.Millisecond

// handoffReadyAt is when another worker's SubscribeToShard for this shard, as the same consumer, is no
// longer refused by the 5 s rule (fanout.SubscribeWindow after this retriever's last accepted
// subscription). A graceful hand-off keeps the shard here, processing, until then: a refused requester
// would back off for seconds while nobody reads the shard.
func (r *fanOutRetriever) handoffReadyAt() time.Time {
	ns := r.accepted.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).Add(fanout.SubscribeWindow + handoffMargin)
}

func (w *Worker) newFanOutRetriever(ctx context.Context, rc retrievalConfig, log *slog.Logger) *fanOutRetriever {
	life, stop := context.WithCancel(ctx)
	return &fanOutRetriever{w: w, rc: rc, log: log, life: life, stop: stop}
}

// start is the subscription's starting position: after the last batch handed over, else the
// retrieval start (a checkpoint is read AT its sequence number; the converter skips what was
// processed).
func (r *fanOutRetriever) start() types.StartingPosition {
	if r.after != "" {
		return types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(r.after)}
	}
	switch s := r.rc.start; {
	case s == TrimHorizon:
		return types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}
	case s == Latest:
		return types.StartingPosition{Type: types.ShardIteratorTypeLatest}
	case s.SequenceNumber == AtTimestamp(time.Time{}).SequenceNumber:
		if s.timestamp.IsZero() {
			return types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}
		}
		return types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(s.timestamp)}
	default:
		return types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(s.SequenceNumber)}
	}
}

func (r *fanOutRetriever) Next(ctx context.Context) (batch, error) {
	if r.ended {
		return batch{}, errRetrievalDone
	}
	for {
		if err := r.life.Err(); err != nil {
			return batch{}, err
		}
		sub, err := r.subscriber(ctx)
		if err != nil {
			return batch{}, err // ctx ended
		}
		if sub == nil {
			continue // registration failed and was retried after a backoff
		}
		ev, err := sub.Next(ctx)
		if err == nil {
			r.failures, r.notFound = 0, 0
			if ev.ContinuationSequenceNumber != "" {
				r.after = ev.ContinuationSequenceNumber
			}
			r.w.hooks.onBehind(r.rc.shardID, ev.MillisBehindLatest)
			r.ended = ev.ShardEnd
			return batch{records: ev.Records, millisBehindLatest: ev.MillisBehindLatest, shardEnd: ev.ShardEnd, children: ev.ChildShards}, nil
		}
		if ctx.Err() != nil {
			return batch{}, ctx.Err()
		}
		if errors.Is(err, fanout.ErrDone) {
			// Closed without a shard end: only Close or the end of the lifecycle context do that.
			return batch{}, context.Canceled
		}
		// A fatal error of this subscriber. ResourceNotFoundException means the consumer, the shard or
		// the stream is gone: check the consumer (re-registering it if it was deregistered); if it is
		// there, the shard is gone after efoNotFoundLimit tries. Anything else (access denied, an
		// invalid position) is logged and retried: a shard is never given up on for it.
		r.closeSub()
		if awserr.IsNotFound(err) {
			r.w.forgetConsumer(r.currentARN())
			if _, cerr := r.w.consumerARN(ctx); cerr == nil {
				r.notFound++
				if r.notFound >= efoNotFoundLimit && r.shardGone(ctx) {
					return batch{}, fmt.Errorf("kcl: shard %s through fan-out: %w", r.rc.shardID, err)
				}
			}
		}
		if !r.backoff(ctx, "fan-out subscription failed; subscribing again", err) {
			return batch{}, ctx.Err()
		}
	}
}

// subscriber returns the current subscriber, subscribing (and registering the consumer) when there is
// none. It returns nil, nil after a failed attempt it backed off from, and an error only when ctx ends.
func (r *fanOutRetriever) subscriber(ctx context.Context) (*fanout.Subscriber, error) {
	r.mu.Lock()
	sub := r.sub
	r.mu.Unlock()
	if sub != nil {
		return sub, nil
	}
	arn, err := r.w.consumerARN(ctx)
	if err == nil {
		sub, err = fanout.Subscribe(r.life, r.w.kc, arn, r.rc.shardID, r.start(),
			fanout.Buffer(r.w.cfg.prefetch), fanout.WithLogger(r.log), fanout.CallTimeout(r.w.cfg.callTimeout),
			fanout.OnAttempt(func(a fanout.Attempt) {
				if a.Err == nil {
					r.accepted.Store(time.Now().UnixNano())
				}
			}))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !r.backoff(ctx, "enhanced fan-out consumer unavailable; retrying", err) {
			return nil, ctx.Err()
		}
		return nil, nil
	}
	r.mu.Lock()
	r.sub = sub
	r.arn = arn
	r.mu.Unlock()
	return sub, nil
}

// shardGone confirms with ListShards that the shard is gone (not listed) or closed before it is treated
// as ended: a shard still open is never finished.
func (r *fanOutRetriever) shardGone(ctx context.Context) bool {
	shards, err := listShards(ctx, r.w.kc, r.rc.stream, r.w.cfg.callTimeout)
	if err != nil {
		return false
	}
	for _, s := range shards {
		if s.id == r.rc.shardID && s.open {
			r.notFound = 0
			r.log.LogAttrs(ctx, slog.LevelWarn, "ResourceNotFoundException for a shard ListShards shows open; subscribing again")
			return false
		}
	}
	return true
}

func (r *fanOutRetriever) currentARN() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.arn
}

// closeSub closes the current subscriber (its event stream and goroutine) if there is one.
func (r *fanOutRetriever) closeSub() {
	r.mu.Lock()
	sub := r.sub
	r.sub = nil
	r.mu.Unlock()
	if sub != nil {
		sub.Close()
	}
}

// backoff logs err and waits before the next attempt; false when ctx or the lifecycle ended first.
func (r *fanOutRetriever) backoff(ctx context.Context, msg string, err error) bool {
	d := efoRetryPolicy.Delay(r.failures)
	r.failures++
	r.log.LogAttrs(ctx, slog.LevelWarn, msg, slog.Any("err", err), slog.Duration("backoff", d))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-r.life.Done():
		return false
	}
}

// Close ends the subscription and waits for its goroutine. It is idempotent.
func (r *fanOutRetriever) Close() {
	r.stop()
	r.closeSub()
}
