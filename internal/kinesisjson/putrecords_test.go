package kinesisjson

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

// sent is a request as the HTTP client received it.
type sent struct {
	method, path string
	header       http.Header
	body         []byte
	contentLen   int64
}

// putCapture records the request and answers with an empty PutRecords result.
type putCapture struct{ got *sent }

func (c putCapture) Do(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body.Close()
	*c.got = sent{method: req.Method, path: req.URL.Path, header: req.Header.Clone(), body: body, contentLen: req.ContentLength}
	return jsonResponse(req, 200, `{"FailedRecordCount":0,"Records":[]}`), nil
}

func jsonResponse(req *http.Request, status int, body string) *http.Response {
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Requestid": {"req-1"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: req,
	}
}

var putClient = kinesis.New(kinesis.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{},
	BaseEndpoint: aws.String("http://127.0.0.1:1"), RetryMaxAttempts: 1})

// putRecords sends in through the whole client and returns what reached the HTTP client.
func putRecords(in *kinesis.PutRecordsInput, fast bool) (sent, error) {
	var got sent
	opts := []func(*kinesis.Options){func(o *kinesis.Options) { o.HTTPClient = putCapture{&got} }}
	if fast {
		opts = append(opts, FastPutRecords)
	}
	_, err := putClient.PutRecords(context.Background(), in, opts...)
	return got, err
}

// decodeJSON decodes a body as generic JSON, numbers kept as written.
func decodeJSON(t *testing.T, body []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if _, err := d.Token(); err != io.EOF {
		t.Fatalf("body %q: data after the value", body)
	}
	return v
}

