package fanout

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/internal/awserr"
)

// fakeConsumers is a scripted RegistrationAPI and DeregisterAPI: describe answers come from states in order (the last one
// repeats); "" means ResourceNotFoundException.
type fakeConsumers struct {
	mu        sync.Mutex
	states    []types.ConsumerStatus
	registerE error // returned by RegisterStreamConsumer when set
	describes int
	registers int
	calls     []time.Time
}

const fakeARN = "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/app:1"

func (f *fakeConsumers) DescribeStreamConsumer(ctx context.Context, in *kinesis.DescribeStreamConsumerInput, _ ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, time.Now())
	st := f.states[min(f.describes, len(f.states)-1)]
	f.describes++
	if st == "" {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no consumer")}
	}
	return &kinesis.DescribeStreamConsumerOutput{ConsumerDescription: &types.ConsumerDescription{
		ConsumerARN: aws.String(fakeARN), ConsumerName: in.ConsumerName, ConsumerStatus: st}}, nil
}

func (f *fakeConsumers) RegisterStreamConsumer(ctx context.Context, in *kinesis.RegisterStreamConsumerInput, _ ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registers++
	if f.registerE != nil {
		return nil, f.registerE
	}
	return &kinesis.RegisterStreamConsumerOutput{Consumer: &types.Consumer{
		ConsumerARN: aws.String(fakeARN), ConsumerName: in.ConsumerName, ConsumerStatus: types.ConsumerStatusCreating}}, nil
}

func (f *fakeConsumers) DeregisterStreamConsumer(context.Context, *kinesis.DeregisterStreamConsumerInput, ...func(*kinesis.Options)) (*kinesis.DeregisterStreamConsumerOutput, error) {
	return nil, &types.ResourceNotFoundException{Message: aws.String("no consumer")}
}

func TestEnsureConsumerStates(t *testing.T) {
	inUse := &types.ResourceInUseException{Message: aws.String("exists")}
	tests := []struct {
		name          string
		states        []types.ConsumerStatus
		registerErr   error
		wantRegisters int
		wantDescribes int
	}{
		{"active", []types.ConsumerStatus{types.ConsumerStatusActive}, nil, 0, 1},
		{"register then activate", []types.ConsumerStatus{"", types.ConsumerStatusCreating, types.ConsumerStatusCreating, types.ConsumerStatusActive}, nil, 1, 4},
		{"lost the registration race", []types.ConsumerStatus{"", types.ConsumerStatusActive}, inUse, 1, 2},
		{"deleting, then gone, then registered", []types.ConsumerStatus{types.ConsumerStatusDeleting, types.ConsumerStatusDeleting, "", types.ConsumerStatusActive}, nil, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fakeConsumers{states: tt.states, registerE: tt.registerErr}
				arn, err := EnsureConsumer(context.Background(), f, "arn:stream", "app")
				if err != nil || arn != fakeARN {
					t.Fatalf("EnsureConsumer = %q, %v", arn, err)
				}
				if f.registers != tt.wantRegisters || f.describes != tt.wantDescribes {
					t.Errorf("registers %d, describes %d; want %d, %d", f.registers, f.describes, tt.wantRegisters, tt.wantDescribes)
				}
				for i := 1; i < len(f.calls); i++ {
					if gap := f.calls[i].Sub(f.calls[i-1]); gap < consumerPoll.Base/2 {
						t.Errorf("describe %d only %v after the previous one", i, gap)
					}
				}
			})
		})
	}
}

func TestEnsureConsumerGivesUpWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeConsumers{states: []types.ConsumerStatus{types.ConsumerStatusCreating}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		_, err := EnsureConsumer(ctx, f, "arn:stream", "app")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("EnsureConsumer = %v, want the context's deadline", err)
		}
		if d := time.Since(start); d != 30*time.Second {
			t.Errorf("gave up after %v, want 30s", d)
		}
		if f.describes > 20 {
			t.Errorf("%d describes in 30s: backoff too short", f.describes)
		}
		if err := Deregister(ctx, f, fakeARN); err != nil {
			t.Errorf("Deregister of a missing consumer = %v, want nil", err)
		}
	})
}

