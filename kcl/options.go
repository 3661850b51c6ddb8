package kcl

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/shardwise/shardwise/internal/leasecoord"
	"github.com/shardwise/shardwise/lease"
)

// Defaults, named after the Java KCL settings they mirror.
const (
	DefaultPollInterval        = 1500 * time.Millisecond // KCL idleTimeBetweenReadsInMillis
	DefaultMaxRecordsPerPoll   = 10000                   // KCL maxRecords; the GetRecords maximum
	DefaultPrefetch            = 3                       // KCL maxPendingProcessRecordsInput
	DefaultPrefetchBytes       = 8 << 20                 // KCL maxByteSize (SimpleRecordsFetcherFactory)
	DefaultWorkerPrefetchBytes = 256 << 20               // no KCL equivalent: a bound for the whole worker
	DefaultCallTimeout         = 30 * time.Second        // KCL kinesisRequestTimeout
	DefaultMaxRegisterRefusals = 10                      // LimitExceededException answers to fan-out registration
	DefaultShardSyncInterval   = time.Minute             // KCL shardSyncIntervalMillis
	DefaultParentPollInterval  = time.Second             // KCL parentShardPollIntervalMillis is 10 s
	DefaultMaxThrottleBackoff  = 5 * time.Second         // cap of the GetRecords throttling backoff
)

// An Option configures a Worker. Options are made only by the functions of this package; NewWorker
// applies them in any order and validates them once.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	start              Position
	pollInterval       time.Duration
	maxRecords         int
	prefetch           int
	shardSyncInterval  time.Duration
	parentPollInterval time.Duration
	maxThrottleBackoff time.Duration
	catchUpInterval    time.Duration // 0: always wait pollInterval between calls
	readRate           int64         // bytes per second a shard is paced to; 0: no byte pacing
	prefetchBytes      int64
	workerPrefetch     int64
	callTimeout        time.Duration
	registerRefusals   int
	retryBackoff       time.Duration // first delay of processor retries (ProcessRecords, Initialize, Shutdown)
	efoConsumer        string        // EnhancedFanOut consumer name; "" polls
	efoConsumerARN     string        // EnhancedFanOutARN: an existing consumer; nothing is registered
	efoDeregister      bool          // DeregisterConsumerOnShutdown
	deliverEmpty       bool          // DeliverEmptyBatches
	keepFinished       bool          // KeepFinishedLeases
	logger             *slog.Logger
	hooks              []Hook
	fleet              leasecoord.Config // lease renewals and take rounds (fleet timing)
}

func defaultConfig() config {
	return config{
		start:              TrimHorizon,
		pollInterval:       DefaultPollInterval,
		maxRecords:         DefaultMaxRecordsPerPoll,
		prefetch:           DefaultPrefetch,
		shardSyncInterval:  DefaultShardSyncInterval,
		parentPollInterval: DefaultParentPollInterval,
		maxThrottleBackoff: DefaultMaxThrottleBackoff,
		prefetchBytes:      DefaultPrefetchBytes,
		readRate:           shardReadRate,
		workerPrefetch:     DefaultWorkerPrefetchBytes,
		callTimeout:        DefaultCallTimeout,
		registerRefusals:   DefaultMaxRegisterRefusals,
		retryBackoff:       100 * time.Millisecond,
		logger:             slog.New(slog.DiscardHandler),
	}
}

// StartAt sets where processing starts on shards that have no checkpoint yet: TrimHorizon, Latest or
// AtTimestamp(t). Checkpointed shards always resume from their checkpoint. With Latest only the open
// shards at the tip of the stream get leases initially (the Java KCL rule); with TrimHorizon and
// AtTimestamp the oldest shards of the retained lineage do, and descendants follow. A lease whose
// checkpoint is AT_TIMESTAMP (what a Java application started at a timestamp writes) is read from the
// time given here: without StartAt(AtTimestamp(t)) Run stops with ErrInvalidConfig rather than read it
// from TRIM_HORIZON. Overrides the default TrimHorizon.
func StartAt(p Position) Option { return optionFunc(func(c *config) { c.start = p }) }

// PollInterval sets the idle time between the GetRecords calls of a shard (the Java KCL's
// idleTimeBetweenReadsInMillis): the 5 reads per second and 2 MiB/s of a shard are shared with every
// other application reading it (Lambda, Firehose, other KCL applications), so the worker leaves them
// most of it. The wait is never shorter than the shard's byte budget asks for: after an answer of n
// bytes the next call waits n / 2 MiB/s (5 s after a 10 MiB answer, when Kinesis would refuse every
// read of the shard). It must be at least 200 ms. Overrides the default 1.5s.
func PollInterval(d time.Duration) Option { return optionFunc(func(c *config) { c.pollInterval = d }) }

// CatchUpInterval opts into catch-up mode: while a shard is behind the tip of the stream (its last
// answer had records and MillisBehindLatest > 0) it is polled every d instead of every PollInterval,
// still paced by bytes (2 MiB/s). d must be at least 200 ms (the 5 calls per second of a shard); at
// 200 ms the worker takes the shard's whole read budget and other applications reading the shard are
// throttled. Overrides the default: off (every call waits PollInterval).
func CatchUpInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.catchUpInterval = d })
}

