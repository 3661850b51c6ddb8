package kinesistest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardwise/shardwise/internal/bodyguard"
)

const targetPrefix = "Kinesis_20131202."

// maxBodyBytes bounds a request body; PutRecords of 10 MiB of data is about 14 MiB of JSON.
const maxBodyBytes = 32 << 20

// Server is an in-process Kinesis Data Streams endpoint speaking the real wire protocol (AWS JSON 1.1
// over HTTP/1.1, h2c, or HTTPS with HTTP/2). Point the AWS SDK at [Server.URL]. A Server is safe for
// concurrent use; stop it with [Server.Close].
type Server struct {
	cfg     config
	ln      net.Listener
	vln     *memListener // the listener on the VirtualNetwork, or nil
	hs      *http.Server
	url     string
	pool    *x509.CertPool
	certPEM []byte
	faults  *faultInjector

	mu      sync.RWMutex
	streams map[string]*stream
	byID    map[uint64]*stream
	nextID  uint64
	subs    map[subKey]*subState

	ctlMu    sync.Mutex
	controls []*control

	accountLim accountLimits
	calls      map[string]*atomic.Int64 // per operation; the map is built once and never changes

	lifeMu    sync.Mutex
	closed    bool
	active    sync.WaitGroup // requests being served, subscriptions included
	closing   chan struct{}  // closed by Close: subscriptions end
	serveDone chan struct{}
	reqID     atomic.Uint64
}

// NewServer starts a server listening on a loopback port (see [Addr]) and returns once it accepts
// connections.
func NewServer(opts ...Option) (*Server, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o.apply(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		faults:    newFaultInjector(cfg.faults),
		streams:   make(map[string]*stream),
		byID:      make(map[uint64]*stream),
		subs:      make(map[subKey]*subState),
		closing:   make(chan struct{}),
		serveDone: make(chan struct{}),
		calls:     make(map[string]*atomic.Int64, len(handlers)+1),
	}
	for op := range handlers {
		s.calls[op] = new(atomic.Int64)
	}
	s.calls[opSubscribeToShard] = new(atomic.Int64)
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	s.hs = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.logger.Handler(), slog.LevelDebug),
	}
	var ln net.Listener
	if cfg.virtual {
		s.vln = newMemListener()
		ln = s.vln
	} else {
		var err error
		ln, err = net.Listen("tcp", cfg.addr)
		if err != nil {
			return nil, fmt.Errorf("kinesistest: listen: %w", err)
		}
	}
	if err := s.seed(); err != nil {
		ln.Close()
		return nil, err
	}
	scheme := "http"
	if cfg.tls {
		cert, leaf, pemBytes, err := selfSigned()
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("kinesistest: certificate: %w", err)
		}
		s.pool = x509.NewCertPool()
		s.pool.AddCert(leaf)
		s.certPEM = pemBytes
		protocols.SetHTTP2(true)
		s.hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	s.hs.Protocols = &protocols
	s.ln = ln
	s.url = scheme + "://" + ln.Addr().String()
	if cfg.virtual {
		s.url = scheme + "://" + virtualHost
	}
	go func() {
		defer close(s.serveDone)
		var err error
		if cfg.tls {
			err = s.hs.ServeTLS(ln, "", "")
		} else {
			err = s.hs.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.logger.Error("kinesistest: serve", "err", err)
		}
	}()
	return s, nil
}

// URL returns the endpoint, e.g. "http://127.0.0.1:41234"; use it as the SDK's BaseEndpoint.
func (s *Server) URL() string { return s.url }

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// CertPool returns a pool holding the server's self-signed certificate, or nil without [TLS].
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// CertPEM returns the server's certificate in PEM form (for AWS_CA_BUNDLE), or nil without [TLS].
func (s *Server) CertPEM() []byte { return s.certPEM }

// Client returns a new HTTP client for the server: it trusts the certificate under [TLS] (and speaks
// HTTP/2 there), and is a plain HTTP/1.1 client otherwise. Give it to the SDK as its HTTPClient.
//
// The client also works around a race between the AWS SDK and net/http that a fast local server
// exposes: the SDK closes a request body as soon as the answer arrives, and if the transport is still
// making its final read of that body, the read fails and the connection, with the answer on it, is
// torn down ("use of closed network connection"). The client hides the body's WriteTo method so that
// read ends in a clean io.EOF.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: bodyguard.RoundTripper(s.transport(false))}
}

