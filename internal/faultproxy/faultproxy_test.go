package faultproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// upstream is an HTTP server that answers "ok <body>" and counts the requests it got.
func upstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, "ok "+string(b))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func newProxy(t *testing.T, srv *httptest.Server) *Proxy {
	t.Helper()
	p, err := New(strings.TrimPrefix(srv.URL, "http://"), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func call(t *testing.T, c *http.Client, url, body string) (int, string, error) {
	t.Helper()
	resp, err := c.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestForwardsOnOneConnection(t *testing.T) {
	srv, n := upstream(t)
	p := newProxy(t, srv)
	c := &http.Client{}
	for i := range 5 {
		code, body, err := call(t, c, p.URL(), "x")
		if err != nil || code != 200 || body != "ok x" {
			t.Fatalf("call %d: %d %q %v", i, code, body, err)
		}
	}
	st := p.Stats()
	if n.Load() != 5 || st.Forwarded != 5 || st.Requests != 5 {
		t.Errorf("upstream got %d, stats %+v; want 5 forwarded", n.Load(), st)
	}
	if st.Connections != 1 {
		t.Errorf("%d connections, want 1 (keep-alive through the proxy)", st.Connections)
	}
}

func TestLatency(t *testing.T) {
	srv, _ := upstream(t)
	p := newProxy(t, srv)
	if err := p.SetFaults(Faults{Latency: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{}
	for range 2 { // each call on the kept-alive connection is delayed, not only the first
		start := time.Now()
		if _, _, err := call(t, c, p.URL(), "x"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("call took %v, want >= 200ms", d)
		}
	}
}

func TestThrottle(t *testing.T) {
	srv, n := upstream(t)
	p := newProxy(t, srv)
	if err := p.SetFaults(Faults{ThrottleRate: 1}); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{}
	for range 2 {
		code, body, err := call(t, c, p.URL(), "x")
		if err != nil {
			t.Fatal(err)
		}
		if code != 400 || !strings.Contains(body, `"__type":"ProvisionedThroughputExceededException"`) {
			t.Errorf("got %d %q, want 400 ProvisionedThroughputExceededException", code, body)
		}
	}
	if n.Load() != 0 {
		t.Errorf("upstream got %d throttled requests", n.Load())
	}
	if st := p.Stats(); st.Throttled != 2 || st.Connections != 1 {
		t.Errorf("stats %+v, want 2 throttled on 1 connection", st)
	}
}

func TestReset(t *testing.T) {
	srv, n := upstream(t)
	p := newProxy(t, srv)
	if err := p.SetFaults(Faults{ResetRate: 1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := call(t, &http.Client{}, p.URL(), "x"); err == nil {
		t.Fatal("call through a resetting link succeeded")
	}
	if n.Load() != 0 || p.Stats().Resets == 0 {
		t.Errorf("upstream got %d, stats %+v", n.Load(), p.Stats())
	}
}

func TestHangUntilClientGivesUp(t *testing.T) {
	srv, n := upstream(t)
	p := newProxy(t, srv)
	if err := p.SetFaults(Faults{HangRate: 1}); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 300 * time.Millisecond}
	_, _, err := call(t, c, p.URL(), "x")
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("got %v, want a client timeout", err)
	}
	if n.Load() != 0 || p.Stats().Hung != 1 {
		t.Errorf("upstream got %d, stats %+v", n.Load(), p.Stats())
	}
}

func TestBlackholeHoldsThenDelivers(t *testing.T) {
	srv, n := upstream(t)
	p := newProxy(t, srv)
	if err := p.SetFaults(Faults{Partition: Blackhole}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		_, body, err := call(t, &http.Client{}, p.URL(), "held")
		done <- result{body, err}
	}()
	waitUntil(t, "the request to be held", func() bool { return p.Stats().Held == 1 })
	select {
	case r := <-done:
		t.Fatalf("answered during the partition: %+v", r)
	default:
	}
	if n.Load() != 0 {
		t.Fatal("forwarded during the partition")
	}
	if err := p.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.body != "ok held" {
		t.Fatalf("after healing: %+v", r)
	}
	if st := p.Stats(); st.Held != 0 {
		t.Errorf("still %d held", st.Held)
	}
}

func TestRejectResetsOpenConnections(t *testing.T) {
	srv, _ := upstream(t)
	p := newProxy(t, srv)
	c := &http.Client{}
	if _, _, err := call(t, c, p.URL(), "x"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetFaults(Faults{Partition: Reject}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := call(t, c, p.URL(), "x"); err == nil {
		t.Fatal("call through a rejecting link succeeded")
	}
	if err := p.SetFaults(Faults{}); err != nil {
		t.Fatal(err)
	}
	if _, body, err := call(t, c, p.URL(), "y"); err != nil || body != "ok y" {
		t.Fatalf("after healing: %q %v", body, err)
	}
}

func TestCloseEndsHeldAndHungCalls(t *testing.T) {
	srv, _ := upstream(t)
	p := newProxy(t, srv)
	if err := p.SetFaults(Faults{HangRate: 1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", p.URL(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitUntil(t, "the call to hang", func() bool { return p.Stats().Hung == 1 })
	if err := p.Close(); err != nil { // returns only once every connection goroutine ended
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Error("hung call answered")
	}
}

func TestInvalidFaults(t *testing.T) {
	srv, _ := upstream(t)
	p := newProxy(t, srv)
	for _, f := range []Faults{{ResetRate: -0.1}, {HangRate: 1.5}, {ResetRate: 0.6, ThrottleRate: 0.6}, {Latency: -1}, {Partition: 7}} {
		if err := p.SetFaults(f); !errors.Is(err, ErrInvalidFaults) {
			t.Errorf("SetFaults(%+v) = %v, want ErrInvalidFaults", f, err)
		}
	}
}
