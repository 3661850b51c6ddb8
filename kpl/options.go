package kpl

import (
	"log/slog"
	"time"
)

// An Option configures a Producer. Options are created by the functions below only; New applies them
// in any order and validates the result once.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// Defaults, mirroring the Java KPL where it has a setting.
const (
	DefaultAggregationMaxSize = 51200
	DefaultBatchMaxRecords    = 500
	DefaultBatchMaxBytes      = 5 << 20
	DefaultLinger             = 100 * time.Millisecond
	DefaultRecordTTL          = 30 * time.Second
	DefaultRateLimit          = 150
	DefaultMaxConnections     = 24
	DefaultRequestTimeout     = 6 * time.Second
	DefaultMaxBufferedRecords = 200_000
	DefaultMaxBufferedBytes   = 128 << 20
	DefaultShardMapRefresh    = time.Minute
	DefaultStreamDescribe     = 5 * time.Minute

	maxRequestBytes  = 10 << 20 // Kinesis's PutRecords request limit today
	maxBatchRecords  = 500
	shardBytesPerSec = 1 << 20 // per-shard write limit
	shardRecsPerSec  = 1000
)

type config struct {
	aggregate          bool
	aggMaxSize         int
	aggMaxCount        int
	batchMaxRecords    int
	batchMaxBytes      int
	linger             time.Duration
	ttl                time.Duration // 0: never expire
	rateLimit          int           // percent
	failIfThrottled    bool
	strictOrdering     bool
	maxConns           int
	requestTimeout     time.Duration
	maxBufRecords      int
	maxBufBytes        int64
	refreshInterval    time.Duration
	compress           bool
	backoffBase        time.Duration
	backoffMax         time.Duration
	logger             *slog.Logger
	hooks              []Hook
	maxRecordSizeFixed int // 0: ask DescribeStreamSummary
	describeInterval   time.Duration
	noPredict          bool
}

func defaultConfig() config {
	return config{
		aggregate:        true,
		aggMaxSize:       DefaultAggregationMaxSize,
		batchMaxRecords:  DefaultBatchMaxRecords,
		batchMaxBytes:    DefaultBatchMaxBytes,
		linger:           DefaultLinger,
		ttl:              DefaultRecordTTL,
		rateLimit:        DefaultRateLimit,
		maxConns:         DefaultMaxConnections,
		requestTimeout:   DefaultRequestTimeout,
		maxBufRecords:    DefaultMaxBufferedRecords,
		maxBufBytes:      DefaultMaxBufferedBytes,
		refreshInterval:  DefaultShardMapRefresh,
		describeInterval: DefaultStreamDescribe,
		backoffBase:      100 * time.Millisecond,
		backoffMax:       5 * time.Second,
		logger:           slog.New(slog.DiscardHandler),
	}
}

func (c *config) validate() error {
	switch {
	case c.aggMaxSize < 21 || c.aggMaxSize > 10<<20:
		return invalidConfig("AggregationMaxSize %d outside [21, 10 MiB]", c.aggMaxSize)
	case c.aggMaxCount < 0:
		return invalidConfig("AggregationMaxCount %d is negative", c.aggMaxCount)
	case c.batchMaxRecords < 1 || c.batchMaxRecords > maxBatchRecords:
		return invalidConfig("BatchMaxRecords %d outside [1, 500]", c.batchMaxRecords)
	case c.batchMaxBytes < 1 || c.batchMaxBytes > maxRequestBytes:
		return invalidConfig("BatchMaxBytes %d outside [1, 10 MiB]", c.batchMaxBytes)
	case c.linger < 0:
		return invalidConfig("Linger %v is negative", c.linger)
	case c.ttl < 0:
		return invalidConfig("RecordTTL %v is negative", c.ttl)
	case c.rateLimit < 0 || c.rateLimit > 100000:
		return invalidConfig("RateLimit %d%% outside [0, 100000]", c.rateLimit)
	case c.maxConns < 1 || c.maxConns > 1024:
		return invalidConfig("MaxConnections %d outside [1, 1024]", c.maxConns)
	case c.requestTimeout <= 0:
		return invalidConfig("RequestTimeout %v must be positive", c.requestTimeout)
	case c.maxBufRecords < 1:
		return invalidConfig("MaxBufferedRecords %d must be positive", c.maxBufRecords)
	case c.maxBufBytes < 1:
		return invalidConfig("MaxBufferedBytes %d must be positive", c.maxBufBytes)
	case c.refreshInterval <= 0:
		return invalidConfig("ShardMapRefreshInterval %v must be positive", c.refreshInterval)
	case c.describeInterval <= 0:
		return invalidConfig("StreamDescribeInterval %v must be positive", c.describeInterval)
	case c.backoffBase <= 0 || c.backoffMax < c.backoffBase:
		return invalidConfig("RetryBackoff base %v, max %v: need 0 < base <= max", c.backoffBase, c.backoffMax)
	case c.logger == nil:
		return invalidConfig("WithLogger(nil)")
	case c.maxRecordSizeFixed < 0 || c.maxRecordSizeFixed > 10<<20:
		return invalidConfig("MaxRecordSize %d outside [0, 10 MiB]", c.maxRecordSizeFixed)
	}
	return nil
}

