package fanout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/internal/awserr"
	"github.com/shardwise/shardwise/kinesistest"
)

var trimHorizon = types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}

const shard0 = "shardId-000000000000"

// TestPushAsRecordsArrive subscribes at LATEST and checks that each record put is pushed before the
// next one is written, with its continuation sequence number.
func TestPushAsRecordsArrive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		consumer := e.stream(t, "push", 1)
		at := newAttempts()
		sub, err := Subscribe(testCtx(t), e.fan, consumer, shard0, types.StartingPosition{Type: types.ShardIteratorTypeLatest}, OnAttempt(at.hook))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		at.waitAccepted(t, 1)
		for i := range 5 {
			seq := e.put(t, "push", []byte(fmt.Sprint(i)))[0]
			ev := next(t, sub)
			if len(ev.Records) != 1 || string(ev.Records[0].Data) != fmt.Sprint(i) {
				t.Fatalf("event %d = %+v, want the record just put", i, ev.Records)
			}
			if ev.ContinuationSequenceNumber != seq || aws.ToString(ev.Records[0].SequenceNumber) != seq {
				t.Errorf("continuation %q, record %q; want %q", ev.ContinuationSequenceNumber, aws.ToString(ev.Records[0].SequenceNumber), seq)
			}
			if ev.ShardEnd {
				t.Errorf("shard end on an open shard")
			}
		}

	})
}

// TestStartingPositions checks every starting position type.
func TestStartingPositions(t *testing.T) {
	clock := kinesistest.NewManualClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	e := newSocketEnv(t, kinesistest.Clock(clock.Now)) // subtests share the server: no bubble (fast anyway)
	e.stream(t, "pos", 1)
	seqs := e.put(t, "pos", numbered(0, 3)...)
	clock.Advance(time.Minute)
	later := clock.Now()
	seqs = append(seqs, e.put(t, "pos", numbered(3, 6)...)...)

	tests := []struct {
		name  string
		start types.StartingPosition
		want  string // first record delivered
	}{
		{"trim horizon", trimHorizon, "rec-0"},
		{"at sequence", types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(seqs[2])}, "rec-2"},
		{"after sequence", types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(seqs[2])}, "rec-3"},
		{"at timestamp", types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(later)}, "rec-3"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A consumer each: a second subscription to the same consumer and shard within 5 s is refused.
			consumer := e.consumer(t, "pos", fmt.Sprint("c", i))
			sub, err := Subscribe(testCtx(t), e.fan, consumer, shard0, tt.start)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			got := collect(t, sub, 1)
			if got[0] != tt.want {
				t.Errorf("Subscribe(%s) first record = %s, want %s", describe(tt.start), got[0], tt.want)
			}
		})
	}
	for _, bad := range []types.StartingPosition{
		{Type: types.ShardIteratorTypeAtSequenceNumber},
		{Type: types.ShardIteratorTypeAtTimestamp},
		{Type: "SOMEWHERE"},
	} {
		if _, err := Subscribe(testCtx(t), e.fan, "arn:consumer", shard0, bad); err == nil {
			t.Errorf("Subscribe(%+v) accepted an invalid starting position", bad)
		}
	}
}

// TestResubscribeAcrossExpiry makes the server end every subscription after one second while records
// keep arriving, and checks that every record is delivered exactly once, in order.
func TestResubscribeAcrossExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, kinesistest.SubscriptionDuration(time.Second))
		consumer := e.stream(t, "expiry", 1)
		at := newAttempts()
		sub, err := Subscribe(testCtx(t), e.fan, consumer, shard0, trimHorizon, OnAttempt(at.hook))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()

		// Write batches until the subscriber has been through four subscriptions, reading as we go.
		var want, got []string
		ticker := time.NewTicker(50 * time.Millisecond)
		defer ticker.Stop()
		deadline := time.Now().Add(30 * time.Second)
		for i := 0; at.accepted() < 4; i += 7 {
			if time.Now().After(deadline) {
				t.Fatalf("only %d subscriptions in 30s", at.accepted())
			}
			batch := numbered(i, i+7)
			e.put(t, "expiry", batch...)
			for _, b := range batch {
				want = append(want, string(b))
			}
			got = append(got, collect(t, sub, len(want)-len(got))...)
			<-ticker.C
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("got %d records, want %d in order without duplicates:\ngot  %v\nwant %v", len(got), len(want), got, want)
		}
		for _, a := range at.snapshot()[1:] {
			if a.Err == nil && a.Start.Type != types.ShardIteratorTypeAfterSequenceNumber {
				t.Errorf("resubscribed at %s, want AFTER_SEQUENCE_NUMBER the continuation", describe(a.Start))
			}
		}
		t.Logf("%d records over %d subscriptions (%d attempts)", len(got), at.accepted(), len(at.snapshot()))

	})
}

