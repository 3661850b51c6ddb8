package lease

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults, mirroring the Java KCL where it has the setting.
const (
	DefaultFailover               = 10 * time.Second // KCL failoverTimeMillis
	DefaultMaxLeasesToStealAtOnce = 2                // KCL maxLeasesToStealAtOneTime is 1; see MaxLeasesToStealAtOnce
)

// An Option configures a Manager (and the Coordinator built on it). Options are made only by the
// functions of this package; they are applied in any order and validated once by NewManager.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	failover      time.Duration
	renewInterval time.Duration // 0: failover/3
	takeInterval  time.Duration // 0: 2*failover
	renewTimeout  time.Duration // 0: failover/4
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
		failover: DefaultFailover,
		maxSteal: DefaultMaxLeasesToStealAtOnce,
		logger:   slog.New(slog.DiscardHandler),
	}
}

// Failover sets the lease duration: a lease whose counter an observer has not seen change for this long is
// expired and may be taken. It also derives the renew interval (Failover/3), the take interval
// (2 × Failover) and the renewal timeout (Failover/4) unless those are set. Overrides the default 10s
// (KCL failoverTimeMillis).
func Failover(d time.Duration) Option { return optionFunc(func(c *config) { c.failover = d }) }

// RenewInterval sets how often the Coordinator renews held leases. It must be shorter than the failover
// time; a third of it leaves two more attempts before others may take the lease. Overrides the default
// Failover/3.
func RenewInterval(d time.Duration) Option {
	return optionFunc(func(c *config) { c.renewInterval = d })
}

// TakeInterval sets how often the Coordinator scans the table and takes or steals leases. A shorter
// interval finds dead workers sooner (their leases are taken at most Failover + 2 × TakeInterval after
// their last renewal, see [Tracker]) at the price of one table scan per interval. Overrides the default
// 2 × Failover (the Java KCL's take cycle).
func TakeInterval(d time.Duration) Option { return optionFunc(func(c *config) { c.takeInterval = d }) }

// RenewTimeout bounds each renewal call, SDK retries included, so a slow table cannot keep a renewal
// running past the lease's expiry. It must be shorter than the failover time. Overrides the default
// Failover/4.
func RenewTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.renewTimeout = d }) }

// MaxLeasesToStealAtOnce caps how many leases one take round steals from other live workers (expired
// and unowned leases are not capped by it). Overrides the default 2; the Java KCL's default is 1, which
// makes a joining worker need one take cycle per lease.
func MaxLeasesToStealAtOnce(n int) Option { return optionFunc(func(c *config) { c.maxSteal = n }) }

// MaxLeasesForWorker caps how many leases this worker holds; leases beyond every worker's cap stay
// unprocessed. Overrides the default: unlimited (KCL maxLeasesForWorker).
func MaxLeasesForWorker(n int) Option { return optionFunc(func(c *config) { c.maxLeases = n }) }

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
