// Package cwtest is a CloudWatch endpoint for tests, on 127.0.0.1, speaking the wire protocol the
// AWS SDK for Go uses for PutMetricData (Smithy RPC v2 CBOR: POST
// /service/GraniteServiceVersion20100801/operation/PutMetricData, a CBOR body, gzip-compressed by
// the SDK) and recording what it receives. It serves PutMetricData only.
package cwtest

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/smithy-go/encoding/cbor"
)

// Server is a fake CloudWatch endpoint. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu     sync.Mutex
	calls  []Call
	answer AnswerFunc
	hung   chan struct{} // closed by Close: releases hanging calls
}

// AnswerFunc chooses the answer to the n-th call (from 0): status 0 or 200 accepts it; another
// status refuses it with the error code errType; hang holds the call until the client gives up
// or the server closes.
type AnswerFunc func(n int) (status int, errType string, hang bool)

// Call is a PutMetricData call received.
type Call struct {
	Namespace string
	Datums    []Datum
	BodyBytes int // the CBOR body, decompressed
}

// Datum is a metric datum received.
type Datum struct {
	Name  string
	Unit  string
	Value float64
	Dims  map[string]string
	Time  time.Time
}

// NewServer starts a Server; the test's cleanup closes it.
func NewServer(t testing.TB) *Server {
	t.Helper()
	f := &Server{hung: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// Close stops the server.
func (f *Server) Close() {
	f.mu.Lock()
	select {
	case <-f.hung:
	default:
		close(f.hung)
	}
	f.mu.Unlock()
	f.srv.Close()
}

// URL is the endpoint ("http://127.0.0.1:port").
func (f *Server) URL() string { return f.srv.URL }

// SetAnswer installs fn to choose the answers of later calls (nil: accept every call).
func (f *Server) SetAnswer(fn AnswerFunc) {
	f.mu.Lock()
	f.answer = fn
	f.mu.Unlock()
}

// Client is a real SDK client pointed at the server, making one attempt per call.
func (f *Server) Client() *cloudwatch.Client {
	return cloudwatch.New(cloudwatch.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(f.srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/service/GraniteServiceVersion20100801/operation/PutMetricData" {
		f.fail(w, http.StatusNotFound, "UnknownOperationException", fmt.Sprintf("%s %s", r.Method, r.URL.Path))
		return
	}
	if ct, proto := r.Header.Get("Content-Type"), r.Header.Get("Smithy-Protocol"); ct != "application/cbor" || proto != "rpc-v2-cbor" {
		f.fail(w, http.StatusBadRequest, "SerializationException", "content type "+ct+", protocol "+proto)
		return
	}
	if r.Header.Get("Authorization") == "" {
		f.fail(w, http.StatusForbidden, "MissingAuthenticationToken", "unsigned request")
		return
	}
	var in io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" { // the SDK compresses PutMetricData requests
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			f.fail(w, http.StatusBadRequest, "SerializationException", err.Error())
			return
		}
		in = zr
	}
	body, err := io.ReadAll(in)
	if err != nil {
		f.fail(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	call, err := decodePutMetricData(body)
	if err != nil {
		f.fail(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	f.mu.Lock()
	n := len(f.calls)
	f.calls = append(f.calls, call)
	answer := f.answer
	f.mu.Unlock()
	if answer != nil {
		status, typ, hang := answer(n)
		if hang {
			select {
			case <-r.Context().Done():
			case <-f.hung:
			}
			return
		}
		if status != 0 && status != http.StatusOK {
			f.fail(w, status, typ, "refused by the test")
			return
		}
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Write(cbor.Encode(cbor.Map{}))
}

// fail answers with an RPC v2 CBOR error: the code in __type, and the Query code in
// X-Amzn-Query-Error (CloudWatch is query-compatible).
func (f *Server) fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	w.Header().Set("X-Amzn-Query-Error", typ+";"+fault)
	w.WriteHeader(status)
	w.Write(cbor.Encode(cbor.Map{"__type": cbor.String("com.amazonaws.cloudwatch#" + typ), "message": cbor.String(msg)}))
}

// Calls returns the calls received so far.
func (f *Server) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Call(nil), f.calls...)
}

// decodePutMetricData decodes a PutMetricDataInput: Namespace and MetricData (MetricName, Unit,
// Value, Dimensions, Timestamp as an epoch-seconds tag).
func decodePutMetricData(body []byte) (Call, error) {
	v, err := cbor.Decode(body)
	if err != nil {
		return Call{}, err
	}
	top, ok := v.(cbor.Map)
	if !ok {
		return Call{}, fmt.Errorf("body is %T, not a map", v)
	}
	call := Call{BodyBytes: len(body)}
	if ns, ok := top["Namespace"].(cbor.String); ok {
		call.Namespace = string(ns)
	}
	list, ok := top["MetricData"].(cbor.List)
	if !ok {
		return Call{}, fmt.Errorf("MetricData is %T", top["MetricData"])
	}
	for i, item := range list {
		m, ok := item.(cbor.Map)
		if !ok {
			return Call{}, fmt.Errorf("MetricData[%d] is %T", i, item)
		}
		d := Datum{Dims: map[string]string{}}
		name, _ := m["MetricName"].(cbor.String)
		unit, _ := m["Unit"].(cbor.String)
		d.Name, d.Unit = string(name), string(unit)
		if d.Value, err = cbor.AsFloat64(m["Value"]); err != nil {
			return Call{}, fmt.Errorf("MetricData[%d].Value: %w", i, err)
		}
		if ts, ok := m["Timestamp"]; ok {
			if d.Time, err = cbor.AsTime(ts); err != nil {
				return Call{}, fmt.Errorf("MetricData[%d].Timestamp: %w", i, err)
			}
		}
		dims, _ := m["Dimensions"].(cbor.List)
		for _, x := range dims {
			dm, _ := x.(cbor.Map)
			n, _ := dm["Name"].(cbor.String)
			val, _ := dm["Value"].(cbor.String)
			d.Dims[string(n)] = string(val)
		}
		call.Datums = append(call.Datums, d)
	}
	return call, nil
}
