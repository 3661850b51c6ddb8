package agent

import (
	"log/slog"
	"time"

	"github.com/shardwise/shardwise/internal/backoff"
	"github.com/shardwise/shardwise/kpl"
)

// An Option configures an Agent. New applies options in order and validates the result once.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// Defaults of the options.
const (
	DefaultCheckpointInterval = time.Second
	DefaultShutdownTimeout    = 10 * time.Second
	DefaultIdleFlush          = 5 * time.Second
	DefaultMaxRecordSize      = 1 << 20
	DefaultMaxPendingRecords  = 100_000
	// DefaultMaxBufferAge is a flow's maxBufferAgeMillis when agent.json leaves it out: how long
	// a record may wait to share a PutRecords (PutRecordBatch) call with the ones after it. One
	// second is the least the Kinesis Agent accepts (its default is a minute): a line is
	// delivered within about a second, and a slow log (ten lines a second) costs one call a
	// second instead of one per line. The wait is for lines still to come: when a flow has read
	// a backlog (at least maxBufferSizeRecords records or maxBufferSizeBytes since its files were
	// last all read to their end) and reached the end of every file, the records left waiting go
	// out at once (see the package documentation, Delivery and checkpoints).
	DefaultMaxBufferAge = time.Second
)

type options struct {
	logger             *slog.Logger
	checkpointInterval time.Duration
	shutdownTimeout    time.Duration
	idleFlush          time.Duration
	maxRecordSize      int
	maxPending         int
	producerOpts       []kpl.Option
	pollInterval       time.Duration // 0: each flow's minTimeBetweenFilePollsMillis
	retry              backoff.Policy
	hooks              []Hook
	firehose           FirehoseAPI // deliveryStream flows
	ec2Tags            EC2TagsAPI  // ADDEC2METADATA's ec2:DescribeTags
	pollOnly           bool        // never watch directories (tests of the polling path)
}

func defaultOptions() options {
	return options{
		logger:             slog.New(slog.DiscardHandler),
		checkpointInterval: DefaultCheckpointInterval,
		shutdownTimeout:    DefaultShutdownTimeout,
		idleFlush:          DefaultIdleFlush,
		maxRecordSize:      DefaultMaxRecordSize,
		maxPending:         DefaultMaxPendingRecords,
		retry:              backoff.Policy{Base: time.Second, Max: 30 * time.Second},
	}
}

func (o *options) validate() error {
	switch {
	case o.logger == nil:
		return configErr("", "WithLogger(nil)")
	case o.checkpointInterval <= 0:
		return configErr("", "CheckpointInterval %v must be positive", o.checkpointInterval)
	case o.shutdownTimeout <= 0:
		return configErr("", "ShutdownTimeout %v must be positive", o.shutdownTimeout)
	case o.idleFlush <= 0:
		return configErr("", "IdleFlush %v must be positive", o.idleFlush)
	case o.maxRecordSize < 1024 || o.maxRecordSize > 10<<20:
		return configErr("", "MaxRecordSize %d outside [1 KiB, 10 MiB]", o.maxRecordSize)
	case o.maxPending < 1:
		return configErr("", "MaxPendingRecords %d must be positive", o.maxPending)
	case o.pollInterval < 0:
		return configErr("", "PollInterval %v must not be negative", o.pollInterval)
	case o.retry.Base <= 0 || o.retry.Max < o.retry.Base:
		return configErr("", "RetryBackoff base %v, max %v: need 0 < base <= max", o.retry.Base, o.retry.Max)
	}
	return nil
}

// WithLogger sets the logger, overriding the default that discards everything.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(o *options) { o.logger = l }) }

// CheckpointInterval sets how often the checkpoint file is written when offsets moved, overriding
// the default 1s. It bounds what a crash re-sends: records delivered since the last write.
func CheckpointInterval(d time.Duration) Option {
	return optionFunc(func(o *options) { o.checkpointInterval = d })
}

// ShutdownTimeout bounds the flush when Run's context ends, overriding the default 10s. Records
// not delivered by then are not checkpointed and are sent again after a restart.
func ShutdownTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.shutdownTimeout = d })
}

// IdleFlush sets how long a file must stay unchanged before the agent sends its open multi-line
// record (no next start line came), overriding the default 5s.
func IdleFlush(d time.Duration) Option { return optionFunc(func(o *options) { o.idleFlush = d }) }

// MaxRecordSize sets the stream's maximum record size (data plus partition key), overriding the
// default 1 MiB; longer records are truncated and end with the flow's truncatedRecordTerminator.
func MaxRecordSize(n int) Option { return optionFunc(func(o *options) { o.maxRecordSize = n }) }

// MaxPendingRecords caps the records of a flow read but not yet checkpointed, overriding the
// default 100000; reading pauses at the cap.
func MaxPendingRecords(n int) Option { return optionFunc(func(o *options) { o.maxPending = n }) }

// PollInterval overrides every flow's minTimeBetweenFilePollsMillis (default 100ms).
func PollInterval(d time.Duration) Option { return optionFunc(func(o *options) { o.pollInterval = d }) }

// ProducerOptions adds kpl options to every flow's producer, after the ones the agent derives
// from the flow (RecordTTL(0), Linger, BatchMaxRecords, BatchMaxBytes, WithLogger).
func ProducerOptions(opts ...kpl.Option) Option {
	return optionFunc(func(o *options) { o.producerOpts = append(o.producerOpts, opts...) })
}

// RetryBackoff sets the jittered exponential backoff between the agent's own re-sends of records
// the producer gave up on (a request-level error such as a missing stream or denied access),
// overriding the default base 1s and max 30s. Such records are kept and sent again, never dropped.
func RetryBackoff(base, maxDelay time.Duration) Option {
	return optionFunc(func(o *options) { o.retry = backoff.Policy{Base: base, Max: maxDelay} })
}

// WithHooks adds hooks; see Hook. New rejects a hook implementing no hook interface.
func WithHooks(hs ...Hook) Option {
	return optionFunc(func(o *options) { o.hooks = append(o.hooks, hs...) })
}
