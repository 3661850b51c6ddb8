package kinesistest

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind is one kind of injected failure.
type FaultKind int

const (
	// FaultEntryFailure answers a PutRecords entry with ErrorCode InternalFailure; the entry is not
	// written, the rest of the call is.
	FaultEntryFailure FaultKind = iota + 1
	// FaultInternalError answers a whole call with HTTP 500 InternalFailure; nothing is applied.
	FaultInternalError
	// FaultUnavailable answers a whole call with HTTP 503 ServiceUnavailable; nothing is applied.
	FaultUnavailable
	// FaultSlow answers a call normally after [FaultConfig.SlowDelay].
	FaultSlow
	// FaultReset applies a call, then resets the connection (HTTP/1.1) or stream (HTTP/2) instead of
	// answering, so the client cannot know whether its write happened.
	FaultReset
	// FaultKMSThrottling answers a PutRecord, PutRecords or GetRecords call with HTTP 400
	// KMSThrottlingException; nothing is applied. Other operations draw no fault from it. Opt-in:
	// only drawn when listed in [FaultConfig.Kinds].
	FaultKMSThrottling
	// FaultExpiredToken answers a call with HTTP 400 ExpiredTokenException, as when temporary
	// credentials have expired; nothing is applied. Opt-in: only drawn when listed in
	// [FaultConfig.Kinds].
	FaultExpiredToken
	// FaultHang never answers a call, as [Action.Hang]: it is held until the client gives up or the
	// server closes, then its connection (HTTP/1.1) or stream (HTTP/2) is reset; nothing is applied.
	// A client without a timeout waits forever. Opt-in: only drawn when listed in [FaultConfig.Kinds].
	FaultHang
)

// defaultFaultKinds are drawn from when FaultConfig.Kinds is empty. Kinds added later are opt-in, so
// a bare FaultConfig{Rate} keeps meaning what it always meant (the CLI's --fault-rate relies on it).
var defaultFaultKinds = []FaultKind{FaultEntryFailure, FaultInternalError, FaultUnavailable, FaultSlow, FaultReset}

// FaultConfig describes random failures for [Faults].
type FaultConfig struct {
	// Rate is the probability in [0, 1] that a call fails with one of the whole-call kinds, and,
	// independently, that each PutRecords entry fails with FaultEntryFailure (unless EntryRate
	// sets another). 0 disables faults.
	Rate float64
	// EntryRate, when above 0, is the probability in [0, 1] that each PutRecords entry of a call
	// that drew no whole-call fault fails with FaultEntryFailure, in place of Rate: for example
	// Rate 0.1 and EntryRate 0.2 fail a tenth of the calls and a fifth of the entries of the rest.
	// It applies only when FaultEntryFailure is drawn from (Kinds empty, or listing it).
	EntryRate float64
	// Ops lists the operations faults are drawn for, by name without the service prefix
	// ("PutRecords", "ListShards"); empty means every operation. The others are answered normally,
	// e.g. a test's own CreateStream or read-back calls.
	Ops []string
	// Kinds lists the faults to draw from, uniformly; empty means FaultEntryFailure,
	// FaultInternalError, FaultUnavailable, FaultSlow and FaultReset (the later kinds are opt-in).
	Kinds []FaultKind
	// SlowDelay is how long a FaultSlow call is held; 0 means 1 second.
	SlowDelay time.Duration
	// Seed seeds the random source, for repeatable runs; 0 means a random seed.
	Seed uint64
}

// Request is a call as a [ControlFunc] sees it.
type Request struct {
	Op   string // operation name without the service prefix, e.g. "PutRecords"
	Body []byte // the JSON request body; must not be modified
	// Nth numbers the calls of one operation in the order the server received them, from 1, as
	// [Server.Calls] counts them (failed, refused and hung calls included): the first PutRecords
	// call is 1 whatever came before it. Calls that arrive together are numbered in the order their
	// goroutines reached the count.
	Nth int64
	// Header holds the HTTP request headers (User-Agent, amz-sdk-request with the SDK's attempt
	// number and maximum, ...); must not be modified.
	Header http.Header

	ctx context.Context
}

