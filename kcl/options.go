package kcl

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/shardwise/shardwise/lease"
)

// Defaults, named after the Java KCL settings they mirror.
const (
	DefaultPollInterval           = time.Second     // KCL idleTimeBetweenReadsInMillis is 1500; 1 s here
	DefaultMaxRecordsPerPoll      = 10000           // KCL maxRecords; the GetRecords maximum
	DefaultPrefetch               = 3               // KCL maxPendingProcessRecordsInput
	DefaultShardSyncInterval      = time.Minute     // KCL shardSyncIntervalMillis
	DefaultParentPollInterval     = time.Second     // KCL parentShardPollIntervalMillis is 10 s
	DefaultMaxThrottleBackoff     = 5 * time.Second // cap of the GetRecords throttling backoff
	DefaultMaxLeasesToStealAtOnce = 2               // KCL maxLeasesToStealAtOneTime is 1
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
	retryBackoff       time.Duration // first delay of processor retries (ProcessRecords, Initialize, Shutdown)
	efoConsumer        string        // EnhancedFanOut consumer name; "" polls
	efoDeregister      bool          // DeregisterConsumerOnShutdown
	logger             *slog.Logger
	hooks              []Hook
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
		retryBackoff:       100 * time.Millisecond,
		logger:             slog.New(slog.DiscardHandler),
	}
}

// StartAt sets where processing starts on shards that have no checkpoint yet: TrimHorizon, Latest or
// AtTimestamp(t). Checkpointed shards always resume from their checkpoint. With Latest only the open
// shards at the tip of the stream get leases initially (the Java KCL rule); with TrimHorizon and
// AtTimestamp the oldest shards of the retained lineage do, and descendants follow. Overrides the default
// TrimHorizon.
func StartAt(p Position) Option { return optionFunc(func(c *config) { c.start = p }) }

// PollInterval sets the wait between GetRecords calls of a shard that is at the tip of the stream (a
// shard behind the tip is polled every 200 ms, the per-shard limit of 5 calls per second). It must be at
// least 200 ms. Overrides the default 1s.
func PollInterval(d time.Duration) Option { return optionFunc(func(c *config) { c.pollInterval = d }) }

// MaxRecordsPerPoll sets the Limit of each GetRecords call, 1..10000. Overrides the default 10000.
func MaxRecordsPerPoll(n int) Option { return optionFunc(func(c *config) { c.maxRecords = n }) }

// Prefetch sets how many GetRecords batches per shard may wait for the processor (bounded memory:
// Prefetch × 10 MiB per shard at most). Overrides the default 3.
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

// WithLogger sets the logger. Lifecycle events (lease taken/lost/released, shard ended, start/stop) are
// logged at Info, throttling, retries and corrupt records at Warn, batches at Debug; record data is never
// logged. Overrides the default: a logger that discards everything.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithHooks registers hooks (see [Hook]); it may be given more than once. A value implementing none of
// the hook interfaces makes NewWorker fail.
func WithHooks(hs ...Hook) Option {
	return optionFunc(func(c *config) { c.hooks = append(c.hooks, hs...) })
}

// withRetryBackoff is for tests: the first delay of processor retries.
func withRetryBackoff(d time.Duration) Option {
	return optionFunc(func(c *config) { c.retryBackoff = d })
}

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
	case c.shardSyncInterval <= 0:
		return fmt.Errorf("%w: ShardSyncInterval %v must be positive", ErrInvalidConfig, c.shardSyncInterval)
	case c.parentPollInterval <= 0:
		return fmt.Errorf("%w: ParentPollInterval %v must be positive", ErrInvalidConfig, c.parentPollInterval)
	case c.logger == nil:
		return fmt.Errorf("%w: nil logger", ErrInvalidConfig)
	}
	return nil
}