// ShardReadRate sets the read throughput, in bytes per second, GetRecords calls are paced to: after an
// answer of n bytes the next call of the shard waits at least n / rate. 0 turns byte pacing off, for
// engines without Kinesis's limits (benchmarks on kinesistest). Overrides the default 2 MiB/s, a
// Kinesis shard's read throughput.
func ShardReadRate(bytesPerSecond int64) Option {
	return optionFunc(func(c *config) { c.readRate = bytesPerSecond })
}

// CallTimeout bounds each Kinesis call of the worker (GetRecords, GetShardIterator, ListShards,
// DescribeStreamSummary, RegisterStreamConsumer, DescribeStreamConsumer, and SubscribeToShard until
// its event stream opens); a call that times out is retried like any transient failure, so a call
// that is never answered costs one timeout instead of stalling its shard while the lease keeps being
// renewed. Overrides the default 30s (the Java KCL's kinesisRequestTimeout).
func CallTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.callTimeout = d }) }

// PrefetchBytes bounds the bytes of fetched records waiting for the processor of one shard: the next
// GetRecords call is made only while less than n bytes wait (the Java KCL's maxByteSize). One answer
// (at most 10 MiB) may take a shard past n. It applies to polling; with EnhancedFanOut at most
// Prefetch events wait and HTTP/2 flow control holds Kinesis back. Overrides the default 8 MiB.
func PrefetchBytes(n int64) Option { return optionFunc(func(c *config) { c.prefetchBytes = n }) }

// WorkerPrefetchBytes bounds the bytes of fetched records held by the whole worker, waiting or being
// processed, GetRecords calls in flight included (each reserves 24 MiB until answered: the body of a
// 10 MiB answer and its decoded records), so a worker catching up on many shards holds a bounded
// amount whatever their number; shards wait for room before polling. The worker's peak RSS stays
// within 1.5 × the bound + 32 MiB (BenchmarkPrefetchRSS: 100 shards of 1 MiB records caught up from
// TRIM_HORIZON; figures in the README). It must be at least 24 MiB. Overrides the default 256 MiB.
func WorkerPrefetchBytes(n int64) Option { return optionFunc(func(c *config) { c.workerPrefetch = n }) }

// MaxRecordsPerPoll sets the Limit of each GetRecords call, 1..10000. Overrides the default 10000.
func MaxRecordsPerPoll(n int) Option { return optionFunc(func(c *config) { c.maxRecords = n }) }

// Prefetch sets how many GetRecords batches (or fan-out events) per shard may wait for the processor;
// PrefetchBytes and WorkerPrefetchBytes bound them in bytes. Overrides the default 3.
func Prefetch(n int) Option { return optionFunc(func(c *config) { c.prefetch = n }) }

// ShardSyncInterval sets how often the fleet lists the stream's shards and creates leases for new
// ones; one worker at a time does it (see the package doc). Child shards of a shard that ends on this
// worker get their leases at once regardless. Overrides the default 1m.
func ShardSyncInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.shardSyncInterval = d })
}

// ParentPollInterval sets how often a child shard whose parents are not finished re-reads their leases.
// Overrides the default 1s (the Java KCL uses 10 s).
func ParentPollInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.parentPollInterval = d })
}

// RenewInterval sets how often the worker renews the leases it holds. It must be shorter than the
// lease Manager's failover time (lease.Failover); a third of it leaves two more attempts before others
// may take a lease. Overrides the default Failover/3.
func RenewInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.fleet.RenewInterval = d })
}

// TakeInterval sets how often the worker scans the lease table and takes or steals leases. A shorter
// interval finds dead workers sooner (their leases are taken at most Failover + 2 × TakeInterval after
// their last renewal) at the price of one table scan per interval. Overrides the default 2 × Failover
// (the Java KCL's take cycle).
func TakeInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.fleet.TakeInterval = d })
}

// RenewTimeout bounds each renewal call, SDK retries included, so a slow table cannot keep a renewal
// running past the lease's expiry; every other write to a held lease (checkpoints, release) is bounded
// by it too, and a renewal waits at most this long for such a write in progress. It must be shorter
// than the failover time. Overrides the default Failover/4.
func RenewTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.fleet.RenewTimeout = d })
}

// MaxLeasesToStealAtOnce caps how many leases one take round steals from other live workers (expired
// and unowned leases are not capped by it). Overrides the default 2; the Java KCL's default
// (maxLeasesToStealAtOneTime) is 1, which makes a joining worker need one take cycle per lease.
func MaxLeasesToStealAtOnce(n int) Option {
	return optionFunc(func(c *config) { c.fleet.MaxLeasesToStealAtOnce, c.fleet.MaxStealSet = n, true })
}

// MaxLeasesForWorker caps how many leases this worker holds; leases beyond every worker's cap stay
// unprocessed. Overrides the default: unlimited (KCL maxLeasesForWorker).
func MaxLeasesForWorker(n int) Option {
	return optionFunc(func(c *config) { c.fleet.MaxLeasesForWorker = n })
}

