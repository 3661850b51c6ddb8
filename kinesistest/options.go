package kinesistest

import (
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Option configures a [Server]. Options are made by the functions of this package only.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	addr                 string
	virtual              bool
	seeds                []seedStream
	allowRemote          bool
	tls                  bool
	clock                func() time.Time
	limits               bool
	maxRequestBytes      int
	iteratorTTL          time.Duration
	subscriptionDuration time.Duration
	faults               FaultConfig
	region               string
	account              string
	logger               *slog.Logger
	distribution         string
	listShardsPage       int
}

func defaultConfig() config {
	return config{
		addr:                 "127.0.0.1:0",
		clock:                time.Now,
		maxRequestBytes:      5 << 20,
		iteratorTTL:          5 * time.Minute,
		subscriptionDuration: 5 * time.Minute,
		region:               "us-east-1",
		account:              "000000000000",
		logger:               slog.New(slog.DiscardHandler),
		listShardsPage:       defaultListShardsLimit,
	}
}

func (c *config) validate() error {
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil && !c.virtual {
		return fmt.Errorf("kinesistest: %w: address %q: %v", ErrInvalidConfig, c.addr, err)
	}
	if !c.allowRemote && !c.virtual {
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("kinesistest: %w: address %q is not loopback (use AllowNonLoopback to serve it)", ErrInvalidConfig, c.addr)
		}
	}
	if c.clock == nil {
		return fmt.Errorf("kinesistest: %w: nil clock", ErrInvalidConfig)
	}
	if c.maxRequestBytes <= 0 {
		return fmt.Errorf("kinesistest: %w: request size limit %d must be positive", ErrInvalidConfig, c.maxRequestBytes)
	}
	if c.iteratorTTL <= 0 || c.subscriptionDuration <= 0 {
		return fmt.Errorf("kinesistest: %w: iterator TTL and subscription duration must be positive", ErrInvalidConfig)
	}
	if r := c.faults.Rate; r < 0 || r > 1 {
		return fmt.Errorf("kinesistest: %w: fault rate %v outside [0, 1]", ErrInvalidConfig, r)
	}
	if r := c.faults.EntryRate; r < 0 || r > 1 {
		return fmt.Errorf("kinesistest: %w: entry fault rate %v outside [0, 1]", ErrInvalidConfig, r)
	}
	if c.listShardsPage < 1 || c.listShardsPage > defaultListShardsLimit {
		return fmt.Errorf("kinesistest: %w: ListShards page limit %d outside 1..%d", ErrInvalidConfig, c.listShardsPage, defaultListShardsLimit)
	}
	switch c.distribution {
	case "", RecordDistributionUserPartitionKey, RecordDistributionAuto:
	default:
		return fmt.Errorf("kinesistest: %w: record distribution strategy %q (want %s or %s)", ErrInvalidConfig, c.distribution, RecordDistributionUserPartitionKey, RecordDistributionAuto)
	}
	if c.logger == nil {
		return fmt.Errorf("kinesistest: %w: nil logger", ErrInvalidConfig)
	}
	return nil
}

// Addr sets the address to listen on, overriding the default "127.0.0.1:0" (a random loopback port).
// Addresses that are not loopback are refused unless [AllowNonLoopback] is also given.
func Addr(hostPort string) Option {
	return optionFunc(func(c *config) { c.addr = hostPort })
}

// AllowNonLoopback lets [Addr] name a non-loopback address. The server has no authentication: anyone
// who can reach it can read and write every stream. Off by default.
func AllowNonLoopback() Option {
	return optionFunc(func(c *config) { c.allowRemote = true })
}

// TLS serves HTTPS (HTTP/2 by ALPN, and HTTP/1.1) with a self-signed certificate for 127.0.0.1,
// localhost and the [VirtualNetwork]'s host, made when the server starts. Trust it with [Server.CertPool], [Server.CertPEM] or use
// [Server.Client]. Off by default: the server speaks plain HTTP/1.1 and h2c (HTTP/2 prior knowledge).
func TLS() Option {
	return optionFunc(func(c *config) { c.tls = true })
}

