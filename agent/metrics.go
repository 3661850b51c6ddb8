package agent

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardwise/shardwise/kpl"
)

// FlowStats is one flow's figures: what Stats.Flows holds. The send figures follow the Kinesis
// Agent's CloudWatch metrics of the same names (see the package documentation).
type FlowStats struct {
	FilePattern string // the flow's filePattern
	// Destination is the flow's kinesisStream, or its deliveryStream when Firehose is true.
	Destination string
	Firehose    bool // the flow writes to Firehose

	// RecordSendAttempts counts the records carried by PutRecords (PutRecordBatch) calls, retries
	// included; RecordSendErrors the records those calls returned as failed; ServiceErrors the
	// calls that failed as a whole (their records count as attempts, not as errors, as in the
	// Kinesis Agent). With shardwise.aggregation (or aggregatedRecordSizeBytes) a record here is a
	// Kinesis (Firehose) record holding several lines.
	RecordSendAttempts, RecordSendErrors, ServiceErrors int64
	SendCalls                                           int64 // PutRecords (PutRecordBatch) calls
	// RecordsSent and BytesSent count the records (lines, after the processing options) delivered
	// and their data bytes (partition keys not counted).
	RecordsSent, BytesSent int64
	// LastDelivery is when a record of the flow was last delivered (zero: none yet).
	LastDelivery time.Time

	// ConsecutiveProcessingErrors is the number of consecutive polls of the flow that met an
	// error reading its files (open, stat or read failed); 0 after a poll without one.
	ConsecutiveProcessingErrors int64

	// The gauges below are refreshed by the flow every CheckpointInterval/2.

	// BytesBehind is the bytes in the flow's files not delivered yet: written to a file but
	// not read, or read but not delivered (a line still being written counts too).
	BytesBehind int64
	// BytesUnread is the part of BytesBehind not read yet.
	BytesUnread int64
	// PendingRecords counts the records read and not delivered yet.
	PendingRecords int
	// OldestUnsentRecordAge is how long the oldest pending record has been waiting, to within
	// CheckpointInterval/2 (0: none pending).
	OldestUnsentRecordAge time.Duration
	// PendingSince is when the flow last went from nothing to deliver to something to deliver
	// (unread bytes or pending records); zero while it has nothing.
	PendingSince time.Time
	// Files is the number of files the flow tracks.
	Files int
}

// Stalled reports whether the flow has had something to deliver for at least d while delivering
// nothing: nothing was delivered in the last d, and data has been pending for d.
func (s FlowStats) Stalled(now time.Time, d time.Duration) bool {
	if s.PendingSince.IsZero() || now.Sub(s.PendingSince) < d {
		return false
	}
	return s.LastDelivery.IsZero() || now.Sub(s.LastDelivery) >= d
}

// flowMetrics holds one flow's figures. The counters are atomics, written by the flow's
// goroutine (deliveries, processing errors), the producer's hook (kpl) or the Firehose sender's
// goroutine, and read by Stats. The gauges are computed by the flow's goroutine (observe) and
// published under mu.
type flowMetrics struct {
	filePattern string
	destination string
	firehose    bool
	streamKey   string // the hooks' Stream
	hooks       *hooks

	sendCalls, attempts, sendErrors, serviceErrors atomic.Int64
	sent, bytesSent                                atomic.Int64
	lastSent                                       atomic.Int64 // unix nanoseconds, 0: never
	consecutive                                    atomic.Int64

	// Owned by the flow's goroutine.
	stepFailed bool
	heads      map[*entry]time.Time // the first pending entry of each file, and when it was first seen
	observed   time.Time            // the gauges' last refresh

	mu     sync.Mutex
	gauges flowGauges
}

type flowGauges struct {
	bytesBehind, bytesUnread int64
	pending, files           int
	oldest                   time.Time // when the oldest pending entry was first seen; zero: none
	pendingSince             time.Time
}

func newFlowMetrics(f Flow, h *hooks) *flowMetrics {
	m := &flowMetrics{filePattern: f.FilePattern, destination: f.KinesisStream, streamKey: f.streamKey(), hooks: h}
	if f.DeliveryStream != "" {
		m.destination, m.firehose = f.DeliveryStream, true
	}
	return m
}

// delivered counts a record the destination accepted.
func (m *flowMetrics) delivered(dataBytes int, now time.Time) {
	if m == nil {
		return
	}
	m.sent.Add(1)
	m.bytesSent.Add(int64(dataBytes))
	m.lastSent.Store(now.UnixNano())
	for _, h := range m.hooks.delivered {
		h.OnFlowDelivered(FlowDeliveredEvent{FilePattern: m.filePattern, Stream: m.streamKey, Bytes: dataBytes})
	}
}

