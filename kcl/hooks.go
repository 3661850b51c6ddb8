package kcl

import (
	"fmt"
	"time"

	"github.com/shardwise/shardwise/internal/hookset"
)

// A Hook is any value implementing one or more of the HookXxx interfaces below (the Java KCL's metrics,
// as events); register hooks with WithHooks. New hook kinds may be added without breaking existing hooks.
// Hooks run synchronously on worker goroutines: they must be fast, safe for concurrent use, must not
// block and must not call back into the Worker (Shutdown from a hook deadlocks).
//
// Every method takes one event, and every event names the stream, so one metrics type can serve several
// workers: Stream is the stream's name (taken from the ARN when the worker was given one) and ShardID, where
// an event has it, the shard the event concerns. Method names are unique across the hooks of kpl, kcl, lease and agent: one type can implement
// all of them and be given to each package's WithHooks. The Java KCL's metrics map to them like this:
//
//	RecordsProcessed, DataBytesProcessed,          HookRecordsProcessed
//	RecordProcessor.processRecords.Time
//	MillisBehindLatest                             HookMillisBehindLatest
//	CurrentLeases (LeasesHeld)                     HookCurrentLeases
//	lease taken, lost (per worker, with the shard) HookShardStarted, HookShardLeaseLost
//	ShardEnd                                       HookShardEnded
//	GetRecords throttling, expired iterators       HookGetRecordsThrottled, HookExpiredIterator
//	aggregated records dropped outside the range   HookRecordsFiltered, HookRecordDropped
//	corrupt aggregates (delivered as plain data)   HookCorruptRecord
//	fan-out consumer registration refused          HookConsumerRegistration
//
// The lease protocol's own events (renewals, takes, steals, checkpoint writes) are lease's hooks,
// registered with lease.WithHooks on the Manager the worker uses.
type Hook any

// HookRecordsProcessed is called after every ProcessRecords call (KCL RecordsProcessed, DataBytesProcessed
// and RecordProcessor.processRecords.Time, in one event).
type HookRecordsProcessed interface {
	OnRecordsProcessed(e ProcessedEvent)
}

// ProcessedEvent describes one ProcessRecords call.
type ProcessedEvent struct {
	Stream             string
	ShardID            string
	Records            int           // user records in the batch
	Bytes              int64         // sum of their Data lengths
	MillisBehindLatest int64         // from the GetRecords answer or fan-out event of the batch
	Duration           time.Duration // time spent in ProcessRecords
	Err                error         // the processor's error (the batch will be delivered again)
}

// HookMillisBehindLatest is called after every GetRecords answer (every fan-out event) with its
// MillisBehindLatest.
type HookMillisBehindLatest interface {
	OnMillisBehindLatest(e BehindEvent)
}

// BehindEvent carries the MillisBehindLatest of one GetRecords answer or fan-out event.
type BehindEvent struct {
	Stream             string
	ShardID            string
	MillisBehindLatest int64 // how far the shard's reader is behind the tip of the shard, in ms
}

// HookCurrentLeases is called whenever the number of shards this worker processes changes.
type HookCurrentLeases interface {
	OnCurrentLeases(e CurrentLeasesEvent)
}

// CurrentLeasesEvent gives the number of shards the worker processes.
type CurrentLeasesEvent struct {
	Stream string
	Leases int // shards this worker processes now
}

// HookShardStarted is called when the worker starts processing a shard whose lease it acquired.
type HookShardStarted interface {
	OnShardStarted(e ShardEvent)
}

// ShardEvent names a shard of a stream.
type ShardEvent struct {
	Stream  string
	ShardID string
}

// HookShardLeaseLost is called when the worker stops processing a shard because its lease was lost.
type HookShardLeaseLost interface {
	OnShardLeaseLost(e ShardLeaseLostEvent)
}

// ShardLeaseLostEvent describes a shard whose processing stopped because the lease was lost.
type ShardLeaseLostEvent struct {
	Stream  string
	ShardID string
	Err     error // why: wraps ErrLeaseLost, or the Run context's error
}

// HookExpiredIterator is called when GetRecords answered ExpiredIteratorException and the worker made a
// new iterator after the last record it had fetched.
type HookExpiredIterator interface {
	OnExpiredIterator(e ShardEvent)
}

// HookGetRecordsThrottled is called when GetRecords was throttled (ProvisionedThroughputExceededException
// and kin); the shard backs off before the next call.
type HookGetRecordsThrottled interface {
	OnGetRecordsThrottled(e ThrottledEvent)
}

// ThrottledEvent describes a throttled GetRecords call.
type ThrottledEvent struct {
	Stream  string
	ShardID string
	Backoff time.Duration // the wait before the next call
}

// HookRecordsFiltered is called when user records of an aggregate were dropped because their hash key
// lies outside the shard's hash key range (records put before a reshard, as the Java KCL drops them).
type HookRecordsFiltered interface {
	OnRecordsFiltered(e FilteredEvent)
}

// FilteredEvent counts the user records dropped from one GetRecords answer.
type FilteredEvent struct {
	Stream  string
	ShardID string
	Records int // user records dropped
}

// HookCorruptRecord is called when a record carried the KPL aggregation magic (or the Shardwise
// compression frame) but could not be decoded; it is delivered as one plain record, as the Java KCL does.
type HookCorruptRecord interface {
	OnCorruptRecord(e CorruptEvent)
}

// CorruptEvent describes a record that could not be decoded.
type CorruptEvent struct {
	Stream         string
	ShardID        string
	SequenceNumber string // the Kinesis record's
	Err            error  // wraps aggregation.ErrCorrupt, compression.ErrCorrupt or compression.ErrTooLarge
}