// HTTP2Client returns a new HTTP client that speaks HTTP/2 to the server: h2 under [TLS], h2c (prior
// knowledge) otherwise. Use it for SubscribeToShard, which Kinesis serves over HTTP/2 only. It has
// the same workaround as [Server.Client].
func (s *Server) HTTP2Client() *http.Client {
	return &http.Client{Transport: bodyguard.RoundTripper(s.transport(true))}
}

func (s *Server) transport(h2 bool) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if s.vln != nil {
		tr.Proxy = nil // a proxy from the environment would be dialled here as if it were the server
		tr.DialContext = s.DialContext
	}
	if s.pool != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
		tr.ForceAttemptHTTP2 = true
	} else if h2 {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr.Protocols = &p
	}
	return tr
}

// Calls returns how many calls of operation op (its name without the service prefix, e.g.
// "ListShards") the server has received, whatever their outcome: failed, throttled, hung and reset
// calls count. Unknown operations count 0.
func (s *Server) Calls(op string) int64 {
	if n := s.calls[op]; n != nil {
		return n.Load()
	}
	return 0
}

// CallCounts returns how many calls the server has received per operation, for every operation
// called at least once, as [Server.Calls] counts them.
func (s *Server) CallCounts() map[string]int64 {
	out := make(map[string]int64)
	for op, n := range s.calls {
		if v := n.Load(); v > 0 {
			out[op] = v
		}
	}
	return out
}

// Close stops the server: it ends open subscriptions, closes the listener and connections and waits
// for every request goroutine to return. It is idempotent.
func (s *Server) Close() error {
	s.lifeMu.Lock()
	if s.closed {
		s.lifeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	s.lifeMu.Unlock()
	err := s.hs.Close()
	s.active.Wait()
	<-s.serveDone
	return err
}

func (s *Server) enter() bool {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return false
	}
	s.active.Add(1)
	return true
}

func (s *Server) now() time.Time { return s.cfg.clock() }

// call is one request on its way through a handler.
type call struct {
	body        []byte
	now         time.Time
	failEntries map[int]string
}

type handlerFunc func(s *Server, c *call) ([]byte, *Error)

const opSubscribeToShard = "SubscribeToShard"

var handlers map[string]handlerFunc

func init() {
	handlers = map[string]handlerFunc{
		"CreateStream":                           (*Server).createStream,
		"DeleteStream":                           (*Server).deleteStream,
		"DescribeStream":                         (*Server).describeStream,
		"DescribeStreamSummary":                  (*Server).describeStreamSummary,
		"ListStreams":                            (*Server).listStreams,
		"ListShards":                             (*Server).listShards,
		"IncreaseStreamRetentionPeriod":          (*Server).increaseRetention,
		"DecreaseStreamRetentionPeriod":          (*Server).decreaseRetention,
		"StartStreamEncryption":                  (*Server).startEncryption,
		"StopStreamEncryption":                   (*Server).stopEncryption,
		"UpdateMaxRecordSize":                    (*Server).updateMaxRecordSize,
		"UpdateStreamRecordDistributionStrategy": (*Server).updateRecordDistribution,
		"SplitShard":                             (*Server).splitShard,
		"MergeShards":                            (*Server).mergeShards,
		"UpdateShardCount":                       (*Server).updateShardCount,
		"PutRecord":                              (*Server).putRecord,
		"PutRecords":                             (*Server).putRecords,
		"GetShardIterator":                       (*Server).getShardIterator,
		"GetRecords":                             (*Server).getRecords,
		"RegisterStreamConsumer":                 (*Server).registerConsumer,
		"DescribeStreamConsumer":                 (*Server).describeConsumer,
		"ListStreamConsumers":                    (*Server).listConsumers,
		"DeregisterStreamConsumer":               (*Server).deregisterConsumer,
		"AddTagsToStream":                        (*Server).addTags,
		"RemoveTagsFromStream":                   (*Server).removeTags,
		"ListTagsForStream":                      (*Server).listTags,
		"UpdateStreamMode":                       (*Server).updateStreamMode,
		"EnableEnhancedMonitoring":               (*Server).enableMonitoring,
		"DisableEnhancedMonitoring":              (*Server).disableMonitoring,
		"DescribeLimits":                         (*Server).describeLimits,
	}
}

