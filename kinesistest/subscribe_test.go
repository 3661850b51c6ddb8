package kinesistest_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

func registerConsumer(t testing.TB, c *kinesis.Client, streamARN, name string) string {
	t.Helper()
	out, err := c.RegisterStreamConsumer(ctxT(t), &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)})
	if err != nil {
		t.Fatalf("RegisterStreamConsumer: %v", err)
	}
	return aws.ToString(out.Consumer.ConsumerARN)
}

// nextEvent waits for the next SubscribeToShardEvent; ok is false when the stream ended.
func nextEvent(t testing.TB, ev <-chan types.SubscribeToShardEventStream) (types.SubscribeToShardEvent, bool) {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case e, ok := <-ev:
		if !ok {
			return types.SubscribeToShardEvent{}, false
		}
		v, isEvent := e.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !isEvent {
			t.Fatalf("unexpected event %T", e)
		}
		return v.Value, true
	case <-timer.C:
		t.Fatal("no event within 10s")
	}
	return types.SubscribeToShardEvent{}, false
}

func TestSubscribeToShardPushAndShardEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  []kinesistest.Option
		major int
	}{
		// Kinesis serves SubscribeToShard over HTTP/2 only; the server also streams over HTTP/1.1
		// (with Server.Client, whose workaround keeps the SDK from tearing the connection down).
		{"h2c", nil, 2},
		{"tls-h2", []kinesistest.Option{kinesistest.TLS()}, 2},
		{"http1", nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := start(t, tc.opts...)
			hc := srv.HTTP2Client()
			if tc.major == 1 {
				hc = srv.Client()
			}
			var protos protoRecorder
			protos.next = hc.Transport
			hc.Transport = &protos
			fan := newClient(t, srv, hc)
			ctx := ctxT(t)
			sum := createStream(t, c, "fan", 1)
			arn := registerConsumer(t, c, aws.ToString(sum.StreamDescriptionSummary.StreamARN), "app")
			out, err := fan.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String("shardId-000000000000"),
				StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}})
			if err != nil {
				t.Fatalf("SubscribeToShard: %v", err)
			}
			es := out.GetStream()
			defer es.Close()
			first, ok := nextEvent(t, es.Events())
			if !ok || len(first.Records) != 0 || first.ContinuationSequenceNumber == nil {
				t.Fatalf("first event = %+v, want empty with continuation", first)
			}
			_, err = fan.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String("shardId-000000000000"),
				StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest}})
			wantCode(t, err, "ResourceInUseException")

			putN(t, c, "fan", 3, func(i int) string { return fmt.Sprint(i) })
			var got []string
			var lastCont string
			for len(got) < 3 {
				e, ok := nextEvent(t, es.Events())
				if !ok {
					t.Fatalf("stream ended early: %v", es.Err())
				}
				for _, r := range e.Records {
					got = append(got, string(r.Data))
					lastCont = aws.ToString(r.SequenceNumber)
				}
				if len(e.Records) > 0 && aws.ToString(e.ContinuationSequenceNumber) != lastCont {
					t.Errorf("continuation %s, want last record %s", aws.ToString(e.ContinuationSequenceNumber), lastCont)
				}
			}
			if fmt.Sprint(got) != "[rec-0 rec-1 rec-2]" {
				t.Errorf("pushed %v", got)
			}
			if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("fan"), ShardToSplit: aws.String("shardId-000000000000"),
				NewStartingHashKey: aws.String("170141183460469231731687303715884105728")}); err != nil {
				t.Fatalf("SplitShard: %v", err)
			}
			for {
				e, ok := nextEvent(t, es.Events())
				if !ok {
					t.Fatalf("stream ended without a shard-end event: %v", es.Err())
				}
				if e.ContinuationSequenceNumber != nil {
					continue // a heartbeat
				}
				if len(e.ChildShards) != 2 || aws.ToString(e.ChildShards[0].ShardId) != "shardId-000000000001" ||
					fmt.Sprint(e.ChildShards[1].ParentShards) != "[shardId-000000000000]" {
					t.Errorf("shard end event children = %+v", e.ChildShards)
				}
				break
			}
			if _, ok := nextEvent(t, es.Events()); ok {
				t.Error("events after shard end")
			}
			if err := es.Err(); err != nil {
				t.Errorf("stream error: %v", err)
			}
			if p := protos.get(); p != tc.major {
				t.Errorf("fan-out client spoke HTTP/%d, want %d", p, tc.major)
			}
		})
	}
}

func TestSubscriptionExpires(t *testing.T) {
	srv, _ := start(t, kinesistest.SubscriptionDuration(200*time.Millisecond))
	c := newClient(t, srv, srv.HTTP2Client())
	ctx := ctxT(t)
	sum := createStream(t, c, "exp", 1)
	arn := registerConsumer(t, c, aws.ToString(sum.StreamDescriptionSummary.StreamARN), "app")
	in := &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String("shardId-000000000000"),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest}}
	for round := range 2 {
		out, err := c.SubscribeToShard(ctx, in)
		if err != nil {
			t.Fatalf("round %d: SubscribeToShard: %v", round, err)
		}
		es := out.GetStream()
		var events int
		for {
			_, ok := nextEvent(t, es.Events())
			if !ok {
				break
			}
			events++
		}
		if err := es.Err(); err != nil || events == 0 {
			t.Errorf("round %d: events=%d err=%v, want a clean end after some events", round, events, err)
		}
		es.Close()
	}
}

// protoRecorder remembers the HTTP major version of the last answer.
type protoRecorder struct {
	next  http.RoundTripper
	mu    sync.Mutex
	major int
}