// Context returns a context that ends when the client gives up on the call (its context ends or
// its connection closes) or the server closes. A [ControlFunc] that blocks, to hold a call while
// a test looks at the state around it, returns when it ends. It is never nil.
func (r Request) Context() context.Context {
	if r.ctx == nil {
		return context.Background()
	}
	return r.ctx
}

// StreamName returns the stream the call names through StreamName or StreamARN, or "" when it names
// none (GetRecords, or calls identifying a consumer by ARN).
func (r Request) StreamName() string {
	var ref struct{ StreamName, StreamARN string }
	if json.Unmarshal(r.Body, &ref) != nil {
		return ""
	}
	if ref.StreamName != "" {
		return ref.StreamName
	}
	if _, name, ok := strings.Cut(ref.StreamARN, ":stream/"); ok {
		name, _, _ = strings.Cut(name, "/")
		return name
	}
	return ""
}

// ShardID returns the shard the call is about: the ShardId of GetShardIterator, SubscribeToShard,
// SplitShard (ShardToSplit) and MergeShards (ShardToMerge), or the shard a GetRecords iterator
// reads; "" for other calls and iterators the server did not issue.
func (r Request) ShardID() string {
	var in struct{ ShardId, ShardToSplit, ShardToMerge, ShardIterator string }
	if json.Unmarshal(r.Body, &in) != nil {
		return ""
	}
	switch {
	case in.ShardIterator != "":
		if it, ok := decodeIterator(in.ShardIterator); ok {
			return shardID(it.shard)
		}
		return ""
	case in.ShardId != "":
		return in.ShardId
	case in.ShardToSplit != "":
		return in.ShardToSplit
	}
	return in.ShardToMerge
}

// Action says how the server answers a call a [ControlFunc] handled. The zero Action runs the call
// normally.
type Action struct {
	// Err, when set, answers the call with this error; nothing is applied.
	Err *Error
	// Delay holds the answer (or the error) for this long.
	Delay time.Duration
	// Reset runs the call, then resets the connection instead of answering.
	Reset bool
	// Drop resets the connection (HTTP/1.1) or stream (HTTP/2) without running the call, as a
	// request lost on its way: the client sees the same error as for Reset and cannot tell whether
	// its write happened, but nothing was applied. It takes precedence over Err and Reset.
	Drop bool
	// Hang holds the call without applying or answering it until the client gives up (its context
	// ends or its connection closes) or the server closes; then the connection (HTTP/1.1) or stream
	// (HTTP/2) is reset. It takes precedence over Err and Reset. [Server.Close] does not wait for
	// hung calls to be given up.
	Hang bool
	// FailEntries fails PutRecords entries by position with the given ErrorCode
	// (ProvisionedThroughputExceededException or InternalFailure); they are not written, the others are.
	FailEntries map[int]string
	// Date, when set, is the time the answer's Date header gives: a server clock ahead of or behind
	// the client's. With an InvalidSignatureException ([ClockSkewError]) and a Date more than 4
	// minutes off, the SDK treats the error as clock skew, retries and signs later calls with the
	// offset; with the real Date (the default) it does not retry.
	Date time.Time
	// Edit, when set, rewrites the JSON answer of a call that was applied and succeeded, before it is
	// sent: to answer what a real service or another engine might, but the server never does (a
	// GetRecords without NextShardIterator for an open shard, a ListShards page missing a shard).
	// The call's effects stand. Not applied to SubscribeToShard.
	Edit func(answer []byte) []byte
}

// ControlFunc intercepts calls. It returns handled=false to let the call through untouched. It runs on
// the server's request goroutines, possibly concurrently, before the call is applied; it must not call
// back into the Server. It may observe calls (count them, record their entries or headers) and let
// them through, and it may block: to hold a call in flight until a test has looked at the client's
// state, wait on a channel and on req.Context(), so that a client giving up or [Server.Close]
// releases it (Close waits for held calls).
type ControlFunc func(req Request) (a Action, handled bool)

type control struct {
	fn ControlFunc
}

// Control installs fn to intercept every later call, ahead of random faults; the functions installed
// run in order until one handles the call. The returned function removes fn. Safe to call while the
// server is serving.
func (s *Server) Control(fn ControlFunc) (remove func()) {
	c := &control{fn: fn}
	s.ctlMu.Lock()
	s.controls = append(s.controls, c)
	s.ctlMu.Unlock()
	return func() {
		s.ctlMu.Lock()
		defer s.ctlMu.Unlock()
		for i, x := range s.controls {
			if x == c {
				s.controls = append(s.controls[:i:i], s.controls[i+1:]...)
				return
			}
		}
	}
}

// FailFirst returns a [ControlFunc] that answers the first n calls of operation op with err, then lets
// every later call through; for example FailFirst("DescribeStreamSummary", 3,
// NewError(CodeLimitExceeded)) makes a client meet the rate limit at start. It is safe for concurrent
// calls: exactly n are failed.
func FailFirst(op string, n int, err *Error) ControlFunc {
	var seen atomic.Int64
	return func(req Request) (Action, bool) {
		if req.Op != op || seen.Add(1) > int64(n) {
			return Action{}, false
		}
		return Action{Err: err}, true
	}
}

func (s *Server) runControls(req Request) (Action, bool) {
	s.ctlMu.Lock()
	ctls := s.controls
	s.ctlMu.Unlock()
	for _, c := range ctls {
		if a, ok := c.fn(req); ok {
			return a, true
		}
	}
	return Action{}, false
}

// faultInjector draws random faults.
type faultInjector struct {
	cfg       FaultConfig
	entry     bool
	entryRate float64
	ops       map[string]bool // nil: every operation
	callKinds []FaultKind
	mu        sync.Mutex
	rnd       *rand.Rand
}

