// Package firehosetest is an in-process Amazon Data Firehose endpoint for tests, speaking the real
// wire protocol (AWS JSON 1.1, X-Amz-Target Firehose_20150804.<Operation>) over HTTP/1.1 on a
// loopback port, in the style of package kinesistest but much smaller. It serves PutRecordBatch,
// PutRecord, CreateDeliveryStream and DescribeDeliveryStream, answers the PutRecordBatch limits as
// Firehose does (500 records, 4 MiB per call, 1,000 KiB per record), keeps the records it accepts in
// memory (see [Server.Records]) and lets a test fail single entries through [Server.Control].
package firehosetest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

const targetPrefix = "Firehose_20150804."

// Firehose's PutRecordBatch and PutRecord limits.
const (
	MaxBatchRecords = 500
	MaxBatchBytes   = 4 << 20    // 4 MiB of record data per call
	MaxRecordBytes  = 1000 << 10 // 1,000 KiB per record, before base64
)

// maxBodyBytes bounds a request body (4 MiB of data is about 5.4 MiB of base64 JSON).
const maxBodyBytes = 16 << 20

// Entry is a PutRecordBatch entry as a [ControlFunc] sees it.
type Entry struct {
	DeliveryStream string
	Index          int    // position in the call
	Data           []byte // decoded
}

// Fault is how one entry fails: ErrorCode (ServiceUnavailableException, InternalFailure, ...) and
// ErrorMessage, as in a PutRecordBatch response entry.
type Fault struct {
	ErrorCode    string
	ErrorMessage string
}

// ControlFunc decides, for every PutRecordBatch entry, whether it fails; a nil *Fault lets it
// through. It runs on the server's goroutine, under no lock of the server.
type ControlFunc func(e Entry) *Fault

// Server is the endpoint. Point the SDK at [Server.URL]. Safe for concurrent use; stop it with
// [Server.Close].
type Server struct {
	ln   net.Listener
	hs   *http.Server
	url  string
	done chan struct{}

	mu      sync.Mutex
	streams map[string]*deliveryStream
	auto    bool
	control ControlFunc
	calls   map[string]int
}

type deliveryStream struct {
	name    string
	created time.Time
	records [][]byte
}

// Option configures a Server.
type Option func(*Server)

// AutoCreate makes every delivery stream exist on first use, as if created before.
func AutoCreate() Option { return func(s *Server) { s.auto = true } }

// NewServer starts a server on 127.0.0.1 and an ephemeral port.
func NewServer(opts ...Option) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("firehosetest: listen: %w", err)
	}
	s := &Server{ln: ln, url: "http://" + ln.Addr().String(), done: make(chan struct{}),
		streams: map[string]*deliveryStream{}, calls: map[string]int{}}
	for _, o := range opts {
		o(s)
	}
	s.hs = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.hs.Serve(ln)
	}()
	return s, nil
}

// URL is the endpoint's base URL (http://127.0.0.1:port).
func (s *Server) URL() string { return s.url }

// Close stops the server and waits for its serving goroutine.
func (s *Server) Close() error {
	err := s.hs.Close()
	<-s.done
	return err
}

// CreateDeliveryStream creates a delivery stream directly (no call). It is ACTIVE at once.
func (s *Server) CreateDeliveryStream(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[name] == nil {
		s.streams[name] = &deliveryStream{name: name, created: time.Now()}
	}
}

// Records returns copies of the records the delivery stream accepted, in arrival order.
func (s *Server) Records(name string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.streams[name]
	if ds == nil {
		return nil
	}
	out := make([][]byte, len(ds.records))
	for i, r := range ds.records {
		out[i] = append([]byte(nil), r...)
	}
	return out
}

// Calls returns how many calls of operation op (PutRecordBatch, ...) were served.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Control installs fn (nil removes it); it replaces any earlier one.
func (s *Server) Control(fn ControlFunc) {
	s.mu.Lock()
	s.control = fn
	s.mu.Unlock()
}

// FailEntries returns a ControlFunc that fails the first n entries it sees with
// ServiceUnavailableException, then lets every entry through.
func FailEntries(n int) ControlFunc {
	var mu sync.Mutex
	return func(Entry) *Fault {
		mu.Lock()
		defer mu.Unlock()
		if n <= 0 {
			return nil
		}
		n--
		return &Fault{ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down."}
	}
}

// apiError is an error answer: HTTP status, __type and message.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	var out any
	var err error
	switch {
	case r.Method != http.MethodPost || !ok:
		err = errf(400, "UnknownOperationException", "unknown target %q", r.Header.Get("X-Amz-Target"))
	default:
		var body []byte
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		if err == nil && len(body) > maxBodyBytes {
			err = errf(413, "SerializationException", "request body too large")
		}
		if err == nil {
			s.mu.Lock()
			s.calls[op]++
			s.mu.Unlock()
			out, err = s.dispatch(op, body)
		}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", requestID())
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = errf(500, "InternalFailure", "%v", err)
		}
		w.WriteHeader(ae.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": ae.code, "message": ae.msg})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) dispatch(op string, body []byte) (any, error) {
	switch op {
	case "PutRecordBatch":
		return s.putRecordBatch(body)
	case "PutRecord":
		return s.putRecord(body)
	case "CreateDeliveryStream":
		return s.createDeliveryStream(body)
	case "DescribeDeliveryStream":
		return s.describeDeliveryStream(body)
	}
	return nil, errf(400, "UnknownOperationException", "operation %s is not served by firehosetest", op)
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return errf(400, "SerializationException", "%v", err)
	}
	return nil
}

