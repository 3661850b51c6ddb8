package kpl

import "time"

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
type Hook any

// HookRecordBuffered is called when PutAsync accepts a record.
type HookRecordBuffered interface {
	OnRecordBuffered(stream string, e RecordBufferedEvent)
}

// RecordBufferedEvent describes an accepted user record.
type RecordBufferedEvent struct {
	Bytes   int // data plus partition key
	Pending int // user records held after this one was accepted
}

// HookRecordDone is called once per user record when its Future resolves, delivered or not
// (records rejected before being accepted included).
type HookRecordDone interface {
	OnRecordDone(stream string, e RecordDoneEvent)
}

// RecordDoneEvent describes a resolved user record.
type RecordDoneEvent struct {
	ShardID       string
	Bytes         int
	Attempts      int           // PutRecords calls that carried it (retries = Attempts-1)
	BufferingTime time.Duration // from PutAsync to its first PutRecords call (0 if never sent)
	Latency       time.Duration // from PutAsync to resolution
	Code          string        // last error code, "" when delivered
	Err           error         // nil when delivered, else the *RecordError
}

// HookKinesisRecordPut is called for each Kinesis record (aggregate or single) Kinesis accepted.
type HookKinesisRecordPut interface {
	OnKinesisRecordPut(stream string, e KinesisRecordEvent)
}

// KinesisRecordEvent describes an accepted Kinesis record.
type KinesisRecordEvent struct {
	ShardID     string
	UserRecords int
	Bytes       int  // payload plus partition key, as sent
	Aggregated  bool // a KPL aggregate
	Compressed  bool // a zstd frame
}

// HookPutRecords is called after each PutRecords call.
type HookPutRecords interface {
	OnPutRecords(stream string, e PutRecordsEvent)
}

// PutRecordsEvent describes a PutRecords call.
type PutRecordsEvent struct {
	KinesisRecords int
	UserRecords    int
	Bytes          int
	Failed         int // entries that failed (all of them when Err != nil)
	Throttled      int // entries failed with ProvisionedThroughputExceededException
	Latency        time.Duration
	Err            error // request-level error
}

// HookEntryError is called for each failed PutRecords entry and for each entry of a failed call,
// whether it will be retried or not.
type HookEntryError interface {
	OnEntryError(stream string, e EntryErrorEvent)
}

// EntryErrorEvent describes a failed entry.
type EntryErrorEvent struct {
	ShardID     string // predicted shard
	Code        string
	Message     string
	UserRecords int
	Retrying    bool
}

// HookShardMapRefreshed is called after each shard-map refresh attempt.
type HookShardMapRefreshed interface {
	OnShardMapRefreshed(stream string, e ShardMapEvent)
}

// ShardMapEvent describes a shard-map refresh.
type ShardMapEvent struct {
	OpenShards int
	Reason     string // "initial", "periodic", "wrong shard", "unroutable", "resource not found"
	Duration   time.Duration
	Err        error
}

// HookDistributionChanged is called when the producer learns that the stream's record distribution
// changed: with AUTO (service-managed distribution) Kinesis ignores partition and hash keys, so the
// producer turns aggregation and shard prediction off; with USER_PARTITION_KEY it turns them on.
type HookDistributionChanged interface {
	OnDistributionChanged(stream string, e DistributionEvent)
}

// DistributionEvent describes a change of the stream's record distribution.
type DistributionEvent struct {
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
	var h hooks
	for _, x := range hs {
		any := false
		if v, ok := x.(HookRecordBuffered); ok {
			h.buffered, any = append(h.buffered, v), true
		}
		if v, ok := x.(HookRecordDone); ok {
			h.done, any = append(h.done, v), true
		}
		if v, ok := x.(HookKinesisRecordPut); ok {
			h.kinesis, any = append(h.kinesis, v), true
		}
		if v, ok := x.(HookPutRecords); ok {
			h.put, any = append(h.put, v), true
		}
		if v, ok := x.(HookEntryError); ok {
			h.entry, any = append(h.entry, v), true
		}
		if v, ok := x.(HookShardMapRefreshed); ok {
			h.shardMap, any = append(h.shardMap, v), true
		}
		if v, ok := x.(HookDistributionChanged); ok {
			h.distribution, any = append(h.distribution, v), true
		}
		if !any {
			return h, invalidConfig("hook %T implements no kpl hook interface", x)
		}
	}
	return h, nil
}