// Clock sets the clock the server reads for arrival timestamps, retention, iterator expiry, rate
// limits and shard timestamps, overriding time.Now. A [ManualClock]'s Now method lets tests move time
// deterministically. Subscription lifetimes and heartbeats use real timers regardless.
func Clock(now func() time.Time) Option {
	return optionFunc(func(c *config) { c.clock = now })
}

// EnforceLimits makes the server throttle and reject like Kinesis: per shard 1 MiB/s and 1000
// records/s written (partition keys counted), with per-entry ProvisionedThroughputExceededException in
// PutRecords and a whole-call one for PutRecord; at most 500 entries and [MaxRequestBytes] per
// PutRecords; records no larger than the stream's maximum record size; GetRecords 5 calls/s and
// 2 MiB/s per shard; SubscribeToShard 2 MiB/s per consumer and shard; DescribeStreamSummary 20
// calls/s for the whole server (LimitExceededException), as Kinesis allows per account. Off by default.
func EnforceLimits() Option {
	return optionFunc(func(c *config) { c.limits = true })
}

// MaxRequestBytes sets the PutRecords request size limit (data plus partition keys of all entries)
// enforced under [EnforceLimits], overriding the default 5 MiB.
func MaxRequestBytes(n int) Option {
	return optionFunc(func(c *config) { c.maxRequestBytes = n })
}

// IteratorTTL sets how long a shard iterator stays valid, measured on the server's [Clock],
// overriding the default 5 minutes.
func IteratorTTL(d time.Duration) Option {
	return optionFunc(func(c *config) { c.iteratorTTL = d })
}

// SubscriptionDuration sets how long a SubscribeToShard stream lasts before the server ends it,
// measured in real time, overriding the default 5 minutes. When it is shorter than 5 s, the window
// in which a second subscription for the same consumer and shard is refused shrinks to it too, so
// expiry tests can resubscribe at once.
func SubscriptionDuration(d time.Duration) Option {
	return optionFunc(func(c *config) { c.subscriptionDuration = d })
}

// Faults injects random failures as described by f. Off by default.
func Faults(f FaultConfig) Option {
	return optionFunc(func(c *config) { c.faults = f })
}

// Region sets the region in the ARNs the server makes, overriding the default "us-east-1".
func Region(region string) Option {
	return optionFunc(func(c *config) { c.region = region })
}

// AccountID sets the account in the ARNs the server makes, overriding the default "000000000000".
func AccountID(id string) Option {
	return optionFunc(func(c *config) { c.account = id })
}

// WithLogger sets the logger for server events (requests at Debug, injected faults at Info),
// overriding a logger that discards everything.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// DefaultRecordDistribution sets the record distribution strategy of ON_DEMAND streams whose
// CreateStream names none, overriding [RecordDistributionUserPartitionKey]. With
// [RecordDistributionAuto] those streams ignore partition keys and explicit hash keys and spread
// records round-robin over their open shards. PROVISIONED streams always route by key, as in
// Kinesis; UpdateStreamRecordDistributionStrategy switches a stream at run time.
func DefaultRecordDistribution(strategy string) Option {
	return optionFunc(func(c *config) { c.distribution = strategy })
}

// ListShardsPageLimit sets the most shards one ListShards page holds, overriding Kinesis's 1000:
// a call asking for more (MaxResults, or none) gets at most n shards and a NextToken for the rest,
// as Kinesis answers a stream of more than 1000 shards. It lets a test make a client page through
// a stream of a few shards. n must be within 1..1000.
func ListShardsPageLimit(n int) Option {
	return optionFunc(func(c *config) { c.listShardsPage = n })
}

// seedStream is a stream the server creates at start.
type seedStream struct {
	name   string
	shards int
}

// Stream makes the server start with a PROVISIONED stream of the given name and shard count, ACTIVE
// and empty, created as CreateStream would create it (shards of equal hash ranges, named
// shardId-000000000000 upwards). Give it once per stream; [NewServer] fails with
// [ErrInvalidConfig] when CreateStream would refuse the stream (a bad name, a shard count outside
// 1..10000, a name given twice).
func Stream(name string, shards int) Option {
	return optionFunc(func(c *config) { c.seeds = append(c.seeds, seedStream{name, shards}) })
}
