package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
	"github.com/shardwise/shardwise/lease"
)

// fakeClock is a settable clock for the health checks.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestPutHealthz: /healthz is 200 while put delivers, 503 with the reason once records have been
// buffered for --unhealthy-after with none delivered, and 200 again after a delivery.
func TestPutHealthz(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	m := newCLIMetrics("orders", clk.now)
	srv := httptest.NewServer(metricsMux(m.writeProducer, func() string { return m.putHealth(time.Minute) }))
	defer srv.Close()

	if code, body := get(t, srv, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("idle: %d %q", code, body)
	}
	m.OnRecordBuffered(kpl.RecordBufferedEvent{Stream: "orders", Pending: 1})
	m.OnRecordBuffered(kpl.RecordBufferedEvent{Stream: "orders", Pending: 2})
	clk.add(59 * time.Second)
	if code, _ := get(t, srv, "/healthz"); code != 200 {
		t.Fatalf("59 s after buffering: %d, want 200", code)
	}
	clk.add(time.Second)
	code, body := get(t, srv, "/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "2 records buffered, none delivered for 1m0s (none delivered yet)") {
		t.Fatalf("stalled: %d %q", code, body)
	}
	m.OnRecordDone(kpl.RecordDoneEvent{Stream: "orders", Bytes: 5, Attempts: 1})
	if code, body := get(t, srv, "/healthz"); code != 200 {
		t.Fatalf("after a delivery: %d %q", code, body)
	}
	clk.add(2 * time.Minute)
	if code, body := get(t, srv, "/healthz"); code != 503 || !strings.Contains(body, "last delivery 2m0s ago") {
		t.Fatalf("stalled again: %d %q", code, body)
	}
	m.OnRecordDone(kpl.RecordDoneEvent{Stream: "orders", Err: errors.New("gave up")})
	if code, body := get(t, srv, "/healthz"); code != 200 {
		t.Fatalf("nothing buffered: %d %q", code, body)
	}
}

// TestConsumeHealthz: 503 while the lease table has not been reached for --unhealthy-after, or
// once the worker gave up (enhanced fan-out registration refused).
func TestConsumeHealthz(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	m := newCLIMetrics("s", clk.now)
	srv := httptest.NewServer(metricsMux(m.writeConsumer, func() string { return m.consumeHealth(time.Minute) }))
	defer srv.Close()
	if code, _ := get(t, srv, "/healthz"); code != 200 {
		t.Fatalf("at start: %d", code)
	}
	clk.add(time.Minute)
	m.OnLeaseRenewed(lease.RenewEvent{Table: "app", Err: errors.New("RequestLimitExceeded")})
	if code, body := get(t, srv, "/healthz"); code != 503 || !strings.Contains(body, "lease table has not been reached for 1m0s (1 renewal errors)") {
		t.Fatalf("table unreachable: %d %q", code, body)
	}
	m.OnLeaseTakeRound(lease.TakeRoundEvent{Table: "app", Leases: 2, Workers: 1})
	if code, body := get(t, srv, "/healthz"); code != 200 {
		t.Fatalf("after a take round: %d %q", code, body)
	}
	m.OnConsumerRegistrationRefused(kcl.RegistrationEvent{Stream: "s", Consumer: "c1", Refusal: 3, GaveUp: true, Err: errors.New("LimitExceededException")})
	if code, body := get(t, srv, "/healthz"); code != 503 || !strings.Contains(body, "consumer c1 refused") {
		t.Fatalf("worker gave up: %d %q", code, body)
	}
}

// TestPutMetricsEndpoint: a put run with metrics on counts its records under the adapter's names.
func TestPutMetricsEndpoint(t *testing.T) {
	ks, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	kc := ks.KinesisClient()
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "m", "--shards", "2")
	m := newCLIMetrics("m", nil)
	srv := httptest.NewServer(metricsMux(m.writeProducer, func() string { return m.putHealth(time.Minute) }))
	defer srv.Close()
	var in strings.Builder
	for i := range 50 {
		fmt.Fprintf(&in, `{"k":"%d"}`+"\n", i)
	}
	var errOut strings.Builder
	if _, err := putLines(ctx, kc, "m", putConfig{keyField: "k", linger: defaultPutLinger, metrics: m}, strings.NewReader(in.String()), &errOut); err != nil {
		t.Fatalf("put: %v\n%s", err, errOut.String())
	}
	code, body := get(t, srv, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"# TYPE shardwise_kpl_user_records_put_total counter\n",
		`shardwise_kpl_user_records_put_total{stream="m"} 50` + "\n",
		`shardwise_kpl_user_records_received_total{stream="m"} 50` + "\n",
		`shardwise_kpl_user_records_pending{stream="m"} 0` + "\n",
		`shardwise_kpl_user_records_failed_total{stream="m"} 0` + "\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

// TestConsumeMetricsEndpoint: a consume run with metrics on (its lease Manager given the same
// hooks, as runConsume does) counts the records it processed and the leases it took, and is healthy.
func TestConsumeMetricsEndpoint(t *testing.T) {
	ctx := testCtx(t)
	kc := newTestKinesis(t)
	mustStream(t, ctx, kc, "create", "cm", "--shards", "2")
	for i := range 10 {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("cm"), PartitionKey: aws.String(fmt.Sprint(i)),
			Data: fmt.Appendf(nil, "r%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	cm := newCLIMetrics("cm", nil)
	srv := httptest.NewServer(metricsMux(cm.writeConsumer, func() string { return cm.consumeHealth(time.Minute) }))
	defer srv.Close()
	m, err := lease.NewManager(fakeaws.NewDynamoDB(), "app", "w1", lease.Failover(3*time.Second), lease.WithHooks(cm))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	c := consumeConfig{max: 10, format: "raw", pollInterval: 200 * time.Millisecond, syncInterval: time.Minute,
		grace: 10 * time.Second, idleTimeout: 10 * time.Second, metrics: cm}
	var out strings.Builder
	if n, err := consume(ctx, kc, m, "cm", kcl.TrimHorizon, c, &out, slog.New(slog.DiscardHandler)); err != nil || n != 10 {
		t.Fatalf("consume = %d, %v", n, err)
	}
	_, body := get(t, srv, "/metrics")
	for _, want := range []string{
		`shardwise_kcl_records_processed_total{stream="cm"} 10` + "\n",
		"shardwise_lease_leases_taken_total 2\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if code, body := get(t, srv, "/healthz"); code != 200 {
		t.Errorf("/healthz after a run: %d %q", code, body)
	}
}
