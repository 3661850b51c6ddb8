package kinesisjson

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go/middleware"

	"github.com/shardwise/shardwise/internal/jsonscan"
)

// cannedHTTP answers every request with one status and body, so both decoders see the same bytes.
type cannedHTTP struct {
	status int
	body   []byte
	chunk  bool // no Content-Length, as a chunked response
}

func (c cannedHTTP) Do(req *http.Request) (*http.Response, error) {
	cl := int64(len(c.body))
	if c.chunk {
		cl = -1
	}
	return &http.Response{
		StatusCode: c.status, Status: http.StatusText(c.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Requestid": {"req-1"}},
		Body:          io.NopCloser(bytes.NewReader(c.body)),
		ContentLength: cl, Request: req,
	}, nil
}

var testClient = kinesis.New(kinesis.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{},
	BaseEndpoint: aws.String("http://127.0.0.1:1"), RetryMaxAttempts: 1})

// getRecords decodes body through the whole client, with the SDK's decoder or this package's.
func getRecords(body []byte, status int, chunk, fast bool) (*kinesis.GetRecordsOutput, error) {
	opts := []func(*kinesis.Options){func(o *kinesis.Options) { o.HTTPClient = cannedHTTP{status, body, chunk} }}
	if fast {
		opts = append(opts, FastGetRecords)
	}
	out, err := testClient.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: aws.String("it")}, opts...)
	if out != nil {
		out.ResultMetadata = middleware.Metadata{}
	}
	return out, err
}

// compare fails t when the two decoders disagree on body. It returns whether the fast path took it.
func compare(t *testing.T, body []byte) bool {
	t.Helper()
	d := decoder{Scanner: jsonscan.Scanner{B: body}}
	took := d.decode()
	if took {
		var out kinesis.GetRecordsOutput
		took = d.build(&out)
	}
	want, wantErr := getRecords(body, 200, false, false)
	got, gotErr := getRecords(body, 200, false, true)
	if (wantErr == nil) != (gotErr == nil) {
		t.Fatalf("body %q: SDK error %v, fast error %v (fast path took it: %v)", body, wantErr, gotErr, took)
	}
	if wantErr != nil {
		if wantErr.Error() != gotErr.Error() {
			t.Fatalf("body %q: errors differ:\nSDK:  %v\nfast: %v", body, wantErr, gotErr)
		}
		return took
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("body %q: outputs differ (fast path took it: %v):\nSDK:  %s\nfast: %s", body, took, dump(want), dump(got))
	}
	return took
}

func dump(o *kinesis.GetRecordsOutput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "next=%v millis=%v children=%v records(nil=%v)=[", ptr(o.NextShardIterator), ptr(o.MillisBehindLatest), o.ChildShards, o.Records == nil)
	for _, r := range o.Records {
		fmt.Fprintf(&b, "{seq=%v pk=%v data=%q(nil=%v) at=%v enc=%q} ", ptr(r.SequenceNumber), ptr(r.PartitionKey), r.Data, r.Data == nil, ptr(r.ApproximateArrivalTimestamp), r.EncryptionType)
	}
	return b.String() + "]"
}

