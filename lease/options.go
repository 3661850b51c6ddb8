package lease

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// Defaults, mirroring the Java KCL where it has the setting.
const (
	DefaultFailover = 10 * time.Second // KCL failoverTimeMillis
	// DefaultCallTimeout bounds each DynamoDB call of the Manager, SDK retries included (the Java KCL's
	// dynamoDbRequestTimeout is 1 minute; a lease lives 10 s by default, so a call that has not answered
	// within the failover time is of no use any more). See CallTimeout.
	DefaultCallTimeout = 10 * time.Second
)

// defaultMaxLeasesToStealAtOnce is the default of kcl.MaxLeasesToStealAtOnce (the Java KCL's
// maxLeasesToStealAtOneTime is 1).
const defaultMaxLeasesToStealAtOnce = 2

// An Option configures a Manager. Options are made only by the
// functions of this package; they are applied in any order and validated once by NewManager.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	failover      time.Duration
	renewInterval time.Duration // 0: failover/3
	takeInterval  time.Duration // 0: 2*failover
	renewTimeout  time.Duration // 0: failover/4
	callTimeout   time.Duration
	retryer       aws.Retryer // nil: the client's own retryer
	maxSteal      int
	maxLeases     int // 0: unlimited
	provisioned   bool
	readCapacity  int64
	writeCapacity int64
	logger        *slog.Logger
	hooks         []Hook
}

func defaultConfig() config {
	return config{
		failover:    DefaultFailover,
		maxSteal:    defaultMaxLeasesToStealAtOnce,
		callTimeout: DefaultCallTimeout,
		retryer:     defaultRetryer(),
		logger:      slog.New(slog.DiscardHandler),
	}
}

// Failover sets the lease duration: a lease whose counter an observer has not seen change for this long is
// expired and may be taken. A kcl worker on the Manager derives its renew interval (Failover/3), take
// interval (2 × Failover) and renewal timeout (Failover/4) from it unless its own options set them.
// Overrides the default 10s (KCL failoverTimeMillis).
func Failover(d time.Duration) Option { return optionFunc(func(c *config) { c.failover = d }) }

// CallTimeout bounds every DynamoDB call the Manager makes (each Scan page, GetItem, PutItem,
// UpdateItem, DeleteItem, DescribeTable, CreateTable), SDK retries included, within the caller's context.
// A call that runs out of time fails with an error wrapping ErrTimeout and context.DeadlineExceeded; it is
// a retryable failure, not a lost lease (the write may or may not have been applied: the Coordinator
// re-reads the lease before its next write). Overrides the default 10s (DefaultCallTimeout).
func CallTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.callTimeout = d }) }

// WithRetryer sets the retryer of the Manager's DynamoDB calls (passed to the client per call, so the
// client itself is not changed); nil keeps the client's own retryer. The default is the SDK's standard
// retryer (3 attempts, exponential backoff with jitter) without client-side rate limiting
// (ratelimit.None): the SDK's default retryer takes retry tokens from a bucket shared by every call of the
// client, so sustained throttling of the lease table (or of anything else sharing the client) would leave
// renewals a single attempt. Overrides that default.
func WithRetryer(r aws.Retryer) Option { return optionFunc(func(c *config) { c.retryer = r }) }

func defaultRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) { o.RateLimiter = ratelimit.None })
}

// OnDemand makes EnsureTable create the table with on-demand (PAY_PER_REQUEST) billing. This is the
// default.
func OnDemand() Option { return optionFunc(func(c *config) { c.provisioned = false }) }

// Provisioned makes EnsureTable create the table with provisioned capacity (KCL
// initialLeaseTableReadCapacity / WriteCapacity). Overrides the default: on-demand billing.
func Provisioned(readCapacity, writeCapacity int64) Option {
	return optionFunc(func(c *config) {
		c.provisioned, c.readCapacity, c.writeCapacity = true, readCapacity, writeCapacity
	})
}

// WithLogger sets the logger. Lease taken/lost/released are logged at Info, failed renewals at Warn,
// every call at Debug. Overrides the default: a logger that discards everything.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// WithHooks registers hooks (see [Hook]); it may be given more than once. A value implementing none of
// the hook interfaces makes NewManager fail.
func WithHooks(hooks ...Hook) Option {
	return optionFunc(func(c *config) { c.hooks = append(c.hooks, hooks...) })
}

func (c *config) resolve() error {
	if c.failover <= 0 {
		return fmt.Errorf("%w: failover %v must be positive", ErrInvalidConfig, c.failover)
	}
	if c.renewInterval == 0 {
		c.renewInterval = c.failover / 3
	}
	if c.takeInterval == 0 {
		c.takeInterval = 2 * c.failover
	}
	if c.renewTimeout == 0 {
		c.renewTimeout = c.failover / 4
	}
	switch {
	case c.renewInterval <= 0 || c.renewInterval >= c.failover:
		return fmt.Errorf("%w: renew interval %v must be in (0, failover %v)", ErrInvalidConfig, c.renewInterval, c.failover)
	case c.takeInterval <= 0:
		return fmt.Errorf("%w: take interval %v must be positive", ErrInvalidConfig, c.takeInterval)
	case c.renewTimeout <= 0 || c.renewTimeout >= c.failover:
		return fmt.Errorf("%w: renew timeout %v must be in (0, failover %v)", ErrInvalidConfig, c.renewTimeout, c.failover)
	case c.callTimeout <= 0:
		return fmt.Errorf("%w: call timeout %v must be positive", ErrInvalidConfig, c.callTimeout)
	case c.maxSteal < 0:
		return fmt.Errorf("%w: max leases to steal %d must not be negative", ErrInvalidConfig, c.maxSteal)
	case c.maxLeases < 0:
		return fmt.Errorf("%w: max leases for worker %d must not be negative", ErrInvalidConfig, c.maxLeases)
	case c.provisioned && (c.readCapacity <= 0 || c.writeCapacity <= 0):
		return fmt.Errorf("%w: provisioned capacity %d/%d must be positive", ErrInvalidConfig, c.readCapacity, c.writeCapacity)
	case c.logger == nil:
		return fmt.Errorf("%w: nil logger", ErrInvalidConfig)
	}
	return nil
}
