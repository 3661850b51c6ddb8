package testenv

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
)

// subscribeToShardTarget is the X-Amz-Target of SubscribeToShard requests (Kinesis JSON 1.1 protocol).
const subscribeToShardTarget = "Kinesis_20131202.SubscribeToShard"

// maxEventMessage bounds the first event-stream message the shim buffers (the format allows 16 MiB).
const maxEventMessage = 16 << 20

// FanOutEndpoint returns the HTTPS Kinesis endpoint for fan-out tests (SHARDWISE_KINESIS_TLS_ENDPOINT). It
// skips the test when unset and fails it when the host is not loopback.
func FanOutEndpoint(t testing.TB) string {
	t.Helper()
	v := os.Getenv(EnvKinesisTLSEndpoint)
	if v == "" {
		t.Skipf("no fan-out endpoint configured (%s is unset): %s", EnvKinesisTLSEndpoint, HowTo)
	}
	if err := CheckLoopbackURL(v); err != nil {
		t.Fatalf("refusing %s=%q: %v", EnvKinesisTLSEndpoint, v, err)
	}
	return v
}

// FanOutHTTPClient returns an HTTP client that speaks HTTP/2 over TLS to loopback addresses only and accepts
// the local engine's self-signed certificate. Certificate checks are skipped, which is acceptable only
// because the dialer refuses every non-loopback address; never use this outside tests. The client's idle
// connections are closed when the test ends.
func FanOutHTTPClient(t testing.TB) *http.Client {
	t.Helper()
	var p http.Protocols
	p.SetHTTP2(true)
	tr := &http.Transport{
		DialContext:         loopbackDial(&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}),
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // loopback test engine with a self-signed cert
		ForceAttemptHTTP2:   true,
		Protocols:           &p,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConns:        16,
		IdleConnTimeout:     30 * time.Second,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// FanOutKinesis returns a Kinesis client for SubscribeToShard against the local engine: HTTP/2 over TLS to
// SHARDWISE_KINESIS_TLS_ENDPOINT through [InitialResponseShim]. Other operations work on it too.
func FanOutKinesis(t testing.TB) *kinesis.Client {
	t.Helper()
	ep := FanOutEndpoint(t)
	hc := FanOutHTTPClient(t)
	hc.Transport = InitialResponseShim(hc.Transport)
	cfg := loadConfig(t)
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(ep)
		o.HTTPClient = hc
	})
}

// InitialResponseShim wraps next so that every successful SubscribeToShard response stream begins with the
// `initial-response` event. kinesis-mock never sends that event and the Go SDK waits for it before it
// returns from SubscribeToShard. When a server does send it first (AWS, or a fixed engine), the stream
// passes through unchanged. Test-only.
func InitialResponseShim(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &initialResponseShim{next: next}
}

type initialResponseShim struct {
	next http.RoundTripper
}

func (s *initialResponseShim) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.next.RoundTrip(req)
	if err != nil || req.Header.Get("X-Amz-Target") != subscribeToShardTarget || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	resp.Body = &shimBody{orig: resp.Body, br: bufio.NewReader(resp.Body)}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return resp, nil
}

// InitialResponseEvent returns the encoded `initial-response` event-stream message with an empty JSON
// object as payload (the SubscribeToShard output has no non-stream members).
func InitialResponseEvent() []byte {
	var buf bytes.Buffer
	msg := eventstream.Message{
		Headers: eventstream.Headers{
			{Name: ":message-type", Value: eventstream.StringValue("event")},
			{Name: ":event-type", Value: eventstream.StringValue("initial-response")},
			{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		},
		Payload: []byte("{}"),
	}
	if err := eventstream.NewEncoder().Encode(&buf, msg); err != nil {
		panic(fmt.Sprintf("testenv: encoding initial-response: %v", err)) // cannot happen: fixed input
	}
	return buf.Bytes()
}

// shimBody peeks at the first event-stream message on the first Read and, unless it already is an
// initial-response event, serves a synthesized one before it.
type shimBody struct {
	orig io.ReadCloser
	br   *bufio.Reader

	once sync.Once
	r    io.Reader // set by once: what Read serves
}

func (b *shimBody) Read(p []byte) (int, error) {
	b.once.Do(b.prepare)
	return b.r.Read(p)
}

func (b *shimBody) Close() error { return b.orig.Close() }

func (b *shimBody) prepare() {
	first, err := readMessage(b.br)
	if err != nil {
		// Serve what was read and then the error, so the SDK reports it as it would have.
		b.r = io.MultiReader(bytes.NewReader(first), &errReader{err: err})
		return
	}
	if isInitialResponse(first) {
		b.r = io.MultiReader(bytes.NewReader(first), b.br)
		return
	}
	b.r = io.MultiReader(bytes.NewReader(InitialResponseEvent()), bytes.NewReader(first), b.br)
}

// readMessage reads one whole event-stream message (its total length is the first 4 bytes).
func readMessage(r io.Reader) ([]byte, error) {
	var prelude [4]byte
	if n, err := io.ReadFull(r, prelude[:]); err != nil {
		if err == io.EOF { //nolint:errorlint // io.ReadFull returns io.EOF unwrapped
			return nil, io.EOF
		}
		return prelude[:n], err
	}
	total := binary.BigEndian.Uint32(prelude[:])
	if total < 16 || total > maxEventMessage {
		return prelude[:], fmt.Errorf("testenv: implausible event-stream message length %d", total)
	}
	msg := make([]byte, total)
	copy(msg, prelude[:])
	n, err := io.ReadFull(r, msg[4:])
	if err != nil {
		return msg[:4+n], err
	}
	return msg, nil
}

func isInitialResponse(raw []byte) bool {
	msg, err := eventstream.NewDecoder().Decode(bytes.NewReader(raw), nil)
	if err != nil {
		return false
	}
	v := msg.Headers.Get(":event-type")
	return v != nil && v.String() == "initial-response"
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// OwnEventStreamProtocol is a per-call option for SubscribeToShard: it gives the call a protocol
// instance of its own. The SDK client's shared protocol keeps event-stream decoding state in one codec
// used without locking by every stream of the client, so two subscriptions on one client (open at once,
// or one opened while the previous stream's reader goroutine is still winding down) are a data race
// under -race (aws/smithy-go issue #714, smithy-go v1.28.9).
//
//	out, err := fc.SubscribeToShard(ctx, in, testenv.OwnEventStreamProtocol)
func OwnEventStreamProtocol(o *kinesis.Options) {
	o.Protocol = awsjson.New11(schemas.Kinesis_20131202)
}
