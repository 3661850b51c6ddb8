package fanout

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

var _ API = (*kinesis.Client)(nil)

// env is a kinesistest server over TLS with two SDK clients: ctl (HTTP/1.1, control plane and puts)
// and fan (HTTP/2, subscriptions).
type env struct {
	srv      *kinesistest.Server
	ctl, fan *kinesis.Client
}

// newEnv starts the server on kinesistest's virtual network: call it inside a synctest bubble, where
// subscription lifetimes, the 5 s resubscribe window and backoffs run on the fake clock.
func newEnv(t testing.TB, opts ...kinesistest.Option) *env {
	t.Helper()
	return newSocketEnv(t, append([]kinesistest.Option{kinesistest.VirtualNetwork()}, opts...)...)
}

// newSocketEnv starts the server on a loopback socket (benchmarks, and the tests of real dialing).
func newSocketEnv(t testing.TB, opts ...kinesistest.Option) *env {
	t.Helper()
	checkNoLeaks(t) // registered first: runs after the server is closed
	srv, err := kinesistest.NewServer(append([]kinesistest.Option{kinesistest.TLS()}, opts...)...)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return &env{srv: srv, ctl: sdkClient(srv, srv.Client()), fan: sdkClient(srv, srv.HTTP2Client())}
}

func sdkClient(srv *kinesistest.Server, hc aws.HTTPClient) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL()),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:       hc,
		RetryMaxAttempts: 1,
	})
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// stream creates a stream with n shards and an ACTIVE consumer "app"; it returns the consumer ARN.
func (e *env) stream(t testing.TB, name string, shards int32) string {
	t.Helper()
	ctx := testCtx(t)
	if _, err := e.ctl.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	return e.consumer(t, name, "app")
}

// consumer registers (or finds) consumer name of stream and returns its ARN.
func (e *env) consumer(t testing.TB, stream, name string) string {
	t.Helper()
	ctx := testCtx(t)
	arn, err := StreamARN(ctx, e.ctl, stream)
	if err != nil {
		t.Fatal(err)
	}
	consumer, err := EnsureConsumer(ctx, e.ctl, arn, name)
	if err != nil {
		t.Fatal(err)
	}
	return consumer
}

// put writes the records data[i] to stream with partition key "k" (one shard for 1-shard streams), in
// PutRecords calls of at most 500 entries, and returns their sequence numbers.
func (e *env) put(t testing.TB, stream string, data ...[]byte) []string {
	t.Helper()
	var seqs []string
	for len(data) > 0 {
		n := min(len(data), 500)
		entries := make([]types.PutRecordsRequestEntry, n)
		for i := range entries {
			entries[i] = types.PutRecordsRequestEntry{Data: data[i], PartitionKey: aws.String("k")}
		}
		out, err := e.ctl.PutRecords(testCtx(t), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			t.Fatalf("PutRecords: %v", err)
		}
		for _, r := range out.Records {
			if r.ErrorCode != nil {
				t.Fatalf("PutRecords entry failed: %s", aws.ToString(r.ErrorMessage))
			}
			seqs = append(seqs, aws.ToString(r.SequenceNumber))
		}
		data = data[n:]
	}
	return seqs
}

func numbered(from, to int) [][]byte {
	var out [][]byte
	for i := from; i < to; i++ {
		out = append(out, []byte(fmt.Sprintf("rec-%d", i)))
	}
	return out
}

// next returns the next event, failing the test after 15 s.
func next(t testing.TB, s *Subscriber) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ev, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return ev
}

// collect reads until n records arrived and returns their data.
func collect(t testing.TB, s *Subscriber, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		ev := next(t, s)
		for _, r := range ev.Records {
			got = append(got, string(r.Data))
		}
		if ev.ShardEnd {
			break
		}
	}
	return got
}

// attempts records the OnAttempt calls of a subscriber.
type attempts struct {
	mu   sync.Mutex
	list []Attempt
	ch   chan Attempt // every attempt, non-blocking (capacity 64)
}

func newAttempts() *attempts { return &attempts{ch: make(chan Attempt, 64)} }

func (a *attempts) hook(at Attempt) {
	a.mu.Lock()
	a.list = append(a.list, at)
	a.mu.Unlock()
	select {
	case a.ch <- at:
	default:
	}
}

func (a *attempts) snapshot() []Attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Attempt(nil), a.list...)
}

func (a *attempts) accepted() int {
	n := 0
	for _, at := range a.snapshot() {
		if at.Err == nil {
			n++
		}
	}
	return n
}

// waitAccepted waits until n subscriptions were accepted.
func (a *attempts) waitAccepted(t testing.TB, n int) {
	t.Helper()
	a.waitFor(t, fmt.Sprintf("%d accepted", n), func() bool { return a.accepted() >= n })
}

// waitAttempts waits until n SubscribeToShard calls were made.
func (a *attempts) waitAttempts(t testing.TB, n int) {
	t.Helper()
	a.waitFor(t, fmt.Sprintf("%d attempts", n), func() bool { return len(a.snapshot()) >= n })
}

func (a *attempts) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not %s within 20s: %+v", what, a.snapshot())
		}
		timer := time.NewTimer(time.Until(deadline))
		select {
		case <-a.ch:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// leakMarkers are stack frames of goroutines a finished Subscriber must not leave behind: its own loop
// and the SDK's event-stream readers.
var leakMarkers = []string{
	"internal/fanout.(*Subscriber)",
	"subscribeToShardEventStreamReader",
	"(*EventStreamReader).readEventStream",
	"(*SubscribeToShardEventStream).waitStreamClose",
}

// checkNoLeaks fails the test if, once it has ended (cleanups run in reverse order, so this runs
// last), subscriber or event-stream goroutines remain after a 5 s grace.
func checkNoLeaks(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			var found string
			for _, m := range leakMarkers {
				if strings.Contains(stacks, m) {
					found = m
				}
			}
			if found == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutine left behind (%s):\n%s", found, stacks)
				return
			}
			runtime.Gosched()
			waitBriefly()
		}
	})
}

// waitBriefly blocks for a few milliseconds while polling with a deadline.
func waitBriefly() {
	timer := time.NewTimer(10 * time.Millisecond)
	<-timer.C
}

// countingTransport counts the response-body bytes read of SubscribeToShard calls and records the
// HTTP protocol of their responses.
type countingTransport struct {
	next http.RoundTripper

	mu     sync.Mutex
	read   int64
	protos []string
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".SubscribeToShard") {
		return resp, err
	}
	c.mu.Lock()
	c.protos = append(c.protos, resp.Proto)
	c.mu.Unlock()
	resp.Body = &countingBody{ReadCloser: resp.Body, c: c}
	return resp, nil
}

func (c *countingTransport) bytesRead() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read
}

type countingBody struct {
	io.ReadCloser
	c *countingTransport
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.mu.Lock()
	b.c.read += int64(n)
	b.c.mu.Unlock()
	return n, err
}