// comparePut fails t unless the SDK and this package send the same request for in.
func comparePut(t *testing.T, in *kinesis.PutRecordsInput) {
	t.Helper()
	want, wantErr := putRecords(in, false)
	got, gotErr := putRecords(in, true)
	if (wantErr == nil) != (gotErr == nil) || (wantErr != nil && wantErr.Error() != gotErr.Error()) {
		t.Fatalf("errors differ: SDK %v, fast %v", wantErr, gotErr)
	}
	if wantErr != nil {
		return
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD: the body must not need it.
	if !utf8.Valid(got.body) || !json.Valid(got.body) {
		t.Fatalf("fast body is not valid UTF-8 JSON: %q", got.body)
	}
	wv, gv := decodeJSON(t, want.body), decodeJSON(t, got.body)
	if !reflect.DeepEqual(wv, gv) {
		t.Fatalf("bodies decode differently:\nSDK:  %s\nfast: %s", want.body, got.body)
	}
	if direct := AppendPutRecords(nil, in); !bytes.Equal(direct, got.body) {
		t.Fatalf("AppendPutRecords %q, sent %q", direct, got.body)
	}
	if got.contentLen != int64(len(got.body)) {
		t.Fatalf("Content-Length %d for %d bytes", got.contentLen, len(got.body))
	}
	if got.method != want.method || got.path != want.path {
		t.Fatalf("request line: SDK %s %s, fast %s %s", want.method, want.path, got.method, got.path)
	}
	for _, h := range []string{"Content-Type", "X-Amz-Target", "X-Amzn-Query-Mode", "Content-Length", "Content-Encoding"} {
		if w, g := want.header.Values(h), got.header.Values(h); !reflect.DeepEqual(w, g) {
			t.Fatalf("header %s: SDK %q, fast %q", h, w, g)
		}
	}
	if ct, tg := got.header.Get("Content-Type"), got.header.Get("X-Amz-Target"); ct != "application/x-amz-json-1.1" || tg != "Kinesis_20131202.PutRecords" {
		t.Fatalf("Content-Type %q, X-Amz-Target %q", ct, tg)
	}
	// The data itself, against the input rather than the SDK.
	recs, _ := gv.(map[string]any)["Records"].([]any)
	for i, r := range recs {
		s, ok := r.(map[string]any)["Data"].(string)
		if in.Records[i].Data == nil {
			if ok {
				t.Fatalf("record %d: nil Data sent as %q", i, s)
			}
			continue
		}
		if d, err := base64.StdEncoding.DecodeString(s); err != nil || !bytes.Equal(d, in.Records[i].Data) {
			t.Fatalf("record %d: Data %q decodes to %q (%v), want %q", i, s, d, err, in.Records[i].Data)
		}
	}
}

func entry(pk string, data string) types.PutRecordsRequestEntry {
	return types.PutRecordsRequestEntry{PartitionKey: aws.String(pk), Data: []byte(data)}
}

// putSeeds are inputs of every shape the SDK serializes, odd strings included.
func putSeeds() []*kinesis.PutRecordsInput {
	ehk := entry("a", "\xf3\x89\x9a\xc2aggregate")
	ehk.ExplicitHashKey = aws.String("340282366920938463463374607431768211455")
	noPK := types.PutRecordsRequestEntry{Data: []byte("x")}
	noData := types.PutRecordsRequestEntry{PartitionKey: aws.String("k")}
	return []*kinesis.PutRecordsInput{
		{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{entry("k", "hello")}},
		{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{ehk, entry("user-42", ""), entry("", "x")}},
		{StreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/s"), Records: []types.PutRecordsRequestEntry{entry("ключ", "\x00\xff")}},
		{StreamId: aws.String("id-1"), StreamName: aws.String("s\"\\"), DryRun: aws.Bool(true), Records: []types.PutRecordsRequestEntry{entry("k", "ab")}},
		{DryRun: aws.Bool(false), Records: []types.PutRecordsRequestEntry{}},
		{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{
			entry("quote\" backslash\\ slash/ tab\t nl\n cr\r nul\x00 bell\x07 esc\x1b del\x7f", "abc"),
			entry("€ 𝄞 \u2028 \u2029 \ufeff \ufffd é", "abcd"),
			entry("bad \xff\xfe \xc3 \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 end\xc3", "abcde"),
			entry("<script>&amp;</script>", "abcdef"),
		}},
		{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{noPK}},
		{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{noData}}, // the SDK's validation fails it
		{StreamName: aws.String("s")}, // no Records: validation fails it too
		{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{entry(strings.Repeat("k", 256), strings.Repeat("\xaa\x55", 60000))}},
	}
}

func TestPutRecordsMatchesSDK(t *testing.T) {
	for i, in := range putSeeds() {
		t.Run(strconv.Itoa(i), func(t *testing.T) { comparePut(t, in) })
	}
}

// FuzzPutRecords compares the bodies of the SDK's serializer and this package's on inputs made from
// the fuzzer's bytes: keys are arbitrary bytes (invalid UTF-8, control characters), and flags choose
// explicit hash keys, the stream member, DryRun and a nil Data.
func FuzzPutRecords(f *testing.F) {
	f.Add([]byte("hello world"), "k1k2k3", uint8(3))
	f.Add([]byte{0, 1, 2, 0xff}, "ключ\x00\"\\\x7f\u2028", uint8(0x51))
	f.Add([]byte{}, "\xff\xfe\xc3\xed\xa0\x80", uint8(0xf2))
	f.Add([]byte("abc"), "", uint8(0x80))
	f.Fuzz(func(t *testing.T, data []byte, keys string, flags uint8) {
		n := 1 + int(flags&7)
		in := &kinesis.PutRecordsInput{Records: make([]types.PutRecordsRequestEntry, n)}
		for i := range n {
			e := &in.Records[i]
			e.PartitionKey = aws.String(keys[i*len(keys)/n : (i+1)*len(keys)/n])
			e.Data = data[i*len(data)/n : (i+1)*len(data)/n]
			if flags&8 != 0 && i%2 == 1 {
				e.ExplicitHashKey = e.PartitionKey
			}
		}
		switch {
		case flags&0x30 == 0x10:
			in.StreamARN = aws.String(keys)
		case flags&0x30 == 0x20:
			in.StreamName, in.StreamId = aws.String("s"), aws.String(keys)
		default:
			in.StreamName = aws.String("s")
		}
		if flags&0x40 != 0 {
			in.DryRun = aws.Bool(flags&1 == 0)
		}
		if flags&0x80 != 0 && n > 2 {
			in.Records[2].Data = nil
		}
		comparePut(t, in)
	})
}

// watchPool lends new bodies and records their return, in place of the sync.Pool.
type watchPool struct {
	mu       sync.Mutex
	lent     []*putBody
	returned []*putBody
}

func (w *watchPool) Get() any {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := new(putBody)
	w.lent = append(w.lent, b)
	return b
}

func (w *watchPool) Put(x any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.returned = append(w.returned, x.(*putBody))
}

func (w *watchPool) counts() (lent, returned int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.lent), len(w.returned)
}

func watchBodies(t *testing.T) *watchPool {
	w := new(watchPool)
	old := putBodies
	putBodies = w
	t.Cleanup(func() { putBodies = old })
	return w
}

// doFunc is an HTTP client made of a function.
type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// noDelayRetries makes the client try three times without waiting.
func noDelayRetries(o *kinesis.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 3
		so.RateLimiter = ratelimit.None
		so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
}

// TestPutRecordsBodyLentForTheWholeCall checks that the body stays out of the pool across a retry
// (the SDK rewinds and resends the same buffer) and returns to it once, after the call.
func TestPutRecordsBodyLentForTheWholeCall(t *testing.T) {
	w := watchBodies(t)
	in := putSeeds()[5]
	want := AppendPutRecords(nil, in)
	attempts := 0
	client := doFunc(func(req *http.Request) (*http.Response, error) {
		attempts++
		if lent, returned := w.counts(); lent != 1 || returned != 0 {
			t.Errorf("attempt %d: %d bodies lent, %d returned; want 1, 0", attempts, lent, returned)
		}
		if attempts == 1 {
			// A partial send, then a server error: the retry must resend the same bytes.
			io.ReadFull(req.Body, make([]byte, 10))
			req.Body.Close()
			return jsonResponse(req, 500, `{"__type":"InternalFailure","message":"try again"}`), nil
		}
		body, err := io.ReadAll(req.Body)
		if err != nil || !bytes.Equal(body, want) {
			t.Errorf("attempt %d sent %q (%v), want %q", attempts, body, err, want)
		}
		return jsonResponse(req, 200, `{"FailedRecordCount":0,"Records":[]}`), nil
	})
	_, err := putClient.PutRecords(context.Background(), in, noDelayRetries,
		func(o *kinesis.Options) { o.HTTPClient = client }, FastPutRecords)
	if err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Fatalf("%d attempts, want 2", attempts)
	}
	if len(w.lent) != 1 || len(w.returned) != 1 || w.lent[0] != w.returned[0] {
		t.Fatalf("lent %d bodies, returned %d (same: %v)", len(w.lent), len(w.returned), len(w.returned) == 1 && w.lent[0] == w.returned[0])
	}
	if w.returned[0].s.in != nil || w.returned[0].s.Len() != 0 {
		t.Fatal("a returned body still has a reader over its bytes")
	}
}

