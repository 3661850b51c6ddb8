package fanout

import (
	"context"
	"fmt"
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

// StreamARN returns the ARN of the stream named stream (fan-out consumers are registered by ARN).
func StreamARN(ctx context.Context, api StreamAPI, stream string) (string, error) {
	out, err := api.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		return "", fmt.Errorf("fanout: describing stream %s: %w", stream, err)
	}
	if out.StreamDescriptionSummary == nil || aws.ToString(out.StreamDescriptionSummary.StreamARN) == "" {
		return "", fmt.Errorf("fanout: DescribeStreamSummary of %s returned no stream ARN", stream)
	}
	return aws.ToString(out.StreamDescriptionSummary.StreamARN), nil
}

// EnsureConsumer returns the ARN of the enhanced fan-out consumer name of the stream streamARN,
// registering it when it does not exist, once it is ACTIVE. It is idempotent and safe when many workers
// call it at once: the one whose RegisterStreamConsumer loses the race (ResourceInUseException) waits
// for the consumer the winner created. A consumer being deleted is waited out and registered again.
// ctx bounds the whole wait; Kinesis usually takes a few seconds to activate a new consumer.
func EnsureConsumer(ctx context.Context, api RegistrationAPI, streamARN, name string) (string, error) {
	if streamARN == "" || name == "" {
		return "", fmt.Errorf("fanout: stream ARN %q and consumer name %q must be set", streamARN, name)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var lastState string
	for attempt := 0; ; attempt++ {
		arn, state, err := ensureStep(ctx, api, streamARN, name)
		switch {
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

// ensureStep describes the consumer, registering it when it is missing. It returns the consumer's state;
// a state of "" (with a nil error) means "look again after a pause" (throttled, or lost a race).
func ensureStep(ctx context.Context, api RegistrationAPI, streamARN, name string) (string, types.ConsumerStatus, error) {
	d, err := api.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{
		StreamARN: aws.String(streamARN), ConsumerName: aws.String(name),
	})
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
	r, err := api.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{
		StreamARN: aws.String(streamARN), ConsumerName: aws.String(name),
	})
	switch {
	case err == nil && r.Consumer != nil:
		return aws.ToString(r.Consumer.ConsumerARN), r.Consumer.ConsumerStatus, nil
	case err == nil:
		return "", "", fmt.Errorf("fanout: RegisterStreamConsumer %s returned no consumer", name)
	case awserr.Classify(err).Code == codeInUse, awserr.IsThrottle(err):
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
