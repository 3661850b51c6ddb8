package kinesistest_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/kinesistest"
)

func TestRequestLevelErrors(t *testing.T) {
	srv, c := start(t)
	ctx := ctxT(t)
	createStream(t, c, "req", 1)
	// typed checks the SDK's typed error for the code; nil where the SDK has none.
	tests := []struct {
		code  string
		typed func(error) bool
	}{
		{kinesistest.CodeKMSThrottling, func(err error) bool { var e *types.KMSThrottlingException; return errors.As(err, &e) }},
		{kinesistest.CodeKMSInvalidState, func(err error) bool { var e *types.KMSInvalidStateException; return errors.As(err, &e) }},
		{kinesistest.CodeKMSDisabled, func(err error) bool { var e *types.KMSDisabledException; return errors.As(err, &e) }},
		{kinesistest.CodeKMSNotFound, func(err error) bool { var e *types.KMSNotFoundException; return errors.As(err, &e) }},
		{kinesistest.CodeKMSAccessDenied, func(err error) bool { var e *types.KMSAccessDeniedException; return errors.As(err, &e) }},
		{kinesistest.CodeKMSOptInRequired, func(err error) bool { var e *types.KMSOptInRequired; return errors.As(err, &e) }},
		{kinesistest.CodeAccessDenied, func(err error) bool { var e *types.AccessDeniedException; return errors.As(err, &e) }},
		{kinesistest.CodeExpiredToken, nil},
		{kinesistest.CodeInvalidSignature, nil},
	}
	var code atomic.Value
	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op != "PutRecords" && req.Op != "PutRecord" {
			return kinesistest.Action{}, false
		}
		return kinesistest.Action{Err: kinesistest.NewError(code.Load().(string))}, true
	})
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			code.Store(tt.code)
			_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("req"), PartitionKey: aws.String("k"), Data: []byte("x")})
			wantRequestError(t, err, tt.code)
			_, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("req"), Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("x")}}})
			wantRequestError(t, err, tt.code)
			if tt.typed != nil && !tt.typed(err) {
				t.Errorf("PutRecords error %T (%v): not the SDK's typed error for %s", err, err, tt.code)
			}
		})
	}
	code.Store("none")
	if n := stored(t, c, "req"); n != 0 {
		t.Errorf("%d records stored by refused calls, want none", n)
	}
}

func TestClockSkew(t *testing.T) {
	now := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	msg := kinesistest.ClockSkewError(now.Add(-10*time.Minute), now).Message
	if want := "Signature expired: 20240301T115000Z is now earlier than 20240301T115500Z (20240301T120000Z - 5 min.)"; msg != want {
		t.Errorf("ClockSkewError message %q, want %q", msg, want)
	}
	if msg := kinesistest.ClockSkewError(now.Add(10*time.Minute), now).Message; !strings.HasPrefix(msg, "Signature not yet current: 20240301T121000Z is still later than 20240301T120500Z") {
		t.Errorf("ClockSkewError from the future: %q", msg)
	}

	srv, _ := start(t)
	ctx := ctxT(t)
	retrying := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), HTTPClient: srv.Client(), Credentials: aws.AnonymousCredentials{},
		Retryer: retry.AddWithMaxBackoffDelay(retry.AddWithMaxAttempts(retry.NewStandard(), 3), time.Millisecond)})
	var calls, skewed atomic.Int32
	var serverAhead atomic.Bool
	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op != "ListStreams" {
			return kinesistest.Action{}, false
		}
		calls.Add(1)
		if skewed.Add(-1) < 0 {
			return kinesistest.Action{}, false
		}
		a := kinesistest.Action{Err: kinesistest.ClockSkewError(time.Now(), time.Now().Add(10*time.Minute))}
		if serverAhead.Load() {
			a.Date = time.Now().Add(10 * time.Minute)
		}
		return a, true
	})
	// The real Date: the SDK sees no skew and gives up at once.
	skewed.Store(1)
	_, err := retrying.ListStreams(ctx, &kinesis.ListStreamsInput{})
	wantRequestError(t, err, kinesistest.CodeInvalidSignature, "Signature expired")
	if n := calls.Load(); n != 1 {
		t.Errorf("%d attempts with a truthful Date header, want 1 (no retry)", n)
	}
	// A Date 10 minutes ahead: the SDK corrects its clock and retries.
	calls.Store(0)
	skewed.Store(1)
	serverAhead.Store(true)
	if _, err := retrying.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Errorf("ListStreams after a skewed InvalidSignatureException: %v, want the SDK's clock-skew retry to succeed", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d attempts with a skewed Date header, want 2", n)
	}
}

func TestRandomRequestLevelFaults(t *testing.T) {
	kinds := []kinesistest.FaultKind{kinesistest.FaultKMSThrottling, kinesistest.FaultExpiredToken}
	srv, c := start(t, kinesistest.Faults(kinesistest.FaultConfig{Rate: 1, Kinds: kinds, Seed: 5}))
	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		return kinesistest.Action{}, req.Op != "PutRecord" // let the setup through
	})
	createStream(t, c, "rnd", 1)
	ctx := ctxT(t)
	codes := map[string]int{}
	for range 40 {
		_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("rnd"), PartitionKey: aws.String("k"), Data: []byte("x")})
		var kms *types.KMSThrottlingException
		var ae smithy.APIError
		switch {
		case errors.As(err, &kms):
			codes["kms"]++
		case errors.As(err, &ae) && ae.ErrorCode() == kinesistest.CodeExpiredToken:
			codes["token"]++
		default:
			t.Fatalf("PutRecord under KMS/token faults at rate 1: %v", err)
		}
	}
	if codes["kms"] == 0 || codes["token"] == 0 {
		t.Errorf("outcomes %v, want both kinds drawn", codes)
	}
	// KMS throttling belongs to the data plane: with only that kind, ListStreams is never failed.
	_, c2 := start(t, kinesistest.Faults(kinesistest.FaultConfig{Rate: 1, Kinds: kinds[:1]}))
	for range 10 {
		if _, err := c2.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
			t.Fatalf("ListStreams under FaultKMSThrottling: %v", err)
		}
	}
}
