// Package kpl is a Kinesis producer library: the Java KPL's aggregation, collection, rate limiting
// and retries in Go, with bounded memory, backpressure, ordering guarantees and no silent loss at
// resharding.
//
//	p, err := kpl.New(kinesis.NewFromConfig(cfg), "my-stream")
//	if err != nil { ... }
//	defer p.Close()
//	f := p.PutAsync(ctx, kpl.Record{PartitionKey: "user-42", Data: payload})
//	...
//	res, err := f.Wait(ctx) // res.ShardID, res.SequenceNumber, res.SubSequenceNumber, res.Attempts
//	if err := p.Flush(ctx); err != nil { ... } // before Close, to deliver what is buffered
//
// # How records travel
//
// PutAsync validates the record, waits for buffer space (MaxBufferedRecords, MaxBufferedBytes) and
// routes it by its hash key (explicit hash key, else MD5 of the partition key) to the shard that
// owns the key in the current shard map (ListShards; refreshed periodically, on wrong-shard results
// and on ResourceNotFound). Each shard has an open KPL aggregate (AggregationMaxSize,
// AggregationMaxCount) sealed when full or after Linger; sealed Kinesis records queue per shard. A
// dispatcher goroutine starts PutRecords calls (≤ BatchMaxRecords entries, ≤ BatchMaxBytes, at most
// MaxConnections at once, one at a time per shard) while each shard's token bucket allows
// (RateLimit percent of 1 MiB/s and 1000 records/s; throttling lowers it, success restores it).
// Failed entries (ProvisionedThroughputExceededException, InternalFailure) and failed calls (5xx,
// timeouts, resets, throttling) go back to the front of their shard's queue after a jittered
// exponential per-shard backoff, until RecordTTL; other errors are terminal. The SDK is told to try
// each PutRecords once, so its retries never multiply the producer's.
//
// # Wrong shard
//
// When Kinesis stores an aggregate on a shard other than the predicted one (the stream was
// resharded), the map is refreshed; user records whose hash key lies in the receiving shard's range
// are reported delivered, the others (which a KCL consumer would drop) are re-aggregated and re-sent.
//
// # Ordering
//
// Records of one partition key are sent in Put order, and one call per shard is in flight, so
// without retries they arrive in order. With StrictOrdering each call carries at most one Kinesis
// record per shard and a failed record is resent before anything later of its shard, so order also
// holds under throttling and faults (a call with an unknown outcome may still leave a duplicate,
// counted in Stats.AmbiguousRecords). Order across a resharding is not guaranteed.
//
// # Outcomes and errors
//
// Every record's outcome comes through its Future, invalid input included; every error is a
// *RecordError wrapping ErrInvalidRecord, ErrRecordTooLarge, ErrMaxBuffered, ErrRecordExpired,
// ErrThrottled, ErrRecordFailed, ErrClosed, a context error, or a request-level SDK error.
// RecordError.Attempts lists every PutRecords attempt (time, duration, shard, code, message).
//
// # Concurrency and lifecycle
//
// A Producer is safe for concurrent use. Flush(ctx) sends everything without lingering and waits;
// Close fails what was not sent with ErrClosed, waits for calls in flight, and stops the
// goroutines. Hooks (see Hook) and the *slog.Logger (silent by default) run on producer goroutines
// and must not block or call back into the Producer.
//
// # Compression
//
// CompressZstd (off by default) compresses each Kinesis record's payload with zstd when that saves
// bytes, framed as package compression documents; only Shardwise consumers decode it.
//
// # Defaults
//
//	option                   default      Java KPL name
//	AggregationMaxSize       51200        AggregationMaxSize
//	AggregationMaxCount      unlimited    AggregationMaxCount
//	DisableAggregation       (enabled)    AggregationEnabled
//	BatchMaxRecords          500          CollectionMaxCount
//	BatchMaxBytes            5 MiB        CollectionMaxSize
//	Linger                   100ms        RecordMaxBufferedTime
//	RecordTTL                30s          RecordTtl
//	RateLimit                150 (%)      RateLimit
//	FailIfThrottled          false        FailIfThrottled
//	MaxConnections           24           MaxConnections
//	RequestTimeout           6s           RequestTimeout
//	MaxBufferedRecords       200000       -
//	MaxBufferedBytes         128 MiB      -
//	ShardMapRefreshInterval  1m           -
//	RetryBackoff             100ms..5s    -
//	StrictOrdering           false        -
//	CompressZstd             false        -
package kpl
