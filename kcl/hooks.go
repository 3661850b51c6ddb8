package kcl

import (
	"fmt"
	"time"
)

// A Hook is any value implementing one or more of the HookXxx interfaces below (the Java KCL's metrics,
// as events); register hooks with WithHooks. New hook kinds may be added without breaking existing hooks.
// Hooks run synchronously on worker goroutines: they must be fast, safe for concurrent use, must not
// block and must not call back into the Worker (Shutdown from a hook deadlocks).
type Hook any

// HookRecordsProcessed is called after every ProcessRecords call (KCL RecordsProcessed, DataBytesProcessed
// and RecordProcessor.processRecords.Time, in one event).
type HookRecordsProcessed interface {
	OnRecordsProcessed(e ProcessedEvent)
}

// ProcessedEvent describes one ProcessRecords call.
type ProcessedEvent struct {
	ShardID            string
	Records            int   // user records in the batch
	Bytes              int64 // sum of their Data lengths
	MillisBehindLatest int64
	Duration           time.Duration // time spent in ProcessRecords
	Err                error         // the processor's error (the batch will be delivered again)
}

// HookMillisBehindLatest is called after every GetRecords answer with its MillisBehindLatest.
type HookMillisBehindLatest interface {
	OnMillisBehindLatest(shardID string, millis int64)
}

// HookCurrentLeases is called whenever the number of shards this worker processes changes.
type HookCurrentLeases interface {
	OnCurrentLeases(n int)
}

// HookLeaseTaken is called when the worker starts processing a shard whose lease it acquired.
type HookLeaseTaken interface {
	OnLeaseTaken(shardID string)
}

// HookLeaseLost is called when the worker stops processing a shard because the lease was lost.
type HookLeaseLost interface {
	OnLeaseLost(shardID string, err error)
}

// HookExpiredIterator is called when GetRecords answered ExpiredIteratorException and the worker made a
// new iterator after the last record it had fetched.
type HookExpiredIterator interface {
	OnExpiredIterator(shardID string)
}

// HookThrottled is called when GetRecords was throttled (ProvisionedThroughputExceededException and
// kin); the shard backs off before the next call.
type HookThrottled interface {
	OnThrottled(shardID string, backoff time.Duration)
}

// HookRecordsFiltered is called when user records of an aggregate were dropped because their hash key
// lies outside the shard's hash key range (records put before a reshard, as the Java KCL drops them).
type HookRecordsFiltered interface {
	OnRecordsFiltered(shardID string, n int)
}

// HookCorruptRecord is called when a record carried the KPL aggregation magic (or the Shardwise
// compression frame) but could not be decoded; it is delivered as one plain record, as the Java KCL does.
type HookCorruptRecord interface {
	OnCorruptRecord(shardID, sequenceNumber string, err error)
}

// HookShardEnded is called after the worker checkpointed ShardEnd for a shard.
type HookShardEnded interface {
	OnShardEnded(shardID string, childShardIDs []string)
}

// HookConsumerRegistration is called for every LimitExceededException answer to the EnhancedFanOut
// consumer's registration, and once more (GaveUp) when the worker gives up and Run stops with
// ErrConsumerRegistration.
type HookConsumerRegistration interface {
	OnConsumerRegistrationRefused(e RegistrationEvent)
}

// RegistrationEvent describes a refused fan-out consumer registration.
type RegistrationEvent struct {
	Consumer string
	Refusal  int   // refusals so far
	Err      error // the refusal; with GaveUp, the error Run returns
	GaveUp   bool
}

// HookRecordsDropped is called for every user record the worker drops without delivering it (a
// sub-record of a KPL aggregate whose hash key lies outside the shard's range, on a stream that routes
// by partition key), with its position and the reason. It is never silent: each is also logged at Warn.
type HookRecordsDropped interface {
	OnRecordDropped(e DroppedEvent)
}

// DroppedEvent describes one dropped user record.
type DroppedEvent struct {
	ShardID      string
	Position     Position
	PartitionKey string
	Reason       string
}

