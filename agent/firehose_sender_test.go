package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/internal/backoff"
	"github.com/shardwise/shardwise/kpl"
)

// fakeFirehose records each PutRecordBatch call; fail decides per entry (nil: accepted), callErr
// fails whole calls.
type fakeFirehose struct {
	mu       sync.Mutex
	calls    [][][]byte
	accepted [][]byte
	fail     func(data []byte) bool
	callErr  error
}

func (f *fakeFirehose) PutRecordBatch(_ context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var call [][]byte
	for _, r := range in.Records {
		call = append(call, r.Data)
	}
	f.calls = append(f.calls, call)
	if f.callErr != nil {
		return nil, f.callErr
	}
	out := &firehose.PutRecordBatchOutput{}
	for _, d := range call {
		if f.fail != nil && f.fail(d) {
			out.RequestResponses = append(out.RequestResponses, fhtypes.PutRecordBatchResponseEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("try again")})
			continue
		}
		f.accepted = append(f.accepted, d)
		out.RequestResponses = append(out.RequestResponses, fhtypes.PutRecordBatchResponseEntry{RecordId: aws.String("id")})
	}
	return out, nil
}

func newTestSender(c FirehoseAPI, f Flow) *firehoseSender {
	f.DeliveryStream = "fh"
	return newFirehoseSender(c, f, backoff.Policy{Base: time.Millisecond, Max: time.Millisecond}, slog.New(slog.DiscardHandler), nil)
}

// TestFirehoseSenderBatchLimits: 1,200 records of 10 KiB go in calls of at most 500 records and
// 4 MiB (409 records of 10 KiB), in put order.
func TestFirehoseSenderBatchLimits(t *testing.T) {
	c := &fakeFirehose{}
	s := newTestSender(c, Flow{MaxBufferAge: time.Hour}) // calls only when full, or at Flush
	defer s.Close()
	var futs []future
	var want [][]byte
	for i := range 1200 {
		d := append([]byte(fmt.Sprintf("%05d", i)), bytes.Repeat([]byte{'x'}, 10<<10-5)...)
		want = append(want, d)
		futs = append(futs, s.PutAsync(context.Background(), kpl.Record{Data: d}))
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, f := range futs {
		if _, err := f.Wait(context.Background()); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, call := range c.calls {
		n := 0
		for _, d := range call {
			n += len(d)
		}
		if len(call) > firehoseMaxBatchRecords || n > firehoseMaxBatchBytes {
			t.Errorf("call %d: %d records, %d bytes: over the PutRecordBatch limits", i, len(call), n)
		}
	}
	if len(c.calls) != 3 || len(c.calls[0]) != 409 {
		t.Errorf("%d calls, the first of %d records; want 3 calls of up to 409 (4 MiB)", len(c.calls), len(c.calls[0]))
	}
	if len(c.accepted) != len(want) {
		t.Fatalf("%d accepted, want %d", len(c.accepted), len(want))
	}
	for i := range want {
		if !bytes.Equal(c.accepted[i], want[i]) {
			t.Fatalf("record %d out of order", i)
		}
	}
}

// TestFirehoseSenderFailures: an entry that keeps failing is sent firehoseAttempts times, then its
// future fails with a *FirehoseError (the flow sends it again); the others are delivered. A
// record over 1,000 KiB and a call Firehose calls invalid are rejected for good.
func TestFirehoseSenderFailures(t *testing.T) {
	c := &fakeFirehose{fail: func(d []byte) bool { return string(d) == "bad" }}
	s := newTestSender(c, Flow{})
	defer s.Close()
	ctx := context.Background()
	good := s.PutAsync(ctx, kpl.Record{Data: []byte("good")})
	bad := s.PutAsync(ctx, kpl.Record{Data: []byte("bad")})
	huge := s.PutAsync(ctx, kpl.Record{Data: make([]byte, firehoseMaxRecordBytes+1)})
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := good.Wait(ctx); err != nil {
		t.Errorf("good: %v", err)
	}
	var fe *FirehoseError
	if _, err := bad.Wait(ctx); !errors.As(err, &fe) || fe.Code != "InternalFailure" {
		t.Errorf("bad: %v, want a *FirehoseError InternalFailure", err)
	}
	if _, err := huge.Wait(ctx); !errors.Is(err, kpl.ErrRecordTooLarge) {
		t.Errorf("huge: %v, want kpl.ErrRecordTooLarge", err)
	}
	c.mu.Lock()
	sentBad := 0
	for _, call := range c.calls {
		for _, d := range call {
			if string(d) == "bad" {
				sentBad++
			}
		}
	}
	c.callErr = &smithy.GenericAPIError{Code: "ValidationException", Message: "no"}
	c.mu.Unlock()
	if sentBad != firehoseAttempts {
		t.Errorf("failing entry sent %d times, want %d", sentBad, firehoseAttempts)
	}
	invalid := s.PutAsync(ctx, kpl.Record{Data: []byte("x")})
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := invalid.Wait(ctx); !errors.Is(err, kpl.ErrInvalidRecord) {
		t.Errorf("ValidationException: %v, want kpl.ErrInvalidRecord", err)
	}
}

// TestFirehoseSenderClose: records still lingering fail with kpl.ErrClosed at Close, and later
// puts too.
func TestFirehoseSenderClose(t *testing.T) {
	c := &fakeFirehose{}
	s := newTestSender(c, Flow{MaxBufferAge: time.Hour})
	ctx := context.Background()
	f := s.PutAsync(ctx, kpl.Record{Data: []byte("late")})
	s.Close()
	if _, err := f.Wait(ctx); !errors.Is(err, kpl.ErrClosed) {
		t.Errorf("lingering record: %v, want kpl.ErrClosed", err)
	}
	if _, err := s.PutAsync(ctx, kpl.Record{Data: []byte("after")}).Wait(ctx); !errors.Is(err, kpl.ErrClosed) {
		t.Errorf("put after Close: %v, want kpl.ErrClosed", err)
	}
}

// TestFirehoseSenderAggregation: lines are concatenated up to aggregatedRecordSizeBytes; a line
// that would overflow starts the next record.
func TestFirehoseSenderAggregation(t *testing.T) {
	c := &fakeFirehose{}
	s := newTestSender(c, Flow{AggregatedRecordSizeBytes: 10})
	defer s.Close()
	ctx := context.Background()
	for _, l := range []string{"aaa\n", "bbb\n", "cc\n", "dddddddddddd\n", "e\n"} {
		s.PutAsync(ctx, kpl.Record{Data: []byte(l)})
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var got []string
	for _, d := range c.accepted {
		got = append(got, string(d))
	}
	want := []string{"aaa\nbbb\n", "cc\n", "dddddddddddd\n", "e\n"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records %q, want %q", got, want)
	}
}