// HookShardEnded is called after the worker checkpointed ShardEnd for a shard.
type HookShardEnded interface {
	OnShardEnded(e ShardEndedEvent)
}

// ShardEndedEvent describes a shard processed to its end.
type ShardEndedEvent struct {
	Stream        string
	ShardID       string
	ChildShardIDs []string // the shards that continue it: two after a split, one after a merge
}

// HookConsumerRegistration is called for every LimitExceededException answer to the EnhancedFanOut
// consumer's registration, and once more (GaveUp) when the worker gives up and Run stops with
// ErrConsumerRegistration.
type HookConsumerRegistration interface {
	OnConsumerRegistrationRefused(e RegistrationEvent)
}

// RegistrationEvent describes a refused fan-out consumer registration.
type RegistrationEvent struct {
	Stream   string
	Consumer string // the consumer name registered
	Refusal  int    // refusals so far
	Err      error  // the refusal; with GaveUp, the error Run returns
	GaveUp   bool   // the worker stopped trying; Run returns Err
}

// HookRecordDropped is called for every user record the worker drops without delivering it (a
// sub-record of a KPL aggregate whose hash key lies outside the shard's range, on a stream that routes
// by partition key), with its position and the reason. It is never silent: each is also logged at Warn.
type HookRecordDropped interface {
	OnRecordDropped(e DroppedEvent)
}

// DroppedEvent describes one dropped user record.
type DroppedEvent struct {
	Stream       string
	ShardID      string
	Position     Position // the record's sequence and sub-sequence numbers
	PartitionKey string   // the user record's key
	Reason       string   // why it was dropped, e.g. "hash key outside the shard's range"
}

// hooks holds the registered hooks by kind; the on* methods fill in the stream.
type hooks struct {
	stream       string
	registration []HookConsumerRegistration
	dropped      []HookRecordDropped
	processed    []HookRecordsProcessed
	behind       []HookMillisBehindLatest
	current      []HookCurrentLeases
	started      []HookShardStarted
	lost         []HookShardLeaseLost
	expired      []HookExpiredIterator
	throttled    []HookGetRecordsThrottled
	filtered     []HookRecordsFiltered
	corrupt      []HookCorruptRecord
	ended        []HookShardEnded
}

func newHooks(stream string, hs []Hook) (*hooks, error) {
	s := hookset.New(hs)
	h := &hooks{
		stream:       stream,
		registration: hookset.Take[HookConsumerRegistration](s),
		dropped:      hookset.Take[HookRecordDropped](s),
		processed:    hookset.Take[HookRecordsProcessed](s),
		behind:       hookset.Take[HookMillisBehindLatest](s),
		current:      hookset.Take[HookCurrentLeases](s),
		started:      hookset.Take[HookShardStarted](s),
		lost:         hookset.Take[HookShardLeaseLost](s),
		expired:      hookset.Take[HookExpiredIterator](s),
		throttled:    hookset.Take[HookGetRecordsThrottled](s),
		filtered:     hookset.Take[HookRecordsFiltered](s),
		corrupt:      hookset.Take[HookCorruptRecord](s),
		ended:        hookset.Take[HookShardEnded](s),
	}
	if err := s.Unmatched("kcl"); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return h, nil
}

func (h *hooks) onProcessed(e ProcessedEvent) {
	e.Stream = h.stream
	for _, x := range h.processed {
		x.OnRecordsProcessed(e)
	}
}

func (h *hooks) onBehind(shardID string, ms int64) {
	for _, x := range h.behind {
		x.OnMillisBehindLatest(BehindEvent{Stream: h.stream, ShardID: shardID, MillisBehindLatest: ms})
	}
}

func (h *hooks) onCurrent(n int) {
	for _, x := range h.current {
		x.OnCurrentLeases(CurrentLeasesEvent{Stream: h.stream, Leases: n})
	}
}

func (h *hooks) onStarted(shardID string) {
	for _, x := range h.started {
		x.OnShardStarted(ShardEvent{Stream: h.stream, ShardID: shardID})
	}
}

func (h *hooks) onLost(shardID string, err error) {
	for _, x := range h.lost {
		x.OnShardLeaseLost(ShardLeaseLostEvent{Stream: h.stream, ShardID: shardID, Err: err})
	}
}

func (h *hooks) onExpired(shardID string) {
	for _, x := range h.expired {
		x.OnExpiredIterator(ShardEvent{Stream: h.stream, ShardID: shardID})
	}
}

func (h *hooks) onThrottled(shardID string, d time.Duration) {
	for _, x := range h.throttled {
		x.OnGetRecordsThrottled(ThrottledEvent{Stream: h.stream, ShardID: shardID, Backoff: d})
	}
}

func (h *hooks) onFiltered(shardID string, n int) {
	for _, x := range h.filtered {
		x.OnRecordsFiltered(FilteredEvent{Stream: h.stream, ShardID: shardID, Records: n})
	}
}

func (h *hooks) onCorrupt(shardID, seq string, err error) {
	for _, x := range h.corrupt {
		x.OnCorruptRecord(CorruptEvent{Stream: h.stream, ShardID: shardID, SequenceNumber: seq, Err: err})
	}
}

func (h *hooks) onEnded(shardID string, children []string) {
	for _, x := range h.ended {
		x.OnShardEnded(ShardEndedEvent{Stream: h.stream, ShardID: shardID, ChildShardIDs: children})
	}
}

func (h *hooks) onRegistration(e RegistrationEvent) {
	e.Stream = h.stream
	for _, x := range h.registration {
		x.OnConsumerRegistrationRefused(e)
	}
}

func (h *hooks) onDropped(e DroppedEvent) {
	e.Stream = h.stream
	for _, x := range h.dropped {
		x.OnRecordDropped(e)
	}
}