func ptr[T any](p *T) any {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// seeds are response bodies of the shapes Kinesis, kinesis-mock and kinesistest send, and near misses.
var seeds = []string{
	`{"Records":[],"NextShardIterator":"AAAA","MillisBehindLatest":0}`,
	`{"MillisBehindLatest":12,"NextShardIterator":"it-2","Records":[{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ApproximateArrivalTimestamp":1.764111111123E9,"Data":"` + b64("hello") + `","PartitionKey":"pk-1"},{"SequenceNumber":"49590338271490256608559692538361571095921575989136588899","ApproximateArrivalTimestamp":1764111111.5,"Data":"","PartitionKey":"pk-2","EncryptionType":"KMS"}]}`,
	"{ \"Records\" : [ { \"Data\" : \"" + b64("x") + "\" , \"PartitionKey\" : \"k\" , \"SequenceNumber\" : \"1\" , \"ApproximateArrivalTimestamp\" : 1764111111 } ] ,\n\t\"MillisBehindLatest\" : 3 }\r\n",
	`{"Records":[{"SequenceNumber":"1","Data":"` + b64("abc") + `","PartitionKey":"k","EncryptionType":"NONE"}],"NextShardIterator":null}`,
	`{"ChildShards":null,"MillisBehindLatest":0,"NextShardIterator":"AAA/+=","Records":[{"ApproximateArrivalTimestamp":1795658613.793,"Data":"AP8iXAoA","EncryptionType":"NONE","PartitionKey":"ключ-a","SequenceNumber":"49680569710781402001680796557825863127552808980897071106"}]}`,
	`{"Records":[],"ChildShards":[{"ShardId":"shardId-000000000001","ParentShards":["shardId-000000000000"],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"99"}}],"MillisBehindLatest":0}`,
	`{"Records":[{"SequenceNumber":"1","Data":"not base64!","PartitionKey":"k"}]}`,
	`{"Records":[{"SequenceNumber":"1","Data":"` + b64("abc") + `","PartitionKey":"k\"q\u00e9"}]}`,
	`{"Records":[{"SequenceNumber":"1","Data":"` + b64("abc") + `","PartitionKey":"ké€"}]}`,
	`{"Records":[{"SequenceNumber":"1","Data":"QUJD\nREVG","PartitionKey":"k"}]}`,
	`{"Records":[{"SequenceNumber":"1","Data":"QUJ","PartitionKey":"k"}]}`,
	`{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":"1764111111","PartitionKey":"k"}]}`,
	`{"Records":[{"SequenceNumber":"1","ApproximateArrivalTimestamp":-1.5e-3,"PartitionKey":"k"}]}`,
	`{"MillisBehindLatest":1.0}`,
	`{"MillisBehindLatest":-0}`,
	`{"MillisBehindLatest":99999999999999999999}`,
	`{"Records":[{"SequenceNumber":"1","Unknown":{"a":[1,2]},"PartitionKey":"k"}]}`,
	`{"Records":[{"SequenceNumber":"1","PartitionKey":"k","SequenceNumber":"2"}]}`,
	`{"Records":[],"Records":[]}`,
	`{"Records":[{}]}`,
	`{}`,
	``,
	`{"Records":[}`,
	`{"Records":[{"SequenceNumber":"1"}]} x`,
	`[]`,
	`{"NextShardIterator":"a\u0000b"}`,
	"{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"QUJD\",\"PartitionKey\":\"k\xff\xfe\xc3\"}]}",
	"{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"QUJD\",\"PartitionKey\":\"tab\there\"}]}",
	`{"records":[]}`,
	"{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"QUJD\nREVG\",\"PartitionKey\":\"k\"}]}",
	"{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"QUJDREVG\r\",\"PartitionKey\":\"k\"}]}",
	"{\"Records\":[{\"SequenceNumber\":\"1\",\"Data\":\"QUJD\\\"\",\"PartitionKey\":\"k\"}]}",
}

func TestDecodeGetRecordsMatchesSDK(t *testing.T) {
	took := 0
	for _, s := range seeds {
		if compare(t, []byte(s)) {
			took++
		}
	}
	// The first five seeds are what Kinesis and kinesis-mock answer with: the fast path must take them, or it is
	// never used.
	for _, s := range seeds[:5] {
		d := decoder{Scanner: jsonscan.Scanner{B: []byte(s)}}
		var out kinesis.GetRecordsOutput
		if !d.decode() || !d.build(&out) {
			t.Errorf("fast path refused a plain Kinesis answer: %s", s)
		}
	}
	t.Logf("fast path took %d of %d seeds", took, len(seeds))
}

func TestDecodeGetRecordsChunkedAndErrors(t *testing.T) {
	body := []byte(seeds[1])
	want, err := getRecords(body, 200, false, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := getRecords(body, 200, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("chunked body: SDK %s, fast %s", dump(want), dump(got))
	}
	// An error answer goes to the SDK's error decoding untouched.
	errBody := []byte(`{"__type":"ExpiredIteratorException","message":"Iterator expired"}`)
	_, wantErr := getRecords(errBody, 400, false, false)
	_, gotErr := getRecords(errBody, 400, false, true)
	if wantErr == nil || gotErr == nil || wantErr.Error() != gotErr.Error() {
		t.Fatalf("error answer: SDK %v, fast %v", wantErr, gotErr)
	}
}

// TestDecodeGetRecordsLarge checks a 10 MiB answer of the kind aggregated producers cause.
func TestDecodeGetRecordsLarge(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"MillisBehindLatest":0,"NextShardIterator":"next","Records":[`)
	data := bytes.Repeat([]byte{0xF3, 0x89, 0x9A, 0xC2, 'x'}, 5000)
	for i := range 400 {
		if i > 0 {
			b.WriteByte(',')
		}
		data[0] = byte(i)
		fmt.Fprintf(&b, `{"SequenceNumber":"4959%052d","ApproximateArrivalTimestamp":1764111111.%03d,"Data":"%s","PartitionKey":"agg-%d"}`,
			i, i%1000, base64.StdEncoding.EncodeToString(data), i)
	}
	b.WriteString(`]}`)
	if !compare(t, b.Bytes()) {
		t.Fatal("fast path refused a large plain answer")
	}
}

func FuzzDecodeGetRecords(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		compare(t, body)
	})
}

func BenchmarkDecodeGetRecords(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`{"MillisBehindLatest":0,"NextShardIterator":"next","Records":[`)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1600)
	for i := range 400 {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"SequenceNumber":"4959%052d","ApproximateArrivalTimestamp":1764111111.5,"Data":"%s","PartitionKey":"agg-%d"}`,
			i, base64.StdEncoding.EncodeToString(data), i)
	}
	buf.WriteString(`]}`)
	body := buf.Bytes()
	for _, mode := range []struct {
		name string
		fast bool
	}{{"sdk", false}, {"fast", true}} {
		b.Run(mode.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for range b.N {
				out, err := getRecords(body, 200, false, mode.fast)
				if err != nil || len(out.Records) != 400 {
					b.Fatal(err)
				}
			}
		})
	}
}

func FuzzDecodeBase64(f *testing.F) {
	for _, s := range []string{"", "QUJD", "QUJDREVGR0g=", "QUJDREVGR0hJ", "QUJD\nREVG", "QUJDREVGR0hJSktM\r\nTU5P", "QU=D", "QUJDREVGR0hJSkt*", "QQ==QQ=="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		want := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
		got := make([]byte, len(want))
		wn, werr := base64.StdEncoding.Decode(want, src)
		gn, gerr := decodeBase64(got, src)
		if bytes.ContainsAny(src, "\r\n") {
			// The standard decoder skips line breaks; inside a JSON string they are not allowed.
			if gerr == nil {
				t.Fatalf("%q: line break accepted", src)
			}
			return
		}
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Fatalf("%q: errors differ: std %v, fast %v", src, werr, gerr)
		}
		if werr == nil && (wn != gn || !bytes.Equal(want[:wn], got[:gn])) {
			t.Fatalf("%q: std %q, fast %q", src, want[:wn], got[:gn])
		}
	})
}

func BenchmarkDecodeBase64(b *testing.B) {
	src := []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("0123456789abcdef"), 4096)))
	dst := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	b.Run("std", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for range b.N {
			base64.StdEncoding.Decode(dst, src)
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for range b.N {
			decodeBase64(dst, src)
		}
	})
}
