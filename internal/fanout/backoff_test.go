package fanout

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/shardwise/shardwise/internal/awserr"
	"github.com/shardwise/shardwise/kinesistest"
)

// refusingAPI answers SubscribeToShard with errs in order (the last repeats) and notes the call times.
type refusingAPI struct {
	mu    sync.Mutex
	errs  []error
	calls []time.Time
	opts  int // per-call options seen on the last call
}

func (f *refusingAPI) SubscribeToShard(ctx context.Context, in *kinesis.SubscribeToShardInput, optFns ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.errs[min(len(f.calls), len(f.errs)-1)]
	f.calls = append(f.calls, time.Now())
	f.opts = len(optFns)
	return nil, err
}

func (f *refusingAPI) times() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.calls...)
}

// TestRefusalBackoff: refused subscriptions are retried after at least 1 s, with growing jittered
// delays capped by MaxRetryDelay, without failing; a fatal error then ends the subscriber.
func TestRefusalBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inUse := &types.ResourceInUseException{Message: aws.String("in use")}
		limit := &types.LimitExceededException{Message: aws.String("rate")}
		errs := []error{inUse, limit, inUse, inUse, inUse, inUse, inUse, inUse}
		gone := &types.ResourceNotFoundException{Message: aws.String("gone")}
		f := &refusingAPI{errs: append(errs, gone)}
		at := newAttempts()
		sub, err := Subscribe(context.Background(), f, "arn:c", shard0, trimHorizon, MaxRetryDelay(8*time.Second), OnAttempt(at.hook))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		_, err = sub.Next(context.Background())
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) {
			t.Fatalf("Next = %v, want the fatal ResourceNotFoundException", err)
		}
		calls := f.times()
		if len(calls) != len(errs)+1 {
			t.Fatalf("%d calls, want %d", len(calls), len(errs)+1)
		}
		for i := 1; i < len(calls); i++ {
			gap := calls[i].Sub(calls[i-1])
			ceiling := min(2*time.Second<<(i-1), 8*time.Second)
			if gap < MinRetryDelay || gap < ceiling/2 || gap > ceiling {
				t.Errorf("retry %d after %v, want within [%v, %v]", i, gap, max(MinRetryDelay, ceiling/2), ceiling)
			}
		}
		list := at.snapshot()
		if len(list) != len(calls) || list[len(list)-1].Retry != 0 || list[0].Retry < MinRetryDelay {
			t.Errorf("attempts = %+v", list)
		}
		if f.opts != 2 {
			t.Errorf("%d per-call options, want 2 (SDK retries off, own protocol)", f.opts)
		}
	})
}

// TestKMSErrorsRetried: the KMS errors of a stream key being rotated, disabled or re-enabled are
// retried with backoff like refusals (the Java KCL retries them too); only a Terminal error such as
// InvalidArgumentException ends the subscriber.
func TestKMSErrorsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		msg := aws.String("key state")
		kms := []error{
			&types.KMSInvalidStateException{Message: msg}, &types.KMSDisabledException{Message: msg},
			&types.KMSNotFoundException{Message: msg}, &types.KMSAccessDeniedException{Message: msg},
			&types.KMSOptInRequired{Message: msg},
		}
		bad := &types.InvalidArgumentException{Message: aws.String("sequence number not in shard")}
		f := &refusingAPI{errs: append(append([]error(nil), kms...), bad)}
		at := newAttempts()
		sub, err := Subscribe(context.Background(), f, "arn:c", shard0, trimHorizon, OnAttempt(at.hook))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		_, err = sub.Next(context.Background())
		var ia *types.InvalidArgumentException
		if !errors.As(err, &ia) {
			t.Fatalf("Next = %v, want the fatal InvalidArgumentException", err)
		}
		list := at.snapshot()
		if len(list) != len(kms)+1 {
			t.Fatalf("%d attempts, want %d (every KMS error retried): %+v", len(list), len(kms)+1, list)
		}
		for _, a := range list[:len(kms)] {
			if a.Retry < MinRetryDelay {
				t.Errorf("attempt %+v: want a retry after >= %v", a, MinRetryDelay)
			}
		}
	})
}