type hooks struct {
	registration []HookConsumerRegistration
	dropped      []HookRecordsDropped
	processed    []HookRecordsProcessed
	behind       []HookMillisBehindLatest
	current      []HookCurrentLeases
	taken        []HookLeaseTaken
	lost         []HookLeaseLost
	expired      []HookExpiredIterator
	throttled    []HookThrottled
	filtered     []HookRecordsFiltered
	corrupt      []HookCorruptRecord
	ended        []HookShardEnded
}

func newHooks(hs []Hook) (*hooks, error) {
	h := &hooks{}
	for i, x := range hs {
		ok := false
		if v, is := x.(HookRecordsProcessed); is {
			h.processed, ok = append(h.processed, v), true
		}
		if v, is := x.(HookMillisBehindLatest); is {
			h.behind, ok = append(h.behind, v), true
		}
		if v, is := x.(HookCurrentLeases); is {
			h.current, ok = append(h.current, v), true
		}
		if v, is := x.(HookLeaseTaken); is {
			h.taken, ok = append(h.taken, v), true
		}
		if v, is := x.(HookLeaseLost); is {
			h.lost, ok = append(h.lost, v), true
		}
		if v, is := x.(HookExpiredIterator); is {
			h.expired, ok = append(h.expired, v), true
		}
		if v, is := x.(HookThrottled); is {
			h.throttled, ok = append(h.throttled, v), true
		}
		if v, is := x.(HookRecordsFiltered); is {
			h.filtered, ok = append(h.filtered, v), true
		}
		if v, is := x.(HookCorruptRecord); is {
			h.corrupt, ok = append(h.corrupt, v), true
		}
		if v, is := x.(HookShardEnded); is {
			h.ended, ok = append(h.ended, v), true
		}
		if v, is := x.(HookConsumerRegistration); is {
			h.registration, ok = append(h.registration, v), true
		}
		if v, is := x.(HookRecordsDropped); is {
			h.dropped, ok = append(h.dropped, v), true
		}
		if !ok {
			return nil, fmt.Errorf("%w: hook %d (%T) implements no kcl hook interface", ErrInvalidConfig, i, x)
		}
	}
	return h, nil
}

func (h *hooks) onProcessed(e ProcessedEvent) {
	for _, x := range h.processed {
		x.OnRecordsProcessed(e)
	}
}

func (h *hooks) onBehind(shardID string, ms int64) {
	for _, x := range h.behind {
		x.OnMillisBehindLatest(shardID, ms)
	}
}

func (h *hooks) onCurrent(n int) {
	for _, x := range h.current {
		x.OnCurrentLeases(n)
	}
}

func (h *hooks) onTaken(shardID string) {
	for _, x := range h.taken {
		x.OnLeaseTaken(shardID)
	}
}

func (h *hooks) onLost(shardID string, err error) {
	for _, x := range h.lost {
		x.OnLeaseLost(shardID, err)
	}
}

func (h *hooks) onExpired(shardID string) {
	for _, x := range h.expired {
		x.OnExpiredIterator(shardID)
	}
}

func (h *hooks) onThrottled(shardID string, d time.Duration) {
	for _, x := range h.throttled {
		x.OnThrottled(shardID, d)
	}
}

func (h *hooks) onFiltered(shardID string, n int) {
	for _, x := range h.filtered {
		x.OnRecordsFiltered(shardID, n)
	}
}

func (h *hooks) onCorrupt(shardID, seq string, err error) {
	for _, x := range h.corrupt {
		x.OnCorruptRecord(shardID, seq, err)
	}
}

func (h *hooks) onEnded(shardID string, children []string) {
	for _, x := range h.ended {
		x.OnShardEnded(shardID, children)
	}
}

func (h *hooks) onRegistration(e RegistrationEvent) {
	for _, x := range h.registration {
		x.OnConsumerRegistrationRefused(e)
	}
}

func (h *hooks) onDropped(e DroppedEvent) {
	for _, x := range h.dropped {
		x.OnRecordDropped(e)
	}
}