// ServeHTTP answers one Kinesis API call. Signatures are not checked.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		writeError(w, &Error{Code: CodeServiceUnavailable, Message: "server closed"})
		return
	}
	defer s.active.Done()
	w.Header().Set("X-Amzn-RequestId", s.requestID())
	if r.Method != http.MethodPost {
		// Health checks and browsers: say who we are.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "kinesistest\n")
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	h := handlers[op]
	if !ok || (h == nil && op != opSubscribeToShard) {
		writeError(w, errorf(codeUnknownOperation, "unknown operation %q", r.Header.Get("X-Amz-Target")))
		return
	}
	nth := s.calls[op].Add(1)
	body, err := readBody(r)
	if err != nil {
		writeError(w, errorf(codeSerialization, "reading body: %v", err))
		return
	}
	if len(body) > maxBodyBytes {
		writeError(w, &Error{Code: "RequestEntityTooLarge", Message: "request body too large", Status: http.StatusRequestEntityTooLarge})
		return
	}
	// net/http ends r's context when the client goes, and Close closes every connection.
	act, handled := s.runControls(Request{Op: op, Body: body, Nth: nth, Header: r.Header, ctx: r.Context()})
	if !handled {
		act, handled = s.faults.callFault(op)
		if handled {
			s.cfg.logger.LogAttrs(r.Context(), slog.LevelInfo, "kinesistest: injected fault", slog.String("op", op))
		}
	}
	if act.Delay > 0 && !s.wait(r.Context(), act.Delay) {
		return
	}
	if act.Hang {
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		panic(http.ErrAbortHandler) // no answer at all, not an empty 200
	}
	if act.Drop {
		panic(http.ErrAbortHandler) // reset before anything was applied
	}
	if !act.Date.IsZero() {
		w.Header().Set("Date", act.Date.UTC().Format(http.TimeFormat))
	}
	if act.Err != nil {
		writeError(w, act.Err)
		return
	}
	if op == opSubscribeToShard {
		s.subscribe(w, r, body)
		return
	}
	c := &call{body: body, now: s.now(), failEntries: act.FailEntries}
	out, apiErr := h(s, c)
	s.cfg.logger.LogAttrs(r.Context(), slog.LevelDebug, "kinesistest: call", slog.String("op", op), slog.Bool("ok", apiErr == nil))
	if act.Reset {
		panic(http.ErrAbortHandler) // net/http resets the connection (HTTP/1) or stream (HTTP/2)
	}
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	recycle := true
	if act.Edit != nil {
		out, recycle = act.Edit(out), false // Edit may keep the buffer it was given
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.Write(out)
	if recycle {
		putBuf(out) // net/http has copied it to the connection (or failed)
	}
}

// readBody reads the request body in one allocation when its length is known.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= maxBodyBytes {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
}

// wait sleeps for d, or less if the request ends or the server closes; it reports whether d passed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closing:
	}
	return false
}

func (s *Server) requestID() string {
	n := s.reqID.Add(1)
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", n)
}

func writeError(w http.ResponseWriter, e *Error) {
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status())
	w.Write(body)
}

// decode parses a request body into v.
func decode(body []byte, v any) *Error {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(codeSerialization, "cannot parse request: %v", err)
	}
	return nil
}

func encode(v any) ([]byte, *Error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, errorf(CodeInternalFailure, "encoding response: %v", err)
	}
	return b, nil
}

func (s *Server) streamARN(name string) string {
	return "arn:aws:kinesis:" + s.cfg.region + ":" + s.cfg.account + ":stream/" + name
}

// lookup resolves a StreamName or StreamARN to a live stream.
func (s *Server) lookup(ref streamRef) (*stream, *Error) {
	name := ref.StreamName
	if ref.StreamARN != "" {
		n, err := s.nameFromARN(ref.StreamARN)
		if err != nil {
			return nil, err
		}
		if name != "" && name != n {
			return nil, errInvalid("StreamName %s and StreamARN %s name different streams", name, ref.StreamARN)
		}
		name = n
	}
	if name == "" {
		return nil, errInvalid("Either StreamName or StreamARN must be provided.")
	}
	s.mu.RLock()
	st := s.streams[name]
	s.mu.RUnlock()
	if st == nil {
		return nil, errStreamNotFound(name, s.cfg.account)
	}
	return st, nil
}

func (s *Server) nameFromARN(arn string) (string, *Error) {
	_, rest, ok := strings.Cut(arn, ":stream/")
	if !ok || !strings.HasPrefix(arn, "arn:") || rest == "" {
		return "", errInvalid("StreamARN %s is not a valid stream ARN.", arn)
	}
	name, _, _ := strings.Cut(rest, "/")
	return name, nil
}
