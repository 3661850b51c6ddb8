package bodyguard

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

type closeCounter struct {
	*bytes.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestBodyReducedToReadAndClose(t *testing.T) {
	var seen io.ReadCloser
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	inner := doerFunc(func(r *http.Request) (*http.Response, error) {
		seen = r.Body
		return http.DefaultClient.Do(r)
	})
	body := &closeCounter{Reader: bytes.NewReader([]byte("payload"))}
	req, err := http.NewRequest(http.MethodPost, srv.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := Client(inner).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, ok := seen.(io.WriterTo); ok {
		t.Fatal("the transport saw a body with WriteTo")
	}
	if req.Body != io.ReadCloser(body) {
		t.Fatal("the caller's request was changed")
	}
	if string(got) != "payload" || body.closed == 0 {
		t.Fatalf("server read %q, body closed %d times", got, body.closed)
	}
	// No body: the request passes unchanged.
	r0, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	if strip(r0) != r0 {
		t.Fatal("a request without a body was copied")
	}
	rt := RoundTripper(http.DefaultTransport)
	r1, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader([]byte("x")))
	resp, err = rt.RoundTrip(r1)
	if err != nil || string(got) != "x" {
		t.Fatalf("round trip: %v, server read %q", err, got)
	}
	resp.Body.Close()
}

type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }
