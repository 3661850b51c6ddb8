package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/internal/backoff"
	"github.com/shardwise/shardwise/kpl"
)

// Firehose's PutRecordBatch limits.
const (
	firehoseMaxBatchRecords = 500
	firehoseMaxBatchBytes   = 4 << 20
	firehoseMaxRecordBytes  = 1000 << 10 // 1,000 KiB, before base64
)

// firehoseAttempts is how many times a firehoseSender sends a failed entry before handing the
// failure to the flow, which sends it again after its per-file backoff (see settle).
const firehoseAttempts = 3

// FirehoseAPI is the part of the Firehose API the agent calls (a *firehose.Client satisfies it).
type FirehoseAPI interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

// FirehoseError is a PutRecordBatch entry (or call) Firehose did not accept.
type FirehoseError struct {
	DeliveryStream string // the delivery stream
	Code, Message  string // the service's error code and message
	Err            error  // the call's error, when the whole call failed
}

func (e *FirehoseError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("firehose %s: PutRecordBatch: %v", e.DeliveryStream, e.Err)
	}
	return fmt.Sprintf("firehose %s: entry failed: %s: %s", e.DeliveryStream, e.Code, e.Message)
}

func (e *FirehoseError) Unwrap() error { return e.Err }

// sender is what a flow sends records through: a kpl.Producer (kinesisStream flows) or a
// firehoseSender (deliveryStream flows).
type sender interface {
	PutAsync(ctx context.Context, r kpl.Record) future
	Flush(ctx context.Context) error
	Close() error
}

// future is the outcome of one record (a *kpl.Future, or a firehose one).
type future interface {
	Done() <-chan struct{}
	Wait(ctx context.Context) (kpl.Result, error)
}

type kplSender struct{ p *kpl.Producer }

func (s kplSender) PutAsync(ctx context.Context, r kpl.Record) future { return s.p.PutAsync(ctx, r) }
func (s kplSender) Flush(ctx context.Context) error                   { return s.p.Flush(ctx) }
func (s kplSender) Close() error                                      { return s.p.Close() }

// fhFuture is resolved once, by the sender's goroutine (or PutAsync for records refused at once).
type fhFuture struct {
	done chan struct{}
	err  error
}

func (f *fhFuture) Done() <-chan struct{} { return f.done }

func (f *fhFuture) Wait(ctx context.Context) (kpl.Result, error) {
	select {
	case <-f.done:
		return kpl.Result{}, f.err
	case <-ctx.Done():
		return kpl.Result{}, ctx.Err()
	}
}

func (f *fhFuture) resolve(err error) {
	f.err = err
	close(f.done)
}

// fhRecord is one Firehose record: one line, or several concatenated (aggregatedRecordSizeBytes).
type fhRecord struct {
	data []byte
	futs []*fhFuture
	at   time.Time // when its first line was put
}

// firehoseSender sends a deliveryStream flow's records with PutRecordBatch. Records are sent in
// the order they were put, one call at a time; entries that fail are sent again (with backoff)
// before any later record, up to firehoseAttempts times, then their futures fail and the flow
// sends them again. Its goroutine (loop) is stopped by Close.
type firehoseSender struct {
	client     FirehoseAPI
	stream     string
	linger     time.Duration
	maxRecords int
	maxBytes   int
	aggSize    int // 0: one line per record
	retry      backoff.Policy
	log        *slog.Logger
	m          *flowMetrics // send figures; nil: not counted

	ctx      context.Context
	cancel   context.CancelFunc
	wake     chan struct{}
	loopDone chan struct{}

	mu       sync.Mutex
	pending  []*fhRecord // sealed records waiting for a call
	agg      *fhRecord   // the record being filled (aggregation only)
	inflight []*fhRecord // the batch being sent
	flushes  int         // Flush calls waiting: send without lingering
	closed   bool
}

func newFirehoseSender(client FirehoseAPI, f Flow, retry backoff.Policy, log *slog.Logger, m *flowMetrics) *firehoseSender {
	s := &firehoseSender{
		m:          m,
		client:     client,
		stream:     f.DeliveryStream,
		linger:     f.MaxBufferAge,
		maxRecords: firehoseMaxBatchRecords,
		maxBytes:   firehoseMaxBatchBytes,
		aggSize:    min(f.AggregatedRecordSizeBytes, firehoseMaxRecordBytes),
		retry:      retry,
		log:        log,
		wake:       make(chan struct{}, 1),
		loopDone:   make(chan struct{}),
	}
	if s.linger <= 0 {
		s.linger = DefaultMaxBufferAge
	}
	if f.MaxBufferSizeRecords > 0 {
		s.maxRecords = min(f.MaxBufferSizeRecords, firehoseMaxBatchRecords)
	}
	if f.MaxBufferSizeBytes > 0 {
		s.maxBytes = min(f.MaxBufferSizeBytes, firehoseMaxBatchBytes)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.loop()
	return s
}

func (s *firehoseSender) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// PutAsync queues r.Data (the partition key is not used by Firehose).
func (s *firehoseSender) PutAsync(_ context.Context, r kpl.Record) future {
	fut := &fhFuture{done: make(chan struct{})}
	if len(r.Data) > firehoseMaxRecordBytes {
		fut.resolve(fmt.Errorf("agent: firehose record of %d bytes, more than %d: %w", len(r.Data), firehoseMaxRecordBytes, kpl.ErrRecordTooLarge))
		return fut
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		fut.resolve(kpl.ErrClosed)
		return fut
	}
	now := time.Now()
	if s.aggSize <= 0 {
		s.pending = append(s.pending, &fhRecord{data: r.Data, futs: []*fhFuture{fut}, at: now})
	} else {
		if s.agg != nil && len(s.agg.data)+len(r.Data) > s.aggSize {
			s.pending = append(s.pending, s.agg)
			s.agg = nil
		}
		if s.agg == nil {
			s.agg = &fhRecord{at: now}
		}
		s.agg.data = append(s.agg.data, r.Data...)
		s.agg.futs = append(s.agg.futs, fut)
		if len(s.agg.data) >= s.aggSize {
			s.pending = append(s.pending, s.agg)
			s.agg = nil
		}
	}
	s.signal()
	return fut
}

// next returns the batch to send now, or how long to wait before one may be due (0: nothing
// queued).
func (s *firehoseSender) next(now time.Time) ([]*fhRecord, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.agg != nil && (s.flushes > 0 || now.Sub(s.agg.at) >= s.linger) {
		s.pending = append(s.pending, s.agg)
		s.agg = nil
	}
	n, bytes := 0, 0
	for n < len(s.pending) && n < s.maxRecords && (n == 0 || bytes+len(s.pending[n].data) <= s.maxBytes) {
		bytes += len(s.pending[n].data)
		n++
	}
	full := n < len(s.pending) || n == s.maxRecords
	if n == 0 || (!full && s.flushes == 0 && now.Sub(s.pending[0].at) < s.linger) {
		var wait time.Duration
		switch {
		case n > 0:
			wait = s.linger - now.Sub(s.pending[0].at)
		case s.agg != nil:
			wait = s.linger - now.Sub(s.agg.at)
		}
		return nil, max(wait, 0)
	}
	batch := s.pending[:n:n]
	s.pending = s.pending[n:]
	s.inflight = batch
	return batch, 0
}

func (s *firehoseSender) loop() {
	defer close(s.loopDone)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		batch, wait := s.next(time.Now())
		if batch != nil {
			s.send(batch)
			s.mu.Lock()
			s.inflight = nil
			s.mu.Unlock()
			continue
		}
		timer.Stop()
		var tc <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tc = timer.C
		}
		select {
		case <-s.wake:
		case <-tc:
		case <-s.ctx.Done():
			s.failQueued()
			return
		}
	}
}

// send delivers batch, sending failed entries again up to firehoseAttempts times.
func (s *firehoseSender) send(batch []*fhRecord) {
	for attempt := 0; ; attempt++ {
		in := &firehose.PutRecordBatchInput{DeliveryStreamName: &s.stream, Records: make([]fhtypes.Record, len(batch))}
		for i, r := range batch {
			in.Records[i] = fhtypes.Record{Data: r.data}
		}
		out, err := s.client.PutRecordBatch(s.ctx, in)
		var failed []*fhRecord
		var lastErr error
		switch {
		case err != nil && s.ctx.Err() != nil:
			resolveAll(batch, kpl.ErrClosed)
			return
		case err != nil:
			s.m.sendCall(len(batch), 0, true)
			var ae smithy.APIError
			if errors.As(err, &ae) && (ae.ErrorCode() == "ValidationException" || ae.ErrorCode() == "InvalidArgumentException") {
				// The call itself is invalid: sending it again cannot help.
				resolveAll(batch, fmt.Errorf("%w: %w", kpl.ErrInvalidRecord, &FirehoseError{DeliveryStream: s.stream, Err: err}))
				return
			}
			failed, lastErr = batch, &FirehoseError{DeliveryStream: s.stream, Err: err}
		case len(out.RequestResponses) != len(batch):
			s.m.sendCall(len(batch), 0, true)
			failed, lastErr = batch, &FirehoseError{DeliveryStream: s.stream, Code: "InternalFailure",
				Message: fmt.Sprintf("%d responses for %d records", len(out.RequestResponses), len(batch))}
		default:
			for i, rr := range out.RequestResponses {
				if rr.ErrorCode == nil {
					resolveAll(batch[i:i+1], nil)
					continue
				}
				failed = append(failed, batch[i])
				lastErr = &FirehoseError{DeliveryStream: s.stream, Code: *rr.ErrorCode, Message: deref(rr.ErrorMessage)}
			}
		}
		if err == nil && len(out.RequestResponses) == len(batch) {
			s.m.sendCall(len(batch), len(failed), false)
		}
		if len(failed) == 0 {
			return
		}
		if attempt+1 >= firehoseAttempts {
			resolveAll(failed, lastErr)
			return
		}
		s.log.Debug("firehose entries failed, sending them again", "delivery_stream", s.stream,
			"failed", len(failed), "attempt", attempt+1, "err", lastErr)
		t := time.NewTimer(s.retry.Delay(attempt))
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			resolveAll(failed, kpl.ErrClosed)
			return
		}
		batch = failed
	}
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func resolveAll(rs []*fhRecord, err error) {
	for _, r := range rs {
		for _, f := range r.futs {
			f.resolve(err)
		}
	}
}

// failQueued fails what was never sent, at Close.
func (s *firehoseSender) failQueued() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.agg != nil {
		s.pending = append(s.pending, s.agg)
		s.agg = nil
	}
	resolveAll(s.pending, kpl.ErrClosed)
	s.pending = nil
}

// Flush sends everything queued without lingering and waits for the outcomes, or for ctx.
func (s *firehoseSender) Flush(ctx context.Context) error {
	s.mu.Lock()
	var futs []*fhFuture
	for _, group := range [][]*fhRecord{s.inflight, s.pending, {s.agg}} {
		for _, r := range group {
			if r != nil {
				futs = append(futs, r.futs...)
			}
		}
	}
	s.flushes++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.flushes--
		s.mu.Unlock()
	}()
	s.signal()
	for _, f := range futs {
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.loopDone:
			return kpl.ErrClosed
		}
	}
	return nil
}

// Close stops sending: records not delivered yet fail with kpl.ErrClosed. It waits for the
// sender's goroutine.
func (s *firehoseSender) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	<-s.loopDone
	return nil
}

// WithFirehose sets the Firehose client of the deliveryStream flows (a *firehose.Client), which
// New requires when a flow has a deliveryStream.
func WithFirehose(client FirehoseAPI) Option {
	return optionFunc(func(o *options) { o.firehose = client })
}

// newSender returns the flow's sender: a kpl.Producer for a kinesisStream, a firehoseSender for a
// deliveryStream.
func (a *Agent) newSender(f Flow, m *flowMetrics) (sender, error) {
	if f.KinesisStream == "" {
		return newFirehoseSender(a.opts.firehose, f, f.retryPolicy(a.opts.retry), a.log, m), nil
	}
	p, err := kpl.New(a.client, f.KinesisStream, a.producerOptions(f, m)...)
	if err != nil {
		return nil, err
	}
	return kplSender{p}, nil
}