// TestSecondSubscriberBacksOff starts a second subscriber for the same consumer and shard while the
// first is open: Kinesis refuses it with ResourceInUseException; it must back off at least a second
// each time, without failing, and get in once the first has gone and the 5 s window (shortened by the
// server option to the 2 s subscription length) has passed.
func TestSecondSubscriberBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, kinesistest.SubscriptionDuration(2*time.Second))
		consumer := e.stream(t, "twice", 1)
		atA, atB := newAttempts(), newAttempts()
		a, err := Subscribe(testCtx(t), e.fan, consumer, shard0, trimHorizon, OnAttempt(atA.hook))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		atA.waitAccepted(t, 1)
		b, err := Subscribe(testCtx(t), e.fan, consumer, shard0, trimHorizon, OnAttempt(atB.hook))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		e.put(t, "twice", numbered(0, 3)...)
		if got := collect(t, a, 3); strings.Join(got, ",") != "rec-0,rec-1,rec-2" {
			t.Errorf("first subscriber got %v", got)
		}
		atB.waitAttempts(t, 1)
		a.Close()
		if got := collect(t, b, 3); strings.Join(got, ",") != "rec-0,rec-1,rec-2" {
			t.Errorf("second subscriber got %v", got)
		}
		list := atB.snapshot()
		if len(list) < 2 || list[0].Err == nil {
			t.Fatalf("second subscriber attempts = %+v, want a refusal first", list)
		}
		refused := 0
		for _, at := range list {
			if at.Err == nil {
				continue
			}
			refused++
			if code := awserr.Classify(at.Err).Code; code != codeInUse && code != "LimitExceededException" {
				t.Errorf("refusal %v, want ResourceInUseException", at.Err)
			}
			if at.Retry < MinRetryDelay {
				t.Errorf("retry after %v, want at least %v", at.Retry, MinRetryDelay)
			}
		}
		if refused > 5 {
			t.Errorf("%d refusals before getting in: not backing off", refused)
		}

	})
}

// TestShardEndAfterSplit reads a shard that is split: its records, then an event with the two children
// and no continuation, then ErrDone.
func TestShardEndAfterSplit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		consumer := e.stream(t, "split", 1)
		e.put(t, "split", numbered(0, 4)...)
		sub, err := Subscribe(testCtx(t), e.fan, consumer, shard0, trimHorizon)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if got := collect(t, sub, 4); len(got) != 4 {
			t.Fatalf("got %v before the split", got)
		}
		if _, err := e.ctl.SplitShard(testCtx(t), &kinesis.SplitShardInput{StreamName: aws.String("split"), ShardToSplit: aws.String(shard0),
			NewStartingHashKey: aws.String("170141183460469231731687303715884105728")}); err != nil {
			t.Fatalf("SplitShard: %v", err)
		}
		e.put(t, "split", numbered(4, 6)...) // goes to a child
		ev := next(t, sub)
		if !ev.ShardEnd || len(ev.Records) != 0 || ev.ContinuationSequenceNumber != "" {
			t.Fatalf("event after split = %+v, want shard end without records", ev)
		}
		var kids []string
		for _, c := range ev.ChildShards {
			kids = append(kids, aws.ToString(c.ShardId)+"<"+strings.Join(c.ParentShards, "+"))
		}
		if strings.Join(kids, " ") != "shardId-000000000001<shardId-000000000000 shardId-000000000002<shardId-000000000000" {
			t.Errorf("children = %v", kids)
		}
		if _, err := sub.Next(testCtx(t)); !errors.Is(err, ErrDone) {
			t.Errorf("Next after shard end = %v, want ErrDone", err)
		}
		<-sub.Done()

	})
}

