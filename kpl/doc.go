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
// routes it by its hash key (explicit hash key, sent in canonical decimal form, else MD5 of the
// partition key) to the shard that owns the key in the current shard map (ListShards with
// ShardFilter AT_LATEST; refreshed periodically, on wrong-shard results of calls routed by the
// current map and on ResourceNotFound). Each shard has an open KPL aggregate (AggregationMaxSize,
// AggregationMaxCount) sealed when full or after Linger; sealed Kinesis records queue per shard. A
// dispatcher goroutine starts PutRecords calls (≤ BatchMaxRecords entries, ≤ BatchMaxBytes, at most
// MaxConnections at once, one at a time per shard) while each shard's token bucket allows
// (RateLimit percent of 1 MiB/s and 1000 records/s; throttling lowers it, calls that were not
// throttled restore it).
//
// # Failures and retries
//
// Errors are classified once for the whole module (kpl, kcl and fan-out agree). Failed entries
// (ProvisionedThroughputExceededException, KMSThrottlingException, InternalFailure) and failed
// calls (5xx, timeouts, resets, throttling, and the 4xx that AWS documents as transient: the KMS
// key-state errors during key rotation, expired or not yet valid credentials, clock skew) go back
// to the front of their shard's queue. A shard whose call delivered some of its records retries the
// failed ones after the base backoff; a shard through which nothing got backs off exponentially
// (RetryBackoff). Other errors are terminal for the records concerned. A call that Kinesis refuses
// as invalid at request level (a record over the stream's size limit, a key the service rejects)
// is bisected until the offending records are alone: they fail with ErrInvalidRecord, the rest is
// delivered. The SDK is told to try each PutRecords once, so its retries never multiply the
// producer's. An attempt without an answer is given up after 4 times the recent longest answer, at
// least 2s, doubled per attempt in a row that timed out, at most RequestTimeout: a hung call holds
// its shard about 2s, not the whole RequestTimeout.
//
// # Backpressure and RecordTTL
//
// The buffer bound is the producer's backpressure: PutAsync waits for space (TryPutAsync fails
// with ErrMaxBuffered), so a caller producing faster than the stream takes is slowed down. RecordTTL
// is how long the producer keeps trying to deliver a record, counted from the record's first
// PutRecords attempt. A record still waiting to be sent does not expire merely for waiting behind
// other records of a shard that is delivering: it expires only when RecordTTL has passed both since
// its PutAsync and since its shard last delivered anything (or, waiting for a shard map, since the
// last map was loaded). (A record that joins an open aggregate counts its PutAsync from when the
// aggregate opened, at most Linger earlier: the producer reads the clock once per aggregate, not
// once per record, unless a HookRecordDone measures each record's latency.) So under a slow or
// partly failing stream records wait and callers block;
// when nothing gets through, records fail after RecordTTL instead of filling the buffer forever.
//
// # Stream settings and AUTO distribution
//
// DescribeStreamSummary is called at start, then every StreamDescribeInterval, after repeated
// wrong-shard results and after a record was refused as invalid; a failed call (the operation
// allows 20 calls per second per account) is retried in the background. Until an answer arrives
// records are not checked against a maximum size. It tells the stream's maximum record size and its
// record distribution: on a stream with service-managed distribution (AUTO) Kinesis ignores
// partition and hash keys and picks the shard itself, so the producer turns aggregation and shard
// prediction off (records go one per Kinesis record with their own partition key), uses one
// stream-wide rate limiter (RateLimit percent of the open shards' limits) with up to MaxConnections
// calls in flight, and never treats the receiving shard as wrong. The change is logged and reported
// to HookDistributionChanged, in both directions.
//
// # Without ListShards
//
// An IAM policy that grants only kinesis:PutRecords (the usual one for log shippers) denies
// ListShards and DescribeStreamSummary. The producer then sends without a shard map: each user
// record as its own Kinesis record from one stream-level queue, Kinesis routing by partition key,
// two calls in flight at once (at most MaxConnections); it logs the change once, reports it to
// HookDistributionChanged and lists again every ShardMapRefreshInterval, predicting again once that
// works. DisableShardPrediction asks for this mode from the start. Without a map the producer cannot
// tell shards apart: records of a hot key that Kinesis throttles are retried ahead of the others, so
// one hot shard slows the whole stream (measured: cold shards at about 1,500 instead of 4,700
// records/s with 30 % of the records on one key). Grant ListShards where keys are skewed.
//
// The two calls in flight keep each key's order: a record does not join a call while a record of
// its hash key is in the other (the call stops there; nothing passes it), and the calls in flight
// are consecutive (while the older of two is in flight, a third waits). Kinesis may apply the two
// in either order, so records of different keys that share a shard may be stored in the order of
// their calls swapped: a record can be passed by the records of the call after its own, never by
// later ones, unless it is resent. With StrictOrdering a call carries at most one record per hash
// key, so a failed record is resent before anything later of its key (records of other keys, of
// its shard too, may go first); without it a failed record may also be passed by later records of
// its key. Two calls overlap the producer's work with Kinesis's: the agent's
// BenchmarkAgentThroughput/default (kinesistest in the same process, 2 cores) ships about 1.4
// times the lines per second of one call at a time (runs alternated in pairs: 1.0 to 1.6). Where
// the round trip dominates (a distant endpoint) the gain should be nearer twice (not measured here).
//
// # Wrong shard
//
// When Kinesis stores an aggregate on a shard other than the predicted one (the stream was
// resharded), the map is refreshed; user records whose hash key lies in the receiving shard's range
// are reported delivered, the others (which a KCL consumer would drop) are re-aggregated and re-sent.
//
// # Ordering
//
// Records of one partition key are sent in Put order, and one call per shard is in flight (without
// a shard map, no two calls with a record of one hash key: see Without ListShards), so without
// retries they arrive in order. With StrictOrdering each call carries at most one Kinesis
// record per shard and a failed record is resent before anything later of its shard, so order also
// holds under throttling and faults (a call with an unknown outcome may still leave a duplicate,
// counted in Stats.AmbiguousRecords), and across reshards (below). So that one record per shard and
// call does not limit throughput, a shard that cannot send (its call in flight, a record queued
// before, backing off) keeps its open aggregate filling past Linger, up to AggregationMaxSize: the
// next call carries everything that arrived meanwhile (raise AggregationMaxSize for more per call).
// Across reshards, what a consumer reads of one key (parents before children, user records outside
// an aggregate's shard range dropped, as the KCL does) comes first in Put order. For that, a shard
// taking over keys of a shard that left the map sends nothing until the calls in flight to the old
// shard have an outcome; an aggregate that lands on a shard not owning all its user records (built
// from a map older than the reshard) holds the shards of those records until they are routed again;
// and records routed again go ahead of later records of their keys. Without StrictOrdering a
// reshard may reorder records whose aggregate landed on the wrong shard or whose call was in flight.
// On an AUTO stream, Kinesis itself spreads one key's records over shards: no order holds.
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
// The producer's defaults (the Default* constants hold the values):
//
//	option                   default                 Java KPL name
//	AggregationMaxSize       51200                   AggregationMaxSize
//	AggregationMaxCount      unlimited               AggregationMaxCount
//	DisableAggregation       (aggregation on)        AggregationEnabled
//	BatchMaxRecords          500                     CollectionMaxCount
//	BatchMaxBytes            5 MiB (at most 10 MiB)  CollectionMaxSize
//	Linger                   100ms                   RecordMaxBufferedTime
//	RecordTTL                30s (0: never expire)   RecordTtl
//	RateLimit                150 (%)                 RateLimit
//	FailIfThrottled          false                   FailIfThrottled
//	MaxConnections           24                      MaxConnections
//	RequestTimeout           6s (the cap of the      RequestTimeout
//	                         adaptive attempt timeout: 4 x the recent longest answer, at least 2s)
//	MaxBufferedRecords       200000                  -
//	MaxBufferedBytes         128 MiB                 -
//	ShardMapRefreshInterval  1m                      -
//	StreamDescribeInterval   5m                      -
//	RetryBackoff             100ms..5s               -
//	StrictOrdering           false                   -
//	CompressZstd             false                   -
//	DisableShardPrediction   false (on by itself     -
//	                         while ListShards is denied)
package kpl