// AggregationMaxSize sets the largest aggregated Kinesis record in bytes (magic and checksum
// included), overriding the default 51200 (KPL AggregationMaxSize).
func AggregationMaxSize(n int) Option { return optionFunc(func(c *config) { c.aggMaxSize = n }) }

// AggregationMaxCount caps the user records per aggregated Kinesis record, overriding the default
// 0 (no cap besides AggregationMaxSize; KPL AggregationMaxCount).
func AggregationMaxCount(n int) Option { return optionFunc(func(c *config) { c.aggMaxCount = n }) }

// DisableAggregation sends every user record as its own Kinesis record (KPL AggregationEnabled
// false). Aggregation is on by default.
func DisableAggregation() Option { return optionFunc(func(c *config) { c.aggregate = false }) }

// BatchMaxRecords sets the most Kinesis records per PutRecords call, overriding the default 500
// (KPL CollectionMaxCount; 500 is also the Kinesis limit).
func BatchMaxRecords(n int) Option { return optionFunc(func(c *config) { c.batchMaxRecords = n }) }

// BatchMaxBytes sets the most bytes (data plus partition keys) per PutRecords call, overriding the
// default 5 MiB (KPL CollectionMaxSize). Kinesis accepts up to 10 MiB today.
func BatchMaxBytes(n int) Option { return optionFunc(func(c *config) { c.batchMaxBytes = n }) }

// Linger sets how long a record may wait for others to share its aggregate, overriding the default
// 100ms (KPL RecordMaxBufferedTime). Put, Flush and full aggregates skip it. 0 disables waiting.
func Linger(d time.Duration) Option { return optionFunc(func(c *config) { c.linger = d }) }

// RecordTTL sets how long the producer tries to deliver a record before failing it with
// ErrRecordExpired, overriding the default 30s (KPL RecordTtl). 0 means retry until Close.
func RecordTTL(d time.Duration) Option { return optionFunc(func(c *config) { c.ttl = d }) }

// RateLimit sets the per-shard send rate as a percentage of the shard limits (1 MiB/s and 1000
// records/s), overriding the default 150 (KPL RateLimit). Throttling lowers it adaptively. 0 turns
// client-side rate limiting off (for servers without limits, such as kinesistest by default).
func RateLimit(percent int) Option { return optionFunc(func(c *config) { c.rateLimit = percent }) }

// FailIfThrottled fails records with ErrThrottled when Kinesis throttles them
// (ProvisionedThroughputExceededException, KMSThrottlingException, or a request-level throttling
// answer) instead of retrying them (KPL FailIfThrottled, default false).
func FailIfThrottled() Option { return optionFunc(func(c *config) { c.failIfThrottled = true }) }

// StrictOrdering keeps per-key order under retries, wrong-shard results and reshards: each
// PutRecords call carries at most one Kinesis record per shard, one call per shard is in flight, a
// failed record is resent before any later record of its shard, and after a reshard the new shards
// wait for the old shards' calls in flight (see the package doc, Ordering); without a shard map,
// where shards are unknown, it is one record per hash key and call, resent before any later record
// of its key (see Without ListShards). A record may be duplicated (a call with an unknown
// outcome), never read after a later record of its key. It costs throughput when aggregation is
// disabled. Default off (order holds without retries and reshards even then).
func StrictOrdering() Option { return optionFunc(func(c *config) { c.strictOrdering = true }) }

// MaxConnections caps concurrent PutRecords calls, overriding the default 24 (KPL MaxConnections).
func MaxConnections(n int) Option { return optionFunc(func(c *config) { c.maxConns = n }) }