func newFaultInjector(cfg FaultConfig) *faultInjector {
	f := &faultInjector{cfg: cfg, entryRate: cfg.Rate}
	if cfg.SlowDelay <= 0 {
		f.cfg.SlowDelay = time.Second
	}
	if cfg.EntryRate > 0 {
		f.entryRate = cfg.EntryRate
	}
	if len(cfg.Ops) > 0 {
		f.ops = make(map[string]bool, len(cfg.Ops))
		for _, op := range cfg.Ops {
			f.ops[op] = true
		}
	}
	kinds := cfg.Kinds
	if len(kinds) == 0 {
		kinds = defaultFaultKinds
	}
	for _, k := range kinds {
		if k == FaultEntryFailure {
			f.entry = true
		} else {
			f.callKinds = append(f.callKinds, k)
		}
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	f.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return f
}

// covers reports whether faults are drawn for operation op.
func (f *faultInjector) covers(op string) bool { return f.ops == nil || f.ops[op] }

// callFault draws the fault for one call.
func (f *faultInjector) callFault(op string) (Action, bool) {
	if f.cfg.Rate <= 0 || len(f.callKinds) == 0 || !f.covers(op) {
		return Action{}, false
	}
	f.mu.Lock()
	hit := f.rnd.Float64() < f.cfg.Rate
	kind := f.callKinds[f.rnd.IntN(len(f.callKinds))]
	f.mu.Unlock()
	if !hit {
		return Action{}, false
	}
	switch kind {
	case FaultInternalError:
		return Action{Err: &Error{Code: CodeInternalFailure, Message: "injected fault: internal failure"}}, true
	case FaultUnavailable:
		return Action{Err: &Error{Code: CodeServiceUnavailable, Message: "injected fault: service unavailable"}}, true
	case FaultSlow:
		return Action{Delay: f.cfg.SlowDelay}, true
	case FaultReset:
		if op == opSubscribeToShard {
			return Action{}, false
		}
		return Action{Reset: true}, true
	case FaultKMSThrottling:
		if op != "PutRecord" && op != "PutRecords" && op != "GetRecords" {
			return Action{}, false
		}
		return Action{Err: &Error{Code: CodeKMSThrottling, Message: "injected fault: " + defaultMessages[CodeKMSThrottling]}}, true
	case FaultExpiredToken:
		return Action{Err: &Error{Code: CodeExpiredToken, Message: "injected fault: " + defaultMessages[CodeExpiredToken]}}, true
	case FaultHang:
		return Action{Hang: true}, true
	}
	return Action{}, false
}

// entryFault reports whether the record of a PutRecord call (op "PutRecord") or an entry of a
// PutRecords call should fail with InternalFailure.
func (f *faultInjector) entryFault(op string) bool {
	if f.entryRate <= 0 || !f.entry || !f.covers(op) {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rnd.Float64() < f.entryRate
}

// PutEntry is one record of a PutRecord or PutRecords call, as a [ControlFunc] sees it through
// [Request.Entries].
type PutEntry struct {
	PartitionKey    string // "" when the call sent none (allowed on streams with AUTO distribution)
	ExplicitHashKey string // "" when the call sent none
	Data            []byte // the entry's data, decoded
}

// Entries decodes the records of a PutRecords call (in request order) or the record of a PutRecord
// call; it returns nil for other operations and for bodies that do not parse. The data slices are
// the caller's.
func (r Request) Entries() []PutEntry {
	switch r.Op {
	case "PutRecords":
		in, ok := fastPutRecords(r.Body)
		if !ok {
			if decode(r.Body, &in) != nil {
				return nil
			}
		}
		out := make([]PutEntry, len(in.Records))
		for i, e := range in.Records {
			out[i] = PutEntry{PartitionKey: e.PartitionKey, ExplicitHashKey: e.ExplicitHashKey, Data: e.Data}
		}
		return out
	case "PutRecord":
		var in putRecordInput
		if decode(r.Body, &in) != nil {
			return nil
		}
		var pk, ehk string
		if in.PartitionKey != nil {
			pk = *in.PartitionKey
		}
		if in.ExplicitHashKey != nil {
			ehk = *in.ExplicitHashKey
		}
		return []PutEntry{{PartitionKey: pk, ExplicitHashKey: ehk, Data: in.Data}}
	}
	return nil
}

// InvalidEntryError returns the error Kinesis answers a whole PutRecords call with when entry index
// (0-based) breaks a constraint of the API model: HTTP 400 ValidationException naming
// 'records.<index+1>.member.<member>'. For PutRecord, give index -1: the member is named alone.
// constraint is the rule broken, e.g. "Member must have length less than or equal to 256".
func InvalidEntryError(index int, member, constraint string) *Error {
	path := ""
	if index >= 0 {
		path = recordPath(index)
	}
	var v violations
	v.add("Value at '%s%s' failed to satisfy constraint: %s", path, member, constraint)
	return v.err()
}

// RejectEntries returns a [ControlFunc] that refuses, at request level, every PutRecords call holding
// a record for which match reports true, and every PutRecord call whose record it matches: the whole
// call fails with [InvalidEntryError] naming the first matching entry, and nothing is written. Calls
// without a matching record go through. This is how a test makes one poisoned record fail every batch
// it travels in, for a producer that must find it by splitting batches.
func RejectEntries(match func(PutEntry) bool) ControlFunc {
	return func(req Request) (Action, bool) {
		entries := req.Entries()
		for i, e := range entries {
			if match(e) {
				if req.Op == "PutRecord" {
					i = -1
				}
				return Action{Err: InvalidEntryError(i, "data", "Member was refused by a kinesistest control function")}, true
			}
		}
		return Action{}, false
	}
}