// sendCall counts a PutRecords or PutRecordBatch call carrying records entries, failed entries of
// which failed (callFailed: the call as a whole failed).
func (m *flowMetrics) sendCall(records, failed int, callFailed bool) {
	if m == nil {
		return
	}
	m.sendCalls.Add(1)
	m.attempts.Add(int64(records))
	if callFailed {
		m.serviceErrors.Add(1)
		failed = 0
	} else {
		m.sendErrors.Add(int64(failed))
	}
	for _, h := range m.hooks.send {
		h.OnFlowSend(FlowSendEvent{FilePattern: m.filePattern, Stream: m.streamKey, Records: records, Failed: failed, ServiceError: callFailed})
	}
}

// OnPutRecords implements kpl.HookPutRecords for the flow's producer.
func (m *flowMetrics) OnPutRecords(e kpl.PutRecordsEvent) {
	m.sendCall(e.KinesisRecords, e.Failed, e.Err != nil)
}

var _ kpl.HookPutRecords = (*flowMetrics)(nil)

// processingError notes an error met while reading the flow's files in the current poll.
func (m *flowMetrics) processingError() {
	if m != nil {
		m.stepFailed = true
	}
}

// readEnded notes why a read loop stopped: an error other than io.EOF is a processing error.
func (m *flowMetrics) readEnded(err error) {
	if err != nil && !errors.Is(err, io.EOF) {
		m.processingError()
	}
}

// pollDone ends a poll: ConsecutiveProcessingErrors grows if it met an error, else drops to 0.
func (m *flowMetrics) pollDone() {
	if m == nil {
		return
	}
	if m.stepFailed {
		m.consecutive.Add(1)
	} else if m.consecutive.Load() != 0 {
		m.consecutive.Store(0)
	}
	m.stepFailed = false
}

// observeCostPerFile spaces the refreshes of a flow's gauges by this much per tracked file (2 s for
// 2,000 files), so that walking the files costs a bounded share of a core however many there are;
// a flow with a few files is refreshed at every publish (CheckpointInterval/2).
const observeCostPerFile = time.Millisecond

// observe refreshes the flow's gauges from its files, at most every observeCostPerFile per file.
// It runs on the flow's goroutine (or on Run's once the flow's goroutine has ended).
func (m *flowMetrics) observe(f *flow, now time.Time) {
	if m == nil || (!m.observed.IsZero() && now.Sub(m.observed) < time.Duration(len(f.files))*observeCostPerFile) {
		return
	}
	m.refresh(f, now)
}

// refresh computes the flow's gauges from its files and publishes them.
func (m *flowMetrics) refresh(f *flow, now time.Time) {
	m.observed = now
	var g flowGauges
	var heads map[*entry]time.Time // allocated only when records wait
	for _, t := range f.files {
		if t.shadowOf != nil {
			continue // a copy of a tracked file: its bytes are the original's
		}
		g.files++
		if t.size > t.committed {
			g.bytesBehind += t.size - t.committed
		}
		if t.size > t.readPos {
			g.bytesUnread += t.size - t.readPos
		}
		for _, e := range t.queue {
			if e.done {
				continue
			}
			seen, ok := m.heads[e]
			if !ok {
				seen = now
			}
			if heads == nil {
				heads = map[*entry]time.Time{}
			}
			heads[e] = seen
			if g.oldest.IsZero() || seen.Before(g.oldest) {
				g.oldest = seen
			}
			break
		}
	}
	m.heads = heads
	g.pending = f.pending
	m.mu.Lock()
	defer m.mu.Unlock()
	if g.pending > 0 || g.bytesUnread > 0 {
		g.pendingSince = m.gauges.pendingSince
		if g.pendingSince.IsZero() {
			g.pendingSince = now
		}
	}
	m.gauges = g
}

func (m *flowMetrics) stats(now time.Time) FlowStats {
	s := FlowStats{
		FilePattern:                 m.filePattern,
		Destination:                 m.destination,
		Firehose:                    m.firehose,
		RecordSendAttempts:          m.attempts.Load(),
		RecordSendErrors:            m.sendErrors.Load(),
		ServiceErrors:               m.serviceErrors.Load(),
		SendCalls:                   m.sendCalls.Load(),
		RecordsSent:                 m.sent.Load(),
		BytesSent:                   m.bytesSent.Load(),
		ConsecutiveProcessingErrors: m.consecutive.Load(),
	}
	if ns := m.lastSent.Load(); ns != 0 {
		s.LastDelivery = time.Unix(0, ns)
	}
	m.mu.Lock()
	g := m.gauges
	m.mu.Unlock()
	s.BytesBehind, s.BytesUnread, s.PendingRecords, s.Files = g.bytesBehind, g.bytesUnread, g.pending, g.files
	s.PendingSince = g.pendingSince
	if !g.oldest.IsZero() && now.After(g.oldest) {
		s.OldestUnsentRecordAge = now.Sub(g.oldest)
	}
	return s
}