// WithLogger sets the logger. Lifecycle events (lease taken/lost/released, shard ended, start/stop) are
// logged at Info, throttling, retries and corrupt records at Warn, batches at Debug; record data is never
// logged. Overrides the default: a logger that discards everything.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithHooks registers hooks (see [Hook]); it may be given more than once. A value implementing none of
// the hook interfaces makes NewWorker fail.
func WithHooks(hs ...Hook) Option {
	return optionFunc(func(c *config) { c.hooks = append(c.hooks, hs...) })
}

// MaxRegisterRefusals sets how many LimitExceededException answers to the EnhancedFanOut consumer's
// registration the worker takes (each logged at Warn and reported to HookConsumerRegistration) before
// Run stops with ErrConsumerRegistration. Overrides the default 10.
func MaxRegisterRefusals(n int) Option { return optionFunc(func(c *config) { c.registerRefusals = n }) }

// RetryBackoff sets the first delay before a processor call that returned an error (Initialize,
// ProcessRecords, Shutdown(ShardEnded)) is made again; the delay doubles with each failure in a row up
// to 10s (the Java KCL's taskBackoffTimeMillis, whose default is 500 ms). It must be positive.
// Overrides the default 100ms.
func RetryBackoff(d time.Duration) Option {
	return optionFunc(func(c *config) { c.retryBackoff = d })
}

// DeliverEmptyBatches makes the worker call ProcessRecords with zero records for every GetRecords
// answer (or fan-out event) without records, so a processor that buffers can flush or checkpoint on an
// idle shard (the Java KCL's callProcessRecordsEvenForEmptyRecordList). Overrides the default: only
// batches with records are delivered.
func DeliverEmptyBatches() Option { return optionFunc(func(c *config) { c.deliverEmpty = true }) }

// KeepFinishedLeases keeps the leases of finished shards (checkpoint SHARD_END) in the lease table
// instead of deleting them once their children have progressed (the Java KCL's
// cleanupLeasesUponShardCompletion = false). Overrides the default: finished leases are deleted.
func KeepFinishedLeases() Option { return optionFunc(func(c *config) { c.keepFinished = true }) }

func (c *config) validate() error {
	switch {
	case c.start != TrimHorizon && c.start != Latest &&
		!(c.start.SequenceNumber == lease.AtTimestamp && !c.start.timestamp.IsZero()):
		return fmt.Errorf("%w: StartAt(%v): want TrimHorizon, Latest or AtTimestamp(t)", ErrInvalidConfig, c.start)
	case c.pollInterval < minPollInterval:
		return fmt.Errorf("%w: PollInterval %v is below the 200ms minimum", ErrInvalidConfig, c.pollInterval)
	case c.maxRecords < 1 || c.maxRecords > DefaultMaxRecordsPerPoll:
		return fmt.Errorf("%w: MaxRecordsPerPoll %d is not in 1..10000", ErrInvalidConfig, c.maxRecords)
	case c.prefetch < 1:
		return fmt.Errorf("%w: Prefetch %d must be at least 1", ErrInvalidConfig, c.prefetch)
	case c.catchUpInterval != 0 && c.catchUpInterval < minPollInterval:
		return fmt.Errorf("%w: CatchUpInterval %v is below the 200ms minimum", ErrInvalidConfig, c.catchUpInterval)
	case c.readRate < 0:
		return fmt.Errorf("%w: ShardReadRate %d must not be negative", ErrInvalidConfig, c.readRate)
	case c.prefetchBytes < 1:
		return fmt.Errorf("%w: PrefetchBytes %d must be positive", ErrInvalidConfig, c.prefetchBytes)
	case c.workerPrefetch < callReserve:
		return fmt.Errorf("%w: WorkerPrefetchBytes %d is below 24 MiB (one GetRecords call)", ErrInvalidConfig, c.workerPrefetch)
	case c.callTimeout <= 0:
		return fmt.Errorf("%w: CallTimeout %v must be positive", ErrInvalidConfig, c.callTimeout)
	case c.registerRefusals < 1:
		return fmt.Errorf("%w: MaxRegisterRefusals %d must be at least 1", ErrInvalidConfig, c.registerRefusals)
	case c.shardSyncInterval <= 0:
		return fmt.Errorf("%w: ShardSyncInterval %v must be positive", ErrInvalidConfig, c.shardSyncInterval)
	case c.parentPollInterval <= 0:
		return fmt.Errorf("%w: ParentPollInterval %v must be positive", ErrInvalidConfig, c.parentPollInterval)
	case c.efoConsumerARN != "" && !strings.Contains(c.efoConsumerARN, "/consumer/"):
		return fmt.Errorf("%w: EnhancedFanOutARN %q is not a stream consumer ARN", ErrInvalidConfig, c.efoConsumerARN)
	case c.retryBackoff <= 0:
		return fmt.Errorf("%w: RetryBackoff %v must be positive", ErrInvalidConfig, c.retryBackoff)
	case c.logger == nil:
		return fmt.Errorf("%w: nil logger", ErrInvalidConfig)
	}
	return nil
}
