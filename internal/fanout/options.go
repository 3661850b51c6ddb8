package fanout

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Defaults of a [Subscriber].
const (
	// DefaultBuffer is how many events with records may wait for the caller before the subscriber
	// stops reading the event stream.
	DefaultBuffer = 2
	// DefaultEventTimeout is how long an open subscription may stay silent before it is treated as
	// broken (a half-open connection) and replaced. Kinesis sends events, empty ones included, far
	// more often.
	DefaultEventTimeout = 35 * time.Second
	// SubscribeWindow is Kinesis's rule: a SubscribeToShard for the same consumer and shard within 5 s
	// of a successful one is refused with ResourceInUseException.
	SubscribeWindow = 5 * time.Second
	// MinRetryDelay is the least wait after a refused or failed SubscribeToShard (Kinesis allows one
	// call per second per consumer and shard).
	MinRetryDelay = time.Second
	// DefaultCallTimeout bounds each SubscribeToShard call until its event stream opens (the Java
	// KCL bounds each Kinesis call by 30 s).
	DefaultCallTimeout = 30 * time.Second
	// DefaultMaxRetryDelay caps the backoff between failed SubscribeToShard attempts.
	DefaultMaxRetryDelay = 16 * time.Second
)

// An Option configures a [Subscriber]. Options are made only by this package's functions.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	buffer        int
	eventTimeout  time.Duration
	maxRetryDelay time.Duration
	callTimeout   time.Duration
	httpClient    aws.HTTPClient
	logger        *slog.Logger
	onAttempt     func(Attempt)
	onReceive     func(records int) // tests: an event was taken off an event stream
}

func defaultConfig() config {
	return config{
		buffer:        DefaultBuffer,
		eventTimeout:  DefaultEventTimeout,
		maxRetryDelay: DefaultMaxRetryDelay,
		callTimeout:   DefaultCallTimeout,
		logger:        slog.New(slog.DiscardHandler),
	}
}

func (c *config) validate() error {
	switch {
	case c.buffer < 1:
		return fmt.Errorf("fanout: Buffer %d must be at least 1", c.buffer)
	case c.eventTimeout <= 0:
		return fmt.Errorf("fanout: EventTimeout %v must be positive", c.eventTimeout)
	case c.callTimeout <= 0:
		return fmt.Errorf("fanout: CallTimeout %v must be positive", c.callTimeout)
	case c.maxRetryDelay < MinRetryDelay:
		return fmt.Errorf("fanout: MaxRetryDelay %v is below %v", c.maxRetryDelay, MinRetryDelay)
	case c.logger == nil:
		return fmt.Errorf("fanout: nil logger")
	}
	return nil
}

// Buffer sets how many events carrying records may wait for [Subscriber.Next]. When they are all
// waiting the subscriber stops reading the event stream, and HTTP/2 flow control then stops the
// server: memory per shard stays bounded by Buffer events, one more waiting to be handed over, two
// inside the SDK's reader goroutines and the HTTP/2 stream receive window (4 MiB with net/http's
// transport). Overrides the default 2.
func Buffer(n int) Option { return optionFunc(func(c *config) { c.buffer = n }) }

// EventTimeout sets how long an open subscription may go without any event (records or empty) while
// the subscriber waits for one before it is closed and replaced by a new subscription after the last
// continuation sequence number. Time spent waiting for the caller does not count. Overrides the
// default 35s.
func EventTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.eventTimeout = d }) }

// CallTimeout bounds each SubscribeToShard call until its event stream opens; a call not answered in
// time is abandoned and retried after the usual backoff (its error wraps context.DeadlineExceeded).
// Once open, a subscription is watched by [EventTimeout] instead. Overrides the default 30s.
func CallTimeout(d time.Duration) Option { return optionFunc(func(c *config) { c.callTimeout = d }) }

// MaxRetryDelay caps the jittered exponential backoff between failed or refused SubscribeToShard
// calls; the first retry waits 1–2 s. Overrides the default 16s.
func MaxRetryDelay(d time.Duration) Option {
	return optionFunc(func(c *config) { c.maxRetryDelay = d })
}

// SubscribeHTTPClient sets the HTTP client used for SubscribeToShard calls only (a per-call option),
// leaving the Kinesis client's own for everything else. It must speak HTTP/2: h2 by ALPN over TLS
// (the SDK's default client does), or h2c for a plain-HTTP local endpoint ([UnencryptedHTTP2Client]).
// Overrides the default: the Kinesis client's HTTP client.
func SubscribeHTTPClient(hc aws.HTTPClient) Option {
	return optionFunc(func(c *config) { c.httpClient = hc })
}

// WithLogger sets the logger: subscriptions opened and ended at Debug, shard end at Info, refused or
// failed subscriptions at Warn. Overrides the default: a logger that discards everything.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(c *config) { c.logger = l }) }

// An Attempt describes one SubscribeToShard call, for [OnAttempt].
type Attempt struct {
	ShardID string
	Start   types.StartingPosition
	// Err is nil when the subscription was accepted.
	Err error
	// Retry is the wait before the next attempt after a refused or failed call (0 when Err is nil or
	// fatal).
	Retry time.Duration
}

// OnAttempt registers fn to be called after every SubscribeToShard call, on the subscriber's
// goroutine: it must be fast and must not call the Subscriber. Overrides the default: none.
func OnAttempt(fn func(Attempt)) Option { return optionFunc(func(c *config) { c.onAttempt = fn }) }

// onReceive is for tests: fn runs each time an event is taken off an event stream, with its record count.
func onReceive(fn func(records int)) Option { return optionFunc(func(c *config) { c.onReceive = fn }) }