// stream returns the named delivery stream; s.mu is held.
func (s *Server) stream(name string) (*deliveryStream, error) {
	if name == "" {
		return nil, errf(400, "InvalidArgumentException", "DeliveryStreamName is required")
	}
	ds := s.streams[name]
	if ds == nil && s.auto {
		ds = &deliveryStream{name: name, created: time.Now()}
		s.streams[name] = ds
	}
	if ds == nil {
		return nil, errf(400, "ResourceNotFoundException", "Firehose %s under account 123456789012 not found.", name)
	}
	return ds, nil
}

type record struct {
	Data []byte // base64 on the wire (encoding/json's []byte)
}

type putRecordBatchIn struct {
	DeliveryStreamName string
	Records            []record
}

type batchEntry struct {
	RecordId     string `json:",omitempty"`
	ErrorCode    string `json:",omitempty"`
	ErrorMessage string `json:",omitempty"`
}

type putRecordBatchOut struct {
	FailedPutCount   int
	Encrypted        bool
	RequestResponses []batchEntry
}

func (s *Server) putRecordBatch(body []byte) (any, error) {
	var in putRecordBatchIn
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Records) == 0 || len(in.Records) > MaxBatchRecords {
		return nil, errf(400, "ValidationException",
			"1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to %d and greater than or equal to 1", MaxBatchRecords)
	}
	total := 0
	for i, r := range in.Records {
		if len(r.Data) > MaxRecordBytes {
			return nil, errf(400, "ValidationException",
				"1 validation error detected: Value at 'records.%d.member.data' failed to satisfy constraint: Member must have length less than or equal to %d", i+1, MaxRecordBytes)
		}
		total += len(r.Data)
	}
	if total > MaxBatchBytes {
		return nil, errf(400, "InvalidArgumentException", "Records size exceeds 4 MB limit")
	}
	s.mu.Lock()
	_, err := s.stream(in.DeliveryStreamName)
	ctl := s.control
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	faults := make([]*Fault, len(in.Records))
	if ctl != nil {
		for i, r := range in.Records {
			faults[i] = ctl(Entry{DeliveryStream: in.DeliveryStreamName, Index: i, Data: r.Data})
		}
	}
	out := putRecordBatchOut{RequestResponses: make([]batchEntry, len(in.Records))}
	s.mu.Lock()
	defer s.mu.Unlock()
	ds, err := s.stream(in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	for i, r := range in.Records {
		if f := faults[i]; f != nil {
			out.FailedPutCount++
			out.RequestResponses[i] = batchEntry{ErrorCode: f.ErrorCode, ErrorMessage: f.ErrorMessage}
			continue
		}
		ds.records = append(ds.records, r.Data)
		out.RequestResponses[i] = batchEntry{RecordId: requestID()}
	}
	return out, nil
}

func (s *Server) putRecord(body []byte) (any, error) {
	var in struct {
		DeliveryStreamName string
		Record             record
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Record.Data) > MaxRecordBytes {
		return nil, errf(400, "ValidationException",
			"1 validation error detected: Value at 'record.data' failed to satisfy constraint: Member must have length less than or equal to %d", MaxRecordBytes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ds, err := s.stream(in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	ds.records = append(ds.records, in.Record.Data)
	return map[string]any{"RecordId": requestID(), "Encrypted": false}, nil
}

func (s *Server) createDeliveryStream(body []byte) (any, error) {
	var in struct{ DeliveryStreamName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.DeliveryStreamName == "" {
		return nil, errf(400, "InvalidArgumentException", "DeliveryStreamName is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[in.DeliveryStreamName] != nil {
		return nil, errf(400, "ResourceInUseException", "Firehose %s under accountId 123456789012 already exists", in.DeliveryStreamName)
	}
	s.streams[in.DeliveryStreamName] = &deliveryStream{name: in.DeliveryStreamName, created: time.Now()}
	return map[string]string{"DeliveryStreamARN": arn(in.DeliveryStreamName)}, nil
}

func arn(name string) string {
	return "arn:aws:firehose:us-east-1:123456789012:deliverystream/" + name
}

func (s *Server) describeDeliveryStream(body []byte) (any, error) {
	var in struct{ DeliveryStreamName string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ds, err := s.stream(in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	return map[string]any{"DeliveryStreamDescription": map[string]any{
		"DeliveryStreamName":   ds.name,
		"DeliveryStreamARN":    arn(ds.name),
		"DeliveryStreamStatus": "ACTIVE",
		"DeliveryStreamType":   "DirectPut",
		"VersionId":            "1",
		"CreateTimestamp":      float64(ds.created.UnixMilli()) / 1000,
		"Destinations":         []any{},
		"HasMoreDestinations":  false,
	}}, nil
}