// TestSlowConsumerBoundedMemory puts 16 MiB and reads nothing: the subscriber must stop reading the
// event stream once its buffer is full (so HTTP/2 flow control holds the server), then deliver
// everything in order as the caller catches up.
func TestSlowConsumerBoundedMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		ct := &countingTransport{next: e.srv.HTTP2Client().Transport}
		fan := sdkClient(e.srv, &http.Client{Transport: ct})
		consumer := e.stream(t, "slow", 1)
		const n, size = 40, 400 << 10
		data := make([][]byte, n)
		for i := range data {
			data[i] = []byte(fmt.Sprintf("%04d", i) + strings.Repeat("x", size-4))
		}
		e.put(t, "slow", data...)

		var received atomic.Int64 // events with records taken off the stream
		sub, err := Subscribe(testCtx(t), fan, consumer, shard0, trimHorizon, Buffer(1),
			onReceive(func(records int) {
				if records > 0 {
					received.Add(1)
				}
			}))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		// Pipeline full: one event in the buffer, one waiting to be handed over.
		deadline := time.Now().Add(15 * time.Second)
		for received.Load() < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("pipeline never filled: %d events received", received.Load())
			}
			waitBriefly()
		}
		// Watch for half a second while nothing is consumed: the subscriber must take nothing more, and
		// the SDK must read only a few events' worth off the wire (its two reader goroutines hold one each).
		const wireBound = 8 << 20 // 4 events of ~1.4 MiB of JSON, with margin; the stream is ~21 MiB
		for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); waitBriefly() {
			if r := received.Load(); r > 2 {
				t.Fatalf("%d events taken off the stream with nothing consumed and Buffer(1)", r)
			}
			if b := ct.bytesRead(); b > wireBound {
				t.Fatalf("%d bytes read off the wire with nothing consumed, want <= %d", b, wireBound)
			}
		}
		var got []string
		consumed := int64(0)
		for len(got) < n {
			ev := next(t, sub)
			consumed++
			for _, r := range ev.Records {
				got = append(got, string(r.Data[:4]))
			}
			if r := received.Load(); r-consumed > 2 {
				t.Fatalf("%d events received, %d consumed: more than Buffer(1)+1 in flight", r, consumed)
			}
		}
		for i, g := range got {
			if g != fmt.Sprintf("%04d", i) {
				t.Fatalf("record %d = %s, out of order", i, g)
			}
		}
		if ct.protos[0] != "HTTP/2.0" {
			t.Errorf("subscription over %s, want HTTP/2.0", ct.protos[0])
		}

	})
}

// TestConcurrentSubscriptionsOneClient reads four shards at once through one Kinesis client: under
// -race this fails if the streams share the client's event-stream decoding state (see ownProtocol).
func TestConcurrentSubscriptionsOneClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		consumer := e.stream(t, "four", 4)
		subs := make([]*Subscriber, 4)
		for i := range subs {
			sub, err := Subscribe(testCtx(t), e.fan, consumer, fmt.Sprintf("shardId-%012d", i), trimHorizon)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			subs[i] = sub
		}
		// Explicit hash keys route record i to shard i%4.
		entries := make([]types.PutRecordsRequestEntry, 40)
		for i := range entries {
			ehk := [4]string{"0", "85070591730234615865843651857942052864", "170141183460469231731687303715884105728", "255211775190703847597530955573826158592"}[i%4]
			entries[i] = types.PutRecordsRequestEntry{Data: []byte(fmt.Sprint(i)), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(ehk)}
		}
		if _, err := e.ctl.PutRecords(testCtx(t), &kinesis.PutRecordsInput{StreamName: aws.String("four"), Records: entries}); err != nil {
			t.Fatal(err)
		}
		for i, sub := range subs {
			got := collect(t, sub, 10)
			for j, g := range got {
				if want := fmt.Sprint(i + 4*j); g != want {
					t.Fatalf("shard %d record %d = %s, want %s", i, j, g, want)
				}
			}
		}

	})
}

// TestSubscribeCallTimeout: the first SubscribeToShard is never answered (kinesistest's hang); it
// costs one call timeout, reported as a retryable attempt, and the next subscription delivers.
func TestSubscribeCallTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		consumer := e.stream(t, "hang", 1)
		e.put(t, "hang", numbered(0, 3)...)
		var subscribes atomic.Int32
		e.srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			if req.Op == "SubscribeToShard" && subscribes.Add(1) == 1 {
				return kinesistest.Action{Hang: true}, true
			}
			return kinesistest.Action{}, false
		})
		at := newAttempts()
		sub, err := Subscribe(testCtx(t), e.fan, consumer, shard0, trimHorizon, CallTimeout(300*time.Millisecond), OnAttempt(at.hook))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		if got := collect(t, sub, 3); strings.Join(got, ",") != "rec-0,rec-1,rec-2" {
			t.Errorf("delivered %v", got)
		}
		first := at.snapshot()[0]
		if !errors.Is(first.Err, context.DeadlineExceeded) || first.Retry == 0 {
			t.Errorf("first attempt = %+v, want a timed-out attempt retried", first)
		}

	})
}