// RequestTimeout bounds each PutRecords attempt, overriding the default 6s (KPL RequestTimeout).
// Within it an attempt gets 4 times the recent longest answer, at least 2s, doubled after each
// attempt in a row that timed out: a hung call (no answer at all) holds its shard about 2s when
// calls usually answer in under half a second, instead of the whole RequestTimeout.
func RequestTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.requestTimeout = d })
}

// MaxBufferedRecords caps user records held (queued or in flight), overriding the default 200000.
// PutAsync waits for space; TryPutAsync fails with ErrMaxBuffered.
func MaxBufferedRecords(n int) Option { return optionFunc(func(c *config) { c.maxBufRecords = n }) }

// MaxBufferedBytes caps the producer's memory, overriding the default 128 MiB. It covers the user
// records held (queued, in open aggregates or in flight: data and partition key, plus 448 bytes of
// bookkeeping, plus with aggregation their encoded copy in the aggregate counted at 1.25 times their
// size), which may use three quarters of it (PutAsync waits beyond, see Stats.BufferedBytes), and the
// requests in flight (each Kinesis record's payload and request body, counted at four times its
// size), which get the last quarter (one request may always start; see Stats.InFlightBytes). A
// single record larger than the cap is admitted when nothing else is buffered. Measured: with a
// 64 MiB cap and 1 KiB records at full speed, the live heap stays within what the process held
// before plus the cap plus 16 MiB (BenchmarkProducerMemory1KiB: 63-73 MiB above the start; objects
// allocated while a collection marks count as live). The Go heap grows past its live size between
// collections: set GOMEMLIMIT (or debug.SetMemoryLimit) about 16 MiB above the cap plus the rest of
// the program's memory to keep the resident size near it.
func MaxBufferedBytes(n int64) Option { return optionFunc(func(c *config) { c.maxBufBytes = n }) }

// ShardMapRefreshInterval sets the period (±20% jitter) of shard-map refreshes, overriding the
// default 1m. Wrong-shard results and ResourceNotFound refresh it at once in any case.
func ShardMapRefreshInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.refreshInterval = d })
}

// DisableShardPrediction sends without a shard map: the producer never calls ListShards, and every
// user record goes as its own Kinesis record (aggregation off, whatever AggregationMaxSize says)
// from one stream-level queue, two calls in flight at once that never share a hash key, so that
// each key keeps its order (see the package doc, Without ListShards), Kinesis routing it by its
// partition key. The client-side rate limit covers the stream's open
// shards when DescribeStreamSummary tells their count, and is off otherwise. This is what an IAM
// policy granting only kinesis:PutRecords allows; the producer also falls back to it by itself
// when ListShards is denied (AccessDeniedException), and returns to prediction once a listing
// succeeds.
func DisableShardPrediction() Option { return optionFunc(func(c *config) { c.noPredict = true }) }

// StreamDescribeInterval sets the period (±20% jitter) at which DescribeStreamSummary is called
// again to learn the stream's maximum record size and record distribution, overriding the default
// 5m. Failed calls (e.g. throttled: the operation allows 20 calls per second per account) are
// retried with backoff from 1s to 30s; repeated wrong-shard results describe the stream at once
// (at most every 5s).
func StreamDescribeInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.describeInterval = d })
}

// RetryBackoff sets the per-shard jittered exponential backoff after failed attempts, overriding
// the default base 100ms and max 5s.
func RetryBackoff(base, maxDelay time.Duration) Option {
	return optionFunc(func(c *config) { c.backoffBase, c.backoffMax = base, maxDelay })
}

// CompressZstd compresses each Kinesis record's payload with zstd when that makes it smaller,
// framed as package compression describes. Off by default: only Shardwise consumers (or those
// using package compression) can read such records.
func CompressZstd() Option { return optionFunc(func(c *config) { c.compress = true }) }

// MaxRecordSize fixes the stream's maximum record size in bytes instead of asking
// DescribeStreamSummary (default: asked; until an answer arrives, records are not checked against
// a size and the stream is the judge: a record it refuses fails alone, see the package doc).
func MaxRecordSize(n int) Option { return optionFunc(func(c *config) { c.maxRecordSizeFixed = n }) }

// WithLogger sets the logger, overriding the default that discards everything.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithHooks adds hooks; see Hook. New rejects a hook implementing no hook interface.
func WithHooks(hooks ...Hook) Option {
	return optionFunc(func(c *config) { c.hooks = append(c.hooks, hooks...) })
}