// TestEnsureConsumerConcurrent starts eight workers at once against kinesistest: one consumer, one ARN.
func TestEnsureConsumerConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		ctx := testCtx(t)
		if _, err := e.ctl.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("many"), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
		streamARN, err := StreamARN(ctx, e.ctl, "many")
		if err != nil {
			t.Fatal(err)
		}
		arns := make([]string, 8)
		errs := make([]error, 8)
		var wg sync.WaitGroup
		for i := range arns {
			wg.Go(func() { arns[i], errs[i] = EnsureConsumer(ctx, e.ctl, streamARN, "shared") })
		}
		wg.Wait()
		for i := range arns {
			if errs[i] != nil || arns[i] != arns[0] || arns[0] == "" {
				t.Fatalf("worker %d: %q, %v (worker 0: %q)", i, arns[i], errs[i], arns[0])
			}
		}
		list, err := e.ctl.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: aws.String(streamARN)})
		if err != nil || len(list.Consumers) != 1 {
			t.Fatalf("ListStreamConsumers = %+v, %v; want exactly one consumer", list, err)
		}

		// Deregistering ends open subscriptions with a fatal ResourceNotFoundException; deregistering
		// again is not an error.
		sub, err := Subscribe(ctx, e.fan, arns[0], shard0, trimHorizon)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if err := Deregister(ctx, e.ctl, arns[0]); err != nil {
			t.Fatal(err)
		}
		if err := Deregister(ctx, e.ctl, arns[0]); err != nil {
			t.Errorf("second Deregister = %v", err)
		}
		for {
			_, err := sub.Next(ctx)
			if err == nil {
				continue // an event sent before the deregistration
			}
			if !awserr.IsNotFound(err) {
				t.Errorf("Next after deregistration = %v, want ResourceNotFoundException", err)
			}
			break
		}

	})
}

// A stream at its consumer limit answers every RegisterStreamConsumer with LimitExceededException:
// EnsureConsumer reports each refusal and gives up with ErrConsumerLimit after MaxRefusals of them,
// instead of looping silently for ever.
func TestEnsureConsumerLimitExceededIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		limit := &types.LimitExceededException{Message: aws.String("20 consumers")}
		f := &fakeConsumers{states: []types.ConsumerStatus{""}, registerE: limit}
		var refusals []int
		_, err := EnsureConsumer(context.Background(), f, "arn:stream", "app", MaxRefusals(4),
			OnRefused(func(n int, err error) {
				if !errors.As(err, new(*types.LimitExceededException)) {
					t.Errorf("refusal %d reported with %v", n, err)
				}
				refusals = append(refusals, n)
			}))
		if !errors.Is(err, ErrConsumerLimit) || !errors.As(err, new(*types.LimitExceededException)) {
			t.Fatalf("EnsureConsumer = %v, want ErrConsumerLimit wrapping the refusal", err)
		}
		if f.registers != 4 || len(refusals) != 4 || refusals[3] != 4 {
			t.Errorf("%d registrations, refusals reported %v; want 4 of each", f.registers, refusals)
		}
	})
}

// hangingConsumers never answers a call until its context ends.
type hangingConsumers struct{ calls int }

func (h *hangingConsumers) DescribeStreamConsumer(ctx context.Context, _ *kinesis.DescribeStreamConsumerInput, _ ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error) {
	h.calls++
	<-ctx.Done()
	return nil, ctx.Err()
}

func (h *hangingConsumers) RegisterStreamConsumer(ctx context.Context, _ *kinesis.RegisterStreamConsumerInput, _ ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A DescribeStreamConsumer that is never answered costs one call timeout.
func TestEnsureConsumerCallTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		_, err := EnsureConsumer(context.Background(), &hangingConsumers{}, "arn:stream", "app", RegistrationCallTimeout(3*time.Second))
		if !errors.Is(err, context.DeadlineExceeded) || awserr.Classify(err).Class != awserr.Transient {
			t.Fatalf("EnsureConsumer = %v (%v), want a transient deadline", err, awserr.Classify(err).Class)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("gave up after %v, want the 3s call timeout", d)
		}
	})
}
