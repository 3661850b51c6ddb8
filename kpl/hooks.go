package kpl

import (
	"time"

	"github.com/shardwise/shardwise/internal/hookset"
)

// Hook is any value implementing one or more of the HookXxx interfaces below. The Producer calls
// each hook kind it implements; new kinds never break existing hooks. Hooks run on producer
// goroutines, possibly concurrently: they must be fast, safe for concurrent use, and must not block
// or call Put, Flush or Close. Together they cover the KPL metrics:
//
//	UserRecordsReceived, UserRecordsPending        HookRecordBuffered
//	UserRecordsPut, UserRecordsDataPut,            HookRecordDone
//	UserRecordExpired, RetriesPerRecord,
//	BufferingTime, AllErrors, ErrorsByCode
//	KinesisRecordsPut, KinesisRecordsDataPut,      HookKinesisRecordPut
//	UserRecordsPerKinesisRecord
//	RequestTime, KinesisRecordsPerPutRecordsRequest, HookPutRecords
//	UserRecordsPerPutRecordsRequest
//	ErrorsByCode (retried entries included)        HookEntryError
//	shard map refreshes                            HookShardMapRefreshed
//	record distribution (AUTO) detected or left    HookDistributionChanged
//
// Every method takes one event, and every event names the stream. Method names are unique across the
// hooks of kpl, kcl, lease and agent: one type can implement all of them and be given to each
// package's WithHooks.
type Hook any

// HookRecordBuffered is called when PutAsync accepts a record.
type HookRecordBuffered interface {
	OnRecordBuffered(e RecordBufferedEvent)
}

// RecordBufferedEvent describes an accepted user record.
type RecordBufferedEvent struct {
	Stream  string
	Bytes   int // data plus partition key
	Pending int // user records held after this one was accepted
}

// HookRecordDone is called once per user record when its Future resolves, delivered or not
// (records rejected before being accepted included).
type HookRecordDone interface {
	OnRecordDone(e RecordDoneEvent)
}

// RecordDoneEvent describes a resolved user record.
type RecordDoneEvent struct {
	Stream        string
	ShardID       string
	Bytes         int           // data plus partition key
	Attempts      int           // PutRecords calls that carried it (retries = Attempts-1)
	BufferingTime time.Duration // from PutAsync to its first PutRecords call (0 if never sent)
	Latency       time.Duration // from PutAsync to resolution
	Code          string        // last error code, "" when delivered
	Err           error         // nil when delivered, else the *RecordError
}

// HookKinesisRecordPut is called for each Kinesis record (aggregate or single) Kinesis accepted.
type HookKinesisRecordPut interface {
	OnKinesisRecordPut(e KinesisRecordEvent)
}

// KinesisRecordEvent describes an accepted Kinesis record.
type KinesisRecordEvent struct {
	Stream      string
	ShardID     string
	UserRecords int  // user records it carries (1 when not aggregated)
	Bytes       int  // payload plus partition key, as sent
	Aggregated  bool // a KPL aggregate
	Compressed  bool // a zstd frame
}

// HookPutRecords is called after each PutRecords call.
type HookPutRecords interface {
	OnPutRecords(e PutRecordsEvent)
}

// PutRecordsEvent describes a PutRecords call.
type PutRecordsEvent struct {
	Stream         string
	KinesisRecords int           // entries in the call
	UserRecords    int           // user records the entries carry
	Bytes          int           // payloads plus partition keys, as sent
	Failed         int           // entries that failed (all of them when Err != nil)
	Throttled      int           // entries failed with ProvisionedThroughputExceededException
	Latency        time.Duration // from sending the request to its response (or error)
	Err            error         // request-level error
}

// HookEntryError is called for each failed PutRecords entry and for each entry of a failed call,
// whether it will be retried or not.
type HookEntryError interface {
	OnEntryError(e EntryErrorEvent)
}

// EntryErrorEvent describes a failed entry.
type EntryErrorEvent struct {
	Stream      string
	ShardID     string // predicted shard
	Code        string // the entry's ErrorCode, or the request error's code
	Message     string // the entry's ErrorMessage, or the request error's message
	UserRecords int    // user records the entry carried
	Retrying    bool   // the entry will be sent again (false: its records resolve with an error)
}

// HookShardMapRefreshed is called after each shard-map refresh attempt.
type HookShardMapRefreshed interface {
	OnShardMapRefreshed(e ShardMapEvent)
}

// ShardMapEvent describes a shard-map refresh.
type ShardMapEvent struct {
	Stream     string
	OpenShards int           // open shards in the new map (0 when Err != nil)
	Reason     string        // "initial", "periodic", "wrong shard", "unroutable", "resource not found"
	Duration   time.Duration // how long the listing took
	Err        error         // nil when the map was replaced
}

// HookDistributionChanged is called when the producer learns that the stream's record distribution
// changed: with AUTO (service-managed distribution) Kinesis ignores partition and hash keys, so the
// producer turns aggregation and shard prediction off; with USER_PARTITION_KEY it turns them on.
type HookDistributionChanged interface {
	OnDistributionChanged(e DistributionEvent)
}

// DistributionEvent describes a change of the stream's record distribution.
type DistributionEvent struct {
	Stream     string
	Strategy   string // "AUTO" or "USER_PARTITION_KEY", as DescribeStreamSummary reports it
	Predicting bool   // aggregation (if enabled) and shard prediction are on
	Reason     string // what made the producer describe the stream: "initial", "periodic", "wrong shard", ...
}

type hooks struct {
	buffered []HookRecordBuffered
	done     []HookRecordDone
	kinesis  []HookKinesisRecordPut
	put      []HookPutRecords
	entry    []HookEntryError
	shardMap []HookShardMapRefreshed

	distribution []HookDistributionChanged
}

func sortHooks(hs []Hook) (hooks, error) {
	s := hookset.New(hs)
	h := hooks{
		buffered:     hookset.Take[HookRecordBuffered](s),
		done:         hookset.Take[HookRecordDone](s),
		kinesis:      hookset.Take[HookKinesisRecordPut](s),
		put:          hookset.Take[HookPutRecords](s),
		entry:        hookset.Take[HookEntryError](s),
		shardMap:     hookset.Take[HookShardMapRefreshed](s),
		distribution: hookset.Take[HookDistributionChanged](s),
	}
	if err := s.Unmatched("kpl"); err != nil {
		return h, invalidConfig("%v", err)
	}
	return h, nil
}