// TestPutRecordsBodyAfterEarlyAnswer plays a transport that answers while its writer is still
// reading the body (an HTTP/1.1 early answer, an HTTP/2 stream): once the call has returned and the
// body has gone back to the pool and been reused, that writer's reads must end (io.EOF) and
// never see the new bytes.
func TestPutRecordsBodyAfterEarlyAnswer(t *testing.T) {
	w := watchBodies(t)
	in := putSeeds()[1]
	readMore, done := make(chan struct{}), make(chan error)
	client := doFunc(func(req *http.Request) (*http.Response, error) {
		body := req.Body
		if _, err := io.ReadFull(body, make([]byte, 4)); err != nil {
			return nil, err
		}
		go func() {
			<-readMore
			p := make([]byte, 1<<10)
			n, err := body.Read(p)
			if n != 0 || err != io.EOF {
				done <- fmt.Errorf("read after the call: %d bytes %q, %v; want io.EOF", n, p[:n], err)
				return
			}
			done <- nil
		}()
		return jsonResponse(req, 200, `{"FailedRecordCount":0,"Records":[]}`), nil
	})
	if _, err := putClient.PutRecords(context.Background(), in, func(o *kinesis.Options) { o.HTTPClient = client }, FastPutRecords); err != nil {
		t.Fatal(err)
	}
	if len(w.returned) != 1 {
		t.Fatalf("%d bodies returned, want 1", len(w.returned))
	}
	w.returned[0].s.reset(putSeeds()[0]) // reuse by the next call
	close(readMore)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFastPutRecordsClientWide gives the option to the client and again per call, from concurrent
// goroutines: the lender is added once per call and every call sends its own body.
func TestFastPutRecordsClientWide(t *testing.T) {
	var mu sync.Mutex
	bodies := map[string]int{}
	client := kinesis.New(kinesis.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{},
		BaseEndpoint: aws.String("http://127.0.0.1:1"), RetryMaxAttempts: 1,
		HTTPClient: doFunc(func(req *http.Request) (*http.Response, error) {
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			bodies[string(body)]++
			mu.Unlock()
			return jsonResponse(req, 200, `{"FailedRecordCount":0,"Records":[]}`), nil
		})}, FastPutRecords)
	var wg sync.WaitGroup
	want := map[string]int{}
	for g := range 4 {
		for i := range 25 {
			in := &kinesis.PutRecordsInput{StreamName: aws.String("s"),
				Records: []types.PutRecordsRequestEntry{entry(fmt.Sprintf("k-%d-%d", g, i), strings.Repeat("d", i*100))}}
			want[string(AppendPutRecords(nil, in))]++
		}
		wg.Go(func() {
			for i := range 25 {
				in := &kinesis.PutRecordsInput{StreamName: aws.String("s"),
					Records: []types.PutRecordsRequestEntry{entry(fmt.Sprintf("k-%d-%d", g, i), strings.Repeat("d", i*100))}}
				var opts []func(*kinesis.Options)
				if i%2 == 0 {
					opts = append(opts, FastPutRecords, FastGetRecords, FastPutRecords)
				}
				if _, err := client.PutRecords(context.Background(), in, opts...); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if !reflect.DeepEqual(bodies, want) {
		t.Fatalf("received %d distinct bodies, want %d", len(bodies), len(want))
	}
}

// sigCapture forwards requests to next and keeps a copy of each (headers and body).
type sigCapture struct {
	next interface {
		Do(*http.Request) (*http.Response, error)
	}
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
}

func (c *sigCapture) Do(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body.Close()
	c.mu.Lock()
	c.reqs = append(c.reqs, req.Clone(context.Background()))
	c.body = append(c.body, body)
	c.mu.Unlock()
	r2 := req.Clone(req.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	return c.next.Do(r2)
}

// TestFastPutRecordsSigV4 sends through kinesistest (HTTP/1.1 and h2c) with static credentials: the
// signature must cover the body actually sent (the SDK hashed our stream), and the records read back
// must be the ones put, keys as the SDK would have sent them.
func TestFastPutRecordsSigV4(t *testing.T) {
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	creds := aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}
	for _, proto := range []string{"http1", "h2c"} {
		t.Run(proto, func(t *testing.T) {
			next := srv.Client()
			if proto == "h2c" {
				next = srv.HTTP2Client()
			}
			capture := &sigCapture{next: next}
			kc := srv.KinesisClient(func(o *kinesis.Options) {
				o.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")
				o.HTTPClient = capture
			})
			ctx := context.Background()
			stream := "sig-" + proto
			if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(1)}); err != nil {
				t.Fatal(err)
			}
			keys := []string{"plain", "ключ-€-𝄞", "ctl\x01\t\"\\", "bad\xff\xc3", "\u2028"}
			in := &kinesis.PutRecordsInput{StreamName: aws.String(stream)}
			for i, k := range keys {
				in.Records = append(in.Records, entry(k, strings.Repeat(string(rune('a'+i)), 1000*i)+"\x00\xff"))
			}
			capture.reqs, capture.body = nil, nil
			out, err := kc.PutRecords(ctx, in, FastPutRecords)
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToInt32(out.FailedRecordCount) != 0 {
				t.Fatalf("%d records failed", aws.ToInt32(out.FailedRecordCount))
			}
			if len(capture.reqs) != 1 {
				t.Fatalf("%d requests", len(capture.reqs))
			}
			req, body := capture.reqs[0], capture.body[0]
			if !bytes.Equal(body, AppendPutRecords(nil, in)) {
				t.Fatal("the body sent is not AppendPutRecords's")
			}
			checkSignature(t, req, body, creds)

			// Read back: data intact, keys as the SDK sends them (each invalid byte as U+FFFD).
			it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream),
				ShardId: out.Records[0].ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			gr, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
			if err != nil {
				t.Fatal(err)
			}
			if len(gr.Records) != len(keys) {
				t.Fatalf("read %d records, want %d", len(gr.Records), len(keys))
			}
			for i, r := range gr.Records {
				if wantKey := string([]rune(keys[i])); aws.ToString(r.PartitionKey) != wantKey {
					t.Errorf("record %d: key %q, want %q", i, aws.ToString(r.PartitionKey), wantKey)
				}
				if !bytes.Equal(r.Data, in.Records[i].Data) {
					t.Errorf("record %d: data differs", i)
				}
			}
		})
	}
}

// checkSignature signs a copy of req again over the bytes actually sent, at the time the SDK
// signed, and compares the Authorization headers.
func checkSignature(t *testing.T, req *http.Request, body []byte, creds aws.Credentials) {
	t.Helper()
	auth := req.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
		t.Fatalf("request not signed: Authorization %q", auth)
	}
	at, err := time.Parse("20060102T150405Z", req.Header.Get("X-Amz-Date"))
	if err != nil {
		t.Fatal(err)
	}
	r2 := req.Clone(context.Background())
	r2.Header.Del("Authorization")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r2, hex.EncodeToString(sum[:]), "kinesis", "us-east-1", at); err != nil {
		t.Fatal(err)
	}
	if got := r2.Header.Get("Authorization"); got != auth {
		t.Fatalf("signature does not cover the body sent:\nsent:      %s\nrecomputed: %s", auth, got)
	}
	// And a different body gives a different signature (the check can fail).
	r3 := req.Clone(context.Background())
	r3.Header.Del("Authorization")
	other := sha256.Sum256(append(body, ' '))
	v4.NewSigner().SignHTTP(context.Background(), creds, r3, hex.EncodeToString(other[:]), "kinesis", "us-east-1", at)
	if r3.Header.Get("Authorization") == auth {
		t.Fatal("the signature does not depend on the body")
	}
}

