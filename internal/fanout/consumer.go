package fanout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/internal/awserr"
	"github.com/shardwise/shardwise/internal/backoff"
)

// consumerPoll is the backoff between DescribeStreamConsumer calls while a consumer is being created
// or deleted (Kinesis allows 20 DescribeStreamConsumer calls per second per stream).
var consumerPoll = backoff.Policy{Base: 200 * time.Millisecond, Max: 5 * time.Second}

// StreamARN returns the ARN of the stream named stream (fan-out consumers are registered by ARN); a
// stream given as an ARN ("arn:...") is returned as it is, without a call.
func StreamARN(ctx context.Context, api StreamAPI, stream string) (string, error) {
	if strings.HasPrefix(stream, "arn:") {
		return stream, nil
	}
	out, err := api.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		return "", fmt.Errorf("fanout: describing stream %s: %w", stream, err)
	}
	if out.StreamDescriptionSummary == nil || aws.ToString(out.StreamDescriptionSummary.StreamARN) == "" {
		return "", fmt.Errorf("fanout: DescribeStreamSummary of %s returned no stream ARN", stream)
	}
	return aws.ToString(out.StreamDescriptionSummary.StreamARN), nil
}

// DefaultMaxRefusals is how many LimitExceededException answers to RegisterStreamConsumer (20
// consumers per stream, or 5 being created at once) [EnsureConsumer] takes before giving up with
// [ErrConsumerLimit].
const DefaultMaxRefusals = 10

// ErrConsumerLimit is returned (wrapped, with the last refusal) by [EnsureConsumer] when Kinesis
// refused to register the consumer with LimitExceededException MaxRefusals times: the stream has its
// 20 consumers, or 5 are being created. Deregister unused consumers, or read by polling.
var ErrConsumerLimit = errors.New("fanout: stream consumer registration refused (consumer limit)")

// A RegistrationOption tunes [EnsureConsumer].
type RegistrationOption func(*registration)

type registration struct {
	callTimeout time.Duration
	maxRefusals int
	onRefused   func(attempt int, err error)
}

// RegistrationCallTimeout bounds each DescribeStreamConsumer and RegisterStreamConsumer call; a call
// not answered in time counts as a failure ([EnsureConsumer] returns it, wrapping
// context.DeadlineExceeded). Overrides the default: none (ctx only).
func RegistrationCallTimeout(d time.Duration) RegistrationOption {
	return func(r *registration) { r.callTimeout = d }
}

// MaxRefusals sets how many LimitExceededException answers to RegisterStreamConsumer end the attempt
// with [ErrConsumerLimit]. Overrides the default [DefaultMaxRefusals].
func MaxRefusals(n int) RegistrationOption { return func(r *registration) { r.maxRefusals = n } }

// OnRefused registers fn to be called with the count so far and the error of every
// LimitExceededException answer to RegisterStreamConsumer (log it: it is the only sign of a stream
// at its consumer limit until the refusals run out).
func OnRefused(fn func(attempt int, err error)) RegistrationOption {
	return func(r *registration) { r.onRefused = fn }
}

