package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

func TestCheckLoopbackURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:4568", true},
		{"http://127.8.9.10:1", true},
		{"https://localhost:4566", true},
		{"http://LOCALHOST", true},
		{"http://[::1]:4568", true},
		{"http://10.0.0.1:4568", false},
		{"https://kinesis.us-east-1.amazonaws.com", false},
		{"http://localhost.example.com", false},
		{"http://127.0.0.1.nip.io", false},
		{"http://[::2]:1", false},
		{"ftp://127.0.0.1", false},
		{"http://user:pw@127.0.0.1", false},
		{"127.0.0.1:4568", false},
		{"", false},
	}
	for _, tt := range tests {
		err := CheckLoopbackURL(tt.url)
		if (err == nil) != tt.ok {
			t.Errorf("CheckLoopbackURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

func TestLoopbackDialRefusesOtherHosts(t *testing.T) {
	// A literal address needs no resolver, so this runs offline.
	conn, err := loopbackDial(new(net.Dialer))(t.Context(), "tcp", "192.0.2.1:80")
	if err == nil {
		conn.Close()
		t.Fatal("dial to 192.0.2.1 succeeded, want refusal")
	}
	if !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("dial to 192.0.2.1: %v, want a loopback refusal", err)
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,128}$`)

func TestUniqueName(t *testing.T) {
	tests := []struct{ name, prefix string }{
		{"plain", "sw"},
		{"with spaces/and#odd*chars é", "lease"},
		{strings.Repeat("very-long-subtest-name-", 20), "prefix"},
		{"x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := UniqueName(t, tt.prefix), UniqueName(t, tt.prefix)
			if !nameRE.MatchString(a) {
				t.Errorf("UniqueName = %q, want match of %s", a, nameRE)
			}
			if a == b {
				t.Errorf("two UniqueName calls both returned %q", a)
			}
			if tt.prefix != "" && !strings.HasPrefix(a, tt.prefix+"-") {
				t.Errorf("UniqueName = %q, want prefix %q", a, tt.prefix+"-")
			}
		})
	}
}

// fakeTransport answers every request with a fixed status and body.
type fakeTransport struct {
	status int
	body   []byte
}

func (f fakeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: f.status,
		Header:     http.Header{"Content-Type": {"application/vnd.amazon.eventstream"}},
		Body:       io.NopCloser(bytes.NewReader(f.body)),
		Request:    req,
	}, nil
}

func eventMessage(t *testing.T, eventType, payload string) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := eventstream.NewEncoder().Encode(&buf, eventstream.Message{
		Headers: eventstream.Headers{
			{Name: ":message-type", Value: eventstream.StringValue("event")},
			{Name: ":event-type", Value: eventstream.StringValue(eventType)},
		},
		Payload: []byte(payload),
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// eventTypes decodes a whole event stream and returns each message's :event-type.
func eventTypes(t *testing.T, r io.Reader) []string {
	t.Helper()
	var types []string
	dec := eventstream.NewDecoder()
	for {
		msg, err := dec.Decode(r, nil)
		if err == io.EOF { //nolint:errorlint // the decoder returns io.EOF unwrapped at a message boundary
			return types
		}
		if err != nil {
			t.Fatalf("decoding event stream after %v: %v", types, err)
		}
		types = append(types, msg.Headers.Get(":event-type").String())
	}
}

func shimRequest(t *testing.T, target string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://127.0.0.1:4569/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", target)
	return req
}

func TestInitialResponseShim(t *testing.T) {
	record := eventMessage(t, "SubscribeToShardEvent", `{"Records":[]}`)
	initial := eventMessage(t, "initial-response", `{}`)
	tests := []struct {
		name   string
		target string
		status int
		body   []byte
		want   []string
	}{
		{"prepends when missing", subscribeToShardTarget, 200, record, []string{"initial-response", "SubscribeToShardEvent"}},
		{"two events", subscribeToShardTarget, 200, append(append([]byte{}, record...), record...),
			[]string{"initial-response", "SubscribeToShardEvent", "SubscribeToShardEvent"}},
		{"keeps an existing one", subscribeToShardTarget, 200, append(append([]byte{}, initial...), record...),
			[]string{"initial-response", "SubscribeToShardEvent"}},
		{"other operation untouched", "Kinesis_20131202.GetRecords", 200, record, []string{"SubscribeToShardEvent"}},
		{"error response untouched", subscribeToShardTarget, 400, record, []string{"SubscribeToShardEvent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := InitialResponseShim(fakeTransport{status: tt.status, body: tt.body})
			resp, err := rt.RoundTrip(shimRequest(t, tt.target))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := eventTypes(t, resp.Body)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("event types = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInitialResponseShimTruncatedStream(t *testing.T) {
	record := eventMessage(t, "SubscribeToShardEvent", `{"Records":[]}`)
	rt := InitialResponseShim(fakeTransport{status: 200, body: record[:len(record)-3]})
	resp, err := rt.RoundTrip(shimRequest(t, subscribeToShardTarget))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("reading a truncated stream: no error, %d bytes", len(got))
	}
	if !bytes.Equal(got, record[:len(record)-3]) {
		t.Errorf("truncated stream served %d bytes, want the %d bytes received", len(got), len(record)-3)
	}
}

// recordingTB stands in for *testing.T around Endpoint: Skipf and Fatalf record the outcome and end
// the calling goroutine like the real ones do.
type recordingTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestEndpointGate(t *testing.T) {
	tests := []struct {
		name, specific, global string
		want                   string // "skip", "fail" or the endpoint returned
	}{
		{"unset skips", "", "", "skip"},
		{"service variable", "http://127.0.0.1:4568", "", "http://127.0.0.1:4568"},
		{"global variable", "", "http://localhost:4566", "http://localhost:4566"},
		{"service variable wins", "http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:1"},
		{"remote host fails", "https://kinesis.us-east-1.amazonaws.com", "", "fail"},
		{"remote global fails", "", "http://192.0.2.7:4566", "fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL_KINESIS", tt.specific)
			t.Setenv("AWS_ENDPOINT_URL", tt.global)
			rec := &recordingTB{TB: t}
			var got string
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = Endpoint(rec, "kinesis")
			}()
			<-done
			switch {
			case rec.skipped:
				got = "skip"
				if !strings.Contains(rec.msg, "make test") {
					t.Errorf("skip message %q lacks the how-to", rec.msg)
				}
			case rec.failed:
				got = "fail"
			}
			if got != tt.want {
				t.Errorf("Endpoint = %q (%s), want %q", got, rec.msg, tt.want)
			}
		})
	}
}