// BenchmarkPutRecordsRequest is one PutRecords call through the client (SigV4 and payload SHA-256
// on, transport discarding the body): 500 × 100 B entries, and 100 aggregates of 50 KB.
func BenchmarkPutRecordsRequest(b *testing.B) {
	client := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:1"), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient: doFunc(func(req *http.Request) (*http.Response, error) {
			io.Copy(io.Discard, req.Body)
			return jsonResponse(req, 200, `{"FailedRecordCount":0,"Records":[]}`), nil
		})})
	shapes := []struct {
		name    string
		n, size int
	}{{"500x100B", 500, 100}, {"100x50KB", 100, 51200}}
	for _, sh := range shapes {
		in := &kinesis.PutRecordsInput{StreamName: aws.String("bench")}
		data := bytes.Repeat([]byte("0123456789abcdef"), sh.size/16)
		for i := range sh.n {
			e := entry("key-"+strconv.Itoa(i*7919), "")
			e.Data = data
			if sh.size > 1000 {
				e.ExplicitHashKey = aws.String("170141183460469231731687303715884105728")
			}
			in.Records = append(in.Records, e)
		}
		for _, mode := range []string{"sdk", "fast"} {
			b.Run(sh.name+"/"+mode, func(b *testing.B) {
				var opts []func(*kinesis.Options)
				if mode == "fast" {
					opts = append(opts, FastPutRecords)
				}
				b.SetBytes(int64(sh.n * sh.size))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := client.PutRecords(context.Background(), in, opts...); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkAppendPutRecords(b *testing.B) {
	in := &kinesis.PutRecordsInput{StreamName: aws.String("bench")}
	data := bytes.Repeat([]byte("0123456789abcdef"), 6)
	for i := range 500 {
		e := entry("key-"+strconv.Itoa(i*7919), "")
		e.Data = data
		in.Records = append(in.Records, e)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendPutRecords(buf[:0], in)
	}
	b.SetBytes(int64(len(buf)))
}

func FuzzEncodeBase64(f *testing.F) {
	for _, s := range []string{"", "a", "ab", "abc", "abcdef", "abcdefg", "abcdefgh", "\x00\xff\x10\x83\xfe\x01\x02\x03\x04\x05\x06\x07\x08"} {
		f.Add([]byte("prefix"), []byte(s))
	}
	f.Fuzz(func(t *testing.T, prefix, src []byte) {
		want := base64.StdEncoding.AppendEncode(bytes.Clone(prefix), src)
		if got := appendBase64(bytes.Clone(prefix), src); !bytes.Equal(got, want) {
			t.Fatalf("%q + %x: got %q, want %q", prefix, src, got, want)
		}
		// Into spare capacity, which must not be written past the encoding.
		buf := append(make([]byte, 0, len(prefix)+base64.StdEncoding.EncodedLen(len(src))+4), prefix...)
		guard := buf[:cap(buf)]
		copy(guard[len(guard)-4:], "!!!!")
		if got := appendBase64(buf, src); !bytes.Equal(got, want) || string(guard[len(guard)-4:]) != "!!!!" {
			t.Fatalf("%q + %x into spare capacity: got %q, want %q", prefix, src, got, want)
		}
	})
}

func BenchmarkEncodeBase64(b *testing.B) {
	src := bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 2800) // an aggregate's size
	dst := make([]byte, 0, base64.StdEncoding.EncodedLen(len(src)))
	b.Run("std", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			dst = base64.StdEncoding.AppendEncode(dst[:0], src)
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			dst = appendBase64(dst[:0], src)
		}
	})
}
