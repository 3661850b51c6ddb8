package agentmetrics

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

// fakeCloudWatch is a CloudWatch endpoint on 127.0.0.1 that speaks the wire protocol the SDK uses
// for PutMetricData (Smithy RPC v2 CBOR: POST /service/GraniteServiceVersion20100801/operation/
// PutMetricData with a CBOR body) and records what it receives.
type fakeCloudWatch struct {
	srv *httptest.Server

	mu    sync.Mutex
	calls []putCall
	// answer, when set, chooses the answer to the n-th call (0-based): status 0 or 200 accepts it.
	answer func(n int) (status int, errType string, hang bool)
	hung   chan struct{} // closed by close: releases hanging calls
}

type putCall struct {
	Namespace string
	Datums    []gotDatum
	BodyBytes int // decompressed
}

type gotDatum struct {
	Name  string
	Unit  string
	Value float64
	Dims  map[string]string
	Time  time.Time
}

func newFakeCloudWatch(t *testing.T) *fakeCloudWatch {
	t.Helper()
	f := &fakeCloudWatch{hung: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		close(f.hung)
		f.srv.Close()
	})
	return f
}

// client is a real SDK client pointed at the fake, making one attempt per call.
func (f *fakeCloudWatch) client() *cloudwatch.Client {
	return cloudwatch.New(cloudwatch.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(f.srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

func (f *fakeCloudWatch) serve(w http.ResponseWriter, r *http.Request) {
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
func (f *fakeCloudWatch) fail(w http.ResponseWriter, status int, typ, msg string) {
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

func (f *fakeCloudWatch) received() []putCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]putCall(nil), f.calls...)
}

// decodePutMetricData decodes a PutMetricDataInput: Namespace and MetricData (MetricName, Unit,
// Value, Dimensions, Timestamp as an epoch-seconds tag).
func decodePutMetricData(body []byte) (putCall, error) {
	v, err := cbor.Decode(body)
	if err != nil {
		return putCall{}, err
	}
	top, ok := v.(cbor.Map)
	if !ok {
		return putCall{}, fmt.Errorf("body is %T, not a map", v)
	}
	call := putCall{BodyBytes: len(body)}
	if ns, ok := top["Namespace"].(cbor.String); ok {
		call.Namespace = string(ns)
	}
	list, ok := top["MetricData"].(cbor.List)
	if !ok {
		return putCall{}, fmt.Errorf("MetricData is %T", top["MetricData"])
	}
	for i, item := range list {
		m, ok := item.(cbor.Map)
		if !ok {
			return putCall{}, fmt.Errorf("MetricData[%d] is %T", i, item)
		}
		d := gotDatum{Dims: map[string]string{}}
		name, _ := m["MetricName"].(cbor.String)
		unit, _ := m["Unit"].(cbor.String)
		d.Name, d.Unit = string(name), string(unit)
		if d.Value, err = cbor.AsFloat64(m["Value"]); err != nil {
			return putCall{}, fmt.Errorf("MetricData[%d].Value: %w", i, err)
		}
		if ts, ok := m["Timestamp"]; ok {
			if d.Time, err = cbor.AsTime(ts); err != nil {
				return putCall{}, fmt.Errorf("MetricData[%d].Timestamp: %w", i, err)
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