// TestCloseDuringBackoff: Close returns at once while the subscriber waits to retry, and Next then
// reports ErrDone; cancelling the lifecycle context does the same.
func TestCloseDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &refusingAPI{errs: []error{&types.ResourceInUseException{Message: aws.String("in use")}}}
		sub, err := Subscribe(context.Background(), f, "arn:c", shard0, trimHorizon)
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		start := time.Now()
		sub.Close()
		sub.Close()
		if d := time.Since(start); d != 0 {
			t.Errorf("Close took %v of fake time", d)
		}
		if _, err := sub.Next(context.Background()); !errors.Is(err, ErrDone) {
			t.Errorf("Next after Close = %v, want ErrDone", err)
		}

		ctx, cancel := context.WithCancel(context.Background())
		sub2, err := Subscribe(ctx, f, "arn:c", shard0, trimHorizon)
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		cancel()
		<-sub2.Done()
		if _, err := sub2.Next(context.Background()); !errors.Is(err, ErrDone) {
			t.Errorf("Next after cancel = %v, want ErrDone", err)
		}
	})
}

// TestSDKDefaultClientNegotiatesH2 checks what the package doc claims: the SDK's default HTTP client
// (BuildableClient) speaks HTTP/2 by ALPN to a TLS endpoint without any setting, here with only the
// test server's certificate trusted.
// It dials a real loopback socket: the package's smoke test of HTTP/2 over TLS outside a bubble.
func TestSDKDefaultClientNegotiatesH2(t *testing.T) {
	e := newSocketEnv(t)
	consumer := e.stream(t, "h2", 1)
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.TLSClientConfig.RootCAs = e.srv.CertPool()
	})
	kc := sdkClient(e.srv, hc)
	out, err := kc.SubscribeToShard(testCtx(t), &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(consumer),
		ShardId: aws.String(shard0), StartingPosition: &trimHorizon})
	if err != nil {
		t.Fatalf("SubscribeToShard with the SDK's default client: %v", err)
	}
	defer out.GetStream().Close()
	raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response)
	if !ok {
		t.Fatalf("no raw response in the metadata")
	}
	if raw.ProtoMajor != 2 {
		t.Errorf("SubscribeToShard over %s, want HTTP/2", raw.Proto)
	}
}

// TestSubscribeHTTPClientOption: the control client speaks HTTP/1.1 and SubscribeHTTPClient gives the
// subscriptions their own HTTP/2 client.
func TestSubscribeHTTPClientOption(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		consumer := e.stream(t, "opt", 1)
		ct := &countingTransport{next: e.srv.HTTP2Client().Transport}
		sub, err := Subscribe(testCtx(t), e.ctl, consumer, shard0, trimHorizon, SubscribeHTTPClient(&http.Client{Transport: ct}))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		e.put(t, "opt", numbered(0, 2)...)
		if got := collect(t, sub, 2); len(got) != 2 {
			t.Fatalf("got %v", got)
		}
		ct.mu.Lock()
		defer ct.mu.Unlock()
		if len(ct.protos) == 0 || ct.protos[0] != "HTTP/2.0" {
			t.Errorf("subscriptions went over %v, want the injected HTTP/2 client", ct.protos)
		}

	})
}

// TestTransientErrorsRetried: a throttled and then a failed (HTTP 500) SubscribeToShard are retried
// after at least a second each, and the subscriber then delivers from its starting position.
func TestTransientErrorsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		consumer := e.stream(t, "flaky", 1)
		var mu sync.Mutex
		calls := 0
		remove := e.srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			if req.Op != "SubscribeToShard" {
				return kinesistest.Action{}, false
			}
			mu.Lock()
			defer mu.Unlock()
			calls++
			switch calls {
			case 1:
				return kinesistest.Action{Err: &kinesistest.Error{Code: kinesistest.CodeLimitExceeded, Message: "Rate exceeded for consumer"}}, true
			case 2:
				return kinesistest.Action{Err: &kinesistest.Error{Code: kinesistest.CodeInternalFailure, Message: "boom"}}, true
			}
			return kinesistest.Action{}, false
		})
		defer remove()
		e.put(t, "flaky", numbered(0, 3)...)
		at := newAttempts()
		sub, err := Subscribe(testCtx(t), e.fan, consumer, shard0, trimHorizon, OnAttempt(at.hook))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if got := collect(t, sub, 3); strings.Join(got, ",") != "rec-0,rec-1,rec-2" {
			t.Errorf("got %v", got)
		}
		list := at.snapshot()
		if len(list) != 3 || awserr.Classify(list[0].Err).Code != "LimitExceededException" || list[1].Err == nil || list[2].Err != nil {
			t.Fatalf("attempts = %+v, want LimitExceeded, InternalFailure, accepted", list)
		}
		for _, a := range list[:2] {
			if a.Retry < MinRetryDelay || a.Start.Type != types.ShardIteratorTypeTrimHorizon {
				t.Errorf("attempt %+v: want a retry after >= 1s from the starting position", a)
			}
		}

	})
}