func (p *protoRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := p.next.RoundTrip(r)
	if err == nil {
		p.mu.Lock()
		p.major = resp.ProtoMajor
		p.mu.Unlock()
	}
	return resp, err
}

func (p *protoRecorder) get() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.major
}

func TestCloseEndsSubscriptions(t *testing.T) {
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv, srv.HTTP2Client())
	ctx := ctxT(t)
	sum := createStream(t, c, "cl", 1)
	arn := registerConsumer(t, c, aws.ToString(sum.StreamDescriptionSummary.StreamARN), "app")
	out, err := c.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String("shardId-000000000000"),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest}})
	if err != nil {
		t.Fatal(err)
	}
	es := out.GetStream()
	defer es.Close()
	nextEvent(t, es.Events())
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		t.Fatal("Close did not return within 5s with a subscription open")
	}
	// Close waits for every request goroutine: none may still run server code.
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, frame := range []string{"kinesistest.(*Server).ServeHTTP", "kinesistest.(*subscription).run", "kinesistest.NewServer.func"} {
		if strings.Contains(stacks, frame) {
			t.Errorf("after Close a goroutine still runs %s", frame)
		}
	}
	for {
		if _, ok := nextEvent(t, es.Events()); !ok {
			break
		}
	}
}

// TestSubscribeRateLimit checks that under EnforceLimits a subscription delivers about 2 MiB per
// second of the server clock: with the clock stopped, delivery stalls after the first 2 MiB.
func TestSubscribeRateLimit(t *testing.T) {
	clock := kinesistest.NewManualClock(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
	srv, c := start(t, kinesistest.EnforceLimits(), kinesistest.Clock(clock.Now))
	ctx := ctxT(t)
	sum := createStream(t, c, "sr", 1)
	for range 4 { // 4 MiB, within the write limit of 1 MiB/s
		if _, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("sr"), Records: entries(4, 250<<10, "")}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	arn := registerConsumer(t, c, aws.ToString(sum.StreamDescriptionSummary.StreamARN), "app")
	fan := newClient(t, srv, srv.HTTP2Client())
	out, err := fan.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String("shardId-000000000000"),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}})
	if err != nil {
		t.Fatal(err)
	}
	es := out.GetStream()
	defer es.Close()
	received := 0
	for {
		e, ok := nextEvent(t, es.Events())
		if !ok {
			t.Fatalf("stream ended: %v", es.Err())
		}
		if len(e.Records) == 0 {
			break // paced: nothing more until the clock moves
		}
		for _, r := range e.Records {
			received += len(r.Data) + len(aws.ToString(r.PartitionKey))
		}
	}
	if received < 2<<20-(250<<10) || received > 2<<20+(250<<10) {
		t.Errorf("received %d bytes before pacing, want about 2 MiB", received)
	}
	clock.Advance(time.Second)
	for received < 4*4*(250<<10) {
		e, ok := nextEvent(t, es.Events())
		if !ok {
			t.Fatalf("stream ended: %v", es.Err())
		}
		for _, r := range e.Records {
			received += len(r.Data) + len(aws.ToString(r.PartitionKey))
		}
		if len(e.Records) == 0 {
			clock.Advance(time.Second)
		}
	}
}

// TestSubscribeStartingPositions resumes subscriptions from sequence numbers and a timestamp, as a
// consumer does with a checkpoint or a ContinuationSequenceNumber.
func TestSubscribeStartingPositions(t *testing.T) {
	srv, c := start(t)
	fan := newClient(t, srv, srv.HTTP2Client())
	ctx := ctxT(t)
	sum := createStream(t, c, "pos", 1)
	out := putN(t, c, "pos", 4, func(int) string { return "k" })
	seq1 := out.Records[1].SequenceNumber
	recs, _ := drain(t, c, iterator(t, c, "pos", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, ""))
	if len(recs) != 4 {
		t.Fatalf("%d records", len(recs))
	}
	first, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iterator(t, c, "pos", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pos  types.StartingPosition
		want string
	}{
		{"at", types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: seq1}, "[rec-1 rec-2 rec-3]"},
		{"after", types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: seq1}, "[rec-2 rec-3]"},
		{"timestamp", types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: first.Records[0].ApproximateArrivalTimestamp}, "[rec-0 rec-1 rec-2 rec-3]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arn := registerConsumer(t, c, aws.ToString(sum.StreamDescriptionSummary.StreamARN), tt.name)
			sub, err := fan.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String("shardId-000000000000"), StartingPosition: &tt.pos})
			if err != nil {
				t.Fatal(err)
			}
			es := sub.GetStream()
			defer es.Close()
			e, ok := nextEvent(t, es.Events())
			if !ok {
				t.Fatalf("no event: %v", es.Err())
			}
			var got []string
			for _, r := range e.Records {
				got = append(got, string(r.Data))
			}
			if fmt.Sprint(got) != tt.want || aws.ToString(e.ContinuationSequenceNumber) != aws.ToString(out.Records[3].SequenceNumber) {
				t.Errorf("first event %v (continuation %s), want %s ending at %s", got, aws.ToString(e.ContinuationSequenceNumber), tt.want, aws.ToString(out.Records[3].SequenceNumber))
			}
		})
	}
	// A bad sequence number is refused before the stream starts.
	arn := registerConsumer(t, c, aws.ToString(sum.StreamDescriptionSummary.StreamARN), "bad")
	_, err = fan.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn), ShardId: aws.String("shardId-000000000000"),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String("123")}})
	wantCode(t, err, "InvalidArgumentException")
	_, err = fan.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(arn + "x"), ShardId: aws.String("shardId-000000000000"),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest}})
	wantCode(t, err, "ResourceNotFoundException")
}