// EnsureConsumer returns the ARN of the enhanced fan-out consumer name of the stream streamARN,
// registering it when it does not exist, once it is ACTIVE. It is idempotent and safe when many workers
// call it at once: the one whose RegisterStreamConsumer loses the race (ResourceInUseException) waits
// for the consumer the winner created. A consumer being deleted is waited out and registered again.
// LimitExceededException answers to the registration are retried after a pause up to MaxRefusals
// times, then [ErrConsumerLimit] is returned. ctx bounds the whole wait; Kinesis usually takes a few
// seconds to activate a new consumer.
func EnsureConsumer(ctx context.Context, api RegistrationAPI, streamARN, name string, opts ...RegistrationOption) (string, error) {
	if streamARN == "" || name == "" {
		return "", fmt.Errorf("fanout: stream ARN %q and consumer name %q must be set", streamARN, name)
	}
	r := registration{maxRefusals: DefaultMaxRefusals}
	for _, o := range opts {
		o(&r)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var lastState string
	refusals := 0
	for attempt := 0; ; attempt++ {
		arn, state, err := ensureStep(ctx, api, streamARN, name, r.callTimeout)
		var refused *limitRefusal
		switch {
		case errors.As(err, &refused):
			refusals++
			if r.onRefused != nil {
				r.onRefused(refusals, refused.err)
			}
			if refusals >= r.maxRefusals {
				return "", fmt.Errorf("%w: consumer %s of %s, %d refusals, last: %w", ErrConsumerLimit, name, streamARN, refusals, refused.err)
			}
		case err != nil:
			return "", err
		case state == types.ConsumerStatusActive:
			return arn, nil
		}
		lastState = string(state)
		timer.Reset(consumerPoll.Delay(attempt))
		select {
		case <-timer.C:
		case <-ctx.Done():
			return "", fmt.Errorf("fanout: consumer %s of %s not ACTIVE (last state %s): %w", name, streamARN, lastState, ctx.Err())
		}
	}
}

// limitRefusal is ensureStep's report of a LimitExceededException answer to RegisterStreamConsumer.
type limitRefusal struct{ err error }

func (l *limitRefusal) Error() string { return l.err.Error() }

// withTimeout bounds one call by d (0: ctx only).
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// ensureStep describes the consumer, registering it when it is missing. It returns the consumer's state;
// a state of "" (with a nil error) means "look again after a pause" (throttled, or lost a race), and a
// *limitRefusal error a LimitExceededException answer to the registration.
func ensureStep(ctx context.Context, api RegistrationAPI, streamARN, name string, timeout time.Duration) (string, types.ConsumerStatus, error) {
	cctx, cancel := withTimeout(ctx, timeout)
	d, err := api.DescribeStreamConsumer(cctx, &kinesis.DescribeStreamConsumerInput{
		StreamARN: aws.String(streamARN), ConsumerName: aws.String(name),
	})
	cancel()
	switch {
	case err == nil && d.ConsumerDescription != nil:
		c := d.ConsumerDescription
		return aws.ToString(c.ConsumerARN), c.ConsumerStatus, nil
	case err == nil:
		return "", "", fmt.Errorf("fanout: DescribeStreamConsumer %s returned no description", name)
	case awserr.IsThrottle(err):
		return "", "", nil
	case !awserr.IsNotFound(err):
		return "", "", fmt.Errorf("fanout: describing consumer %s: %w", name, err)
	}
	cctx, cancel = withTimeout(ctx, timeout)
	// One attempt per call: a LimitExceededException is counted here, not retried inside the SDK.
	r, err := api.RegisterStreamConsumer(cctx, &kinesis.RegisterStreamConsumerInput{
		StreamARN: aws.String(streamARN), ConsumerName: aws.String(name),
	}, func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	cancel()
	switch info := awserr.Classify(err); {
	case err == nil && r.Consumer != nil:
		return aws.ToString(r.Consumer.ConsumerARN), r.Consumer.ConsumerStatus, nil
	case err == nil:
		return "", "", fmt.Errorf("fanout: RegisterStreamConsumer %s returned no consumer", name)
	case info.Code == codeLimitExceeded:
		return "", "", &limitRefusal{err: err}
	case info.Code == codeInUse, info.Class == awserr.Throttle:
		// Another worker registered it first (or it is being deleted), or too many calls at once:
		// describe it again after a pause.
		return "", "", nil
	}
	return "", "", fmt.Errorf("fanout: registering consumer %s: %w", name, err)
}

// Deregister deregisters the consumer consumerARN; its subscriptions end. A consumer that does not exist
// is not an error. It does not wait for the deletion to finish.
func Deregister(ctx context.Context, api DeregisterAPI, consumerARN string) error {
	_, err := api.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: aws.String(consumerARN)})
	if err != nil && !awserr.IsNotFound(err) {
		return fmt.Errorf("fanout: deregistering consumer %s: %w", consumerARN, err)
	}
	return nil
}
