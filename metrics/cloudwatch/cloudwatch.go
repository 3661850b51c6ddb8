package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// API is the part of the CloudWatch API Metrics calls; a *cloudwatch.Client satisfies it.
type API interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// Level is the Java KPL/KCL metrics level: a metric is sent when its level is at or below the
// configured one.
type Level int

const (
	LevelDefault  Level = iota // LevelDetailed, the Java default
	LevelNone                  // no metrics
	LevelSummary               // the key metrics only
	LevelDetailed              // every metric
)

// Granularity is the Java KPL metrics granularity: every metric is sent without stream
// dimensions (global), and, from GranularityStream on, with StreamName, and, at GranularityShard,
// with StreamName and ShardId as well, as the KPL does.
type Granularity int

const (
	GranularityDefault Granularity = iota // GranularityShard, the Java default
	GranularityGlobal
	GranularityStream
	GranularityShard
)

// ParseLevel parses "none", "summary" or "detailed" (any case), the Java metricsLevel values.
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(s) {
	case "none":
		return LevelNone, nil
	case "summary":
		return LevelSummary, nil
	case "detailed":
		return LevelDetailed, nil
	}
	return 0, &ConfigError{Field: "Level", Value: s, Reason: `want "none", "summary" or "detailed"`}
}

// ParseGranularity parses "global", "stream" or "shard" (any case), the Java KPL
// metricsGranularity values.
func ParseGranularity(s string) (Granularity, error) {
	switch strings.ToLower(s) {
	case "global":
		return GranularityGlobal, nil
	case "stream":
		return GranularityStream, nil
	case "shard":
		return GranularityShard, nil
	}
	return 0, &ConfigError{Field: "Granularity", Value: s, Reason: `want "global", "stream" or "shard"`}
}

// ConfigError reports a Config field New cannot use.
type ConfigError struct {
	Field, Value, Reason string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("metrics/cloudwatch: Config.%s %q: %s", e.Field, e.Value, e.Reason)
}

// Defaults of Config.
const (
	DefaultNamespace   = "Shardwise"
	DefaultInterval    = time.Minute // the KPL's metricsUploadDelay
	DefaultMaxQueue    = 10000       // datums; the KCL's metricsMaxQueueSize
	DefaultCallTimeout = 10 * time.Second
)

// PutMetricData limits: 1,000 datums per request and 1 MB per request; MaxBatchBytes keeps the
// estimate of a request's size well under the latter. A datum has at most 30 dimensions (ours: 4).
const (
	MaxBatchDatums = 1000
	MaxBatchBytes  = 900 << 10
)

// maxDimensionValue is CloudWatch's limit on a dimension value's length.
const maxDimensionValue = 1024

// Config configures Metrics.
type Config struct {
	// Namespace of every metric; DefaultNamespace when empty. The Java KCL uses the application
	// name, the KPL "KinesisProducerLibrary".
	Namespace string
	// Level: which metrics are sent (LevelDetailed when zero, as in Java).
	Level Level
	// Granularity: the dimension sets each metric is sent with (GranularityShard when zero, as in
	// the KPL).
	Granularity Granularity
	// Dimensions are added to every datum (the KPL's additional dimensions, e.g. the host name).
	Dimensions []types.Dimension
	// WorkerIdentifier is the worker's ID, the owner given to lease.NewManager
	// ([lease.Manager.Owner]). When set, the per-worker metrics (Operation RenewAllLeases and
	// TakeLeases: CurrentLeases, LostLeases, RenewLease.*, TakenLeases, NumWorkers, ...) carry it
	// as the WorkerIdentifier dimension, as the Java KCL 2.x does by default; the per-shard ones
	// (ProcessTask, ...) do not, as in Java. Empty: no WorkerIdentifier dimension (the KCL 1.x
	// default). An ID that changes at every restart (the CLI's default host-pid-random one) makes
	// a new metric each time: give a stable one, e.g. the host name, when setting this.
	WorkerIdentifier string
	// Interval is how often the figures are aggregated and sent; DefaultInterval when 0.
	Interval time.Duration
	// MaxQueue bounds the datums waiting to be sent (while CloudWatch cannot be reached): the
	// oldest are dropped beyond it. DefaultMaxQueue when 0.
	MaxQueue int
	// CallTimeout bounds each PutMetricData call; DefaultCallTimeout when 0.
	CallTimeout time.Duration
	// Logger receives send failures (at most one line a minute); nil discards.
	Logger *slog.Logger
}

// Metrics implements every hook of kpl, kcl, lease and agent (see hooks.go) and sends the figures
// to CloudWatch as statistic sets, one per metric and dimension set per interval, from its own
// goroutine: a hook only updates an in-memory aggregate. Close sends what is left. Its methods
// are safe for concurrent use.
type Metrics struct {
	client API
	cfg    Config

	mu  sync.Mutex
	agg map[aggKey]*stat

	// Owned by the loop's goroutine, then by Close once the loop has ended.
	queue   []types.MetricDatum
	lastLog time.Time

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	now    func() time.Time

	sent, calls, dropped atomic.Int64
}

type aggKey struct {
	name string
	unit types.StandardUnit
	dims string // "Name=Value|Name=Value", in order
}

type stat struct {
	dims                 []types.Dimension
	min, max, sum, count float64
}

// New starts a Metrics sending to client every cfg.Interval. It fails with a *ConfigError when a
// field is out of range.
func New(client API, cfg Config) (*Metrics, error) {
	return newMetrics(client, cfg, nil)
}

// newMetrics is New with the loop driven by tick when not nil (tests), else by a ticker of
// cfg.Interval.
func newMetrics(client API, cfg Config, tick <-chan time.Time) (*Metrics, error) {
	if client == nil {
		return nil, &ConfigError{Field: "client", Value: "nil", Reason: "a CloudWatch client is required"}
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Level == LevelDefault {
		cfg.Level = LevelDetailed
	}
	if cfg.Level < LevelDefault || cfg.Level > LevelDetailed {
		return nil, &ConfigError{Field: "Level", Value: fmt.Sprint(int(cfg.Level)), Reason: "out of range"}
	}
	if cfg.Granularity == GranularityDefault {
		cfg.Granularity = GranularityShard
	}
	if cfg.Granularity < GranularityDefault || cfg.Granularity > GranularityShard {
		return nil, &ConfigError{Field: "Granularity", Value: fmt.Sprint(int(cfg.Granularity)), Reason: "out of range"}
	}
	if len(cfg.Dimensions) > 26 {
		return nil, &ConfigError{Field: "Dimensions", Value: fmt.Sprint(len(cfg.Dimensions)), Reason: "at most 26 (CloudWatch allows 30 per datum; Metrics adds up to 4)"}
	}
	for _, d := range cfg.Dimensions {
		if aws.ToString(d.Name) == "" || aws.ToString(d.Value) == "" {
			return nil, &ConfigError{Field: "Dimensions", Value: aws.ToString(d.Name) + "=" + aws.ToString(d.Value), Reason: "name and value must not be empty"}
		}
	}
	if n := len(cfg.WorkerIdentifier); n > maxDimensionValue {
		return nil, &ConfigError{Field: "WorkerIdentifier", Value: cfg.WorkerIdentifier[:32] + "...", Reason: fmt.Sprintf("%d characters; a dimension value has at most %d", n, maxDimensionValue)}
	}
	if cfg.Interval < 0 || cfg.MaxQueue < 0 || cfg.CallTimeout < 0 {
		return nil, &ConfigError{Field: "Interval/MaxQueue/CallTimeout", Value: "negative", Reason: "must not be negative"}
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{client: client, cfg: cfg, agg: map[aggKey]*stat{}, done: make(chan struct{}), now: time.Now}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if tick == nil {
		t := time.NewTicker(cfg.Interval)
		go func() {
			m.loop(t.C)
			t.Stop()
		}()
	} else {
		go m.loop(tick)
	}
	return m, nil
}

func (m *Metrics) loop(tick <-chan time.Time) {
	defer close(m.done)
	for {
		select {
		case <-tick:
			m.collect()
			m.flush(m.ctx)
		case <-m.ctx.Done():
			return
		}
	}
}

// Close stops the Metrics: it aggregates one last time and sends everything queued as long as
// ctx allows. It returns an error counting the datums it could not send. Later calls return nil.
// Hooks called after Close are ignored.
func (m *Metrics) Close(ctx context.Context) error {
	var err error
	m.once.Do(func() {
		m.cancel()
		<-m.done
		m.collect()
		if n := m.flush(ctx); n > 0 {
			m.dropped.Add(int64(n))
			err = fmt.Errorf("metrics/cloudwatch: %d metric data not sent at Close: %w", n, context.Cause(ctx))
			if ctx.Err() == nil {
				err = fmt.Errorf("metrics/cloudwatch: %d metric data not sent at Close (CloudWatch refused them)", n)
			}
		}
	})
	return err
}

// Sent, Calls and Dropped count the datums CloudWatch accepted, the PutMetricData calls made, and
// the datums dropped (queue full, refused for good, or left at Close).
func (m *Metrics) Sent() int64    { return m.sent.Load() }
func (m *Metrics) Calls() int64   { return m.calls.Load() }
func (m *Metrics) Dropped() int64 { return m.dropped.Load() }

// dim is one dimension of a datum.
type dim struct{ name, value string }

// scope says which dimensions a metric is sent with.
type scope struct {
	base          []dim // always (Operation, ErrorCode, Destination, ...)
	stream, shard string
}

// put adds one sample of metric name at level, once per dimension set the granularity asks for:
// base alone, base+StreamName, base+StreamName+ShardId (an empty stream or shard stops there).
func (m *Metrics) put(level Level, name string, unit types.StandardUnit, v float64, sc scope) {
	if level > m.cfg.Level || m.ctx.Err() != nil {
		return
	}
	sets := [][]dim{sc.base}
	if m.cfg.Granularity >= GranularityStream && sc.stream != "" {
		withStream := append(slices.Clip(sc.base), dim{"StreamName", sc.stream})
		sets = append(sets, withStream)
		if m.cfg.Granularity >= GranularityShard && sc.shard != "" {
			sets = append(sets, append(slices.Clip(withStream), dim{"ShardId", sc.shard}))
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ds := range sets {
		var b strings.Builder
		for _, d := range ds {
			b.WriteString(d.name + "=" + d.value + "|")
		}
		k := aggKey{name, unit, b.String()}
		s := m.agg[k]
		if s == nil {
			s = &stat{min: v, max: v}
			for _, d := range ds {
				s.dims = append(s.dims, types.Dimension{Name: aws.String(d.name), Value: aws.String(d.value)})
			}
			m.agg[k] = s
		}
		s.min, s.max = min(s.min, v), max(s.max, v)
		s.sum += v
		s.count++
	}
}

// collect turns the interval's aggregates into datums at the end of the queue, dropping the
// oldest beyond MaxQueue.
func (m *Metrics) collect() {
	m.mu.Lock()
	agg := m.agg
	m.agg = map[aggKey]*stat{}
	m.mu.Unlock()
	if len(agg) == 0 {
		return
	}
	ts := aws.Time(m.now())
	keys := slices.SortedFunc(func(yield func(aggKey) bool) {
		for k := range agg {
			if !yield(k) {
				return
			}
		}
	}, func(a, b aggKey) int { return strings.Compare(a.name+"\x00"+a.dims, b.name+"\x00"+b.dims) })
	for _, k := range keys {
		s := agg[k]
		m.queue = append(m.queue, types.MetricDatum{
			MetricName: aws.String(k.name),
			Unit:       k.unit,
			Timestamp:  ts,
			Dimensions: append(slices.Clip(s.dims), m.cfg.Dimensions...),
			StatisticValues: &types.StatisticSet{
				Minimum: aws.Float64(s.min), Maximum: aws.Float64(s.max),
				Sum: aws.Float64(s.sum), SampleCount: aws.Float64(s.count),
			},
		})
	}
	if over := len(m.queue) - m.cfg.MaxQueue; over > 0 {
		m.queue = slices.Delete(m.queue, 0, over)
		m.dropped.Add(int64(over))
		m.logError("CloudWatch metrics queue full: oldest metric data dropped", fmt.Errorf("%d dropped", over))
	}
}

// flush sends the queue in batches within the PutMetricData limits; it stops at the first
// failure, leaving the rest queued (a batch refused as invalid is dropped: sending it again
// would fail again). It returns the datums left.
func (m *Metrics) flush(ctx context.Context) int {
	for len(m.queue) > 0 && ctx.Err() == nil {
		n := batchLen(m.queue, len(m.cfg.Namespace))
		cctx, cancel := context.WithTimeout(ctx, m.cfg.CallTimeout)
		_, err := m.client.PutMetricData(cctx, &cloudwatch.PutMetricDataInput{
			Namespace:  aws.String(m.cfg.Namespace),
			MetricData: m.queue[:n],
		})
		cancel()
		m.calls.Add(1)
		if err != nil {
			var invalid *types.InvalidParameterValueException
			var missing *types.MissingRequiredParameterException
			if errors.As(err, &invalid) || errors.As(err, &missing) {
				m.dropped.Add(int64(n))
				m.queue = slices.Delete(m.queue, 0, n)
				m.logError("CloudWatch refused metric data: dropped", err)
				continue
			}
			m.logError("PutMetricData failed: metric data kept for the next interval", err)
			break
		}
		m.sent.Add(int64(n))
		m.queue = slices.Delete(m.queue, 0, n)
	}
	return len(m.queue)
}

// batchLen is how many datums from the head of q fit one request: at most MaxBatchDatums and an
// estimated size under MaxBatchBytes (at least one).
func batchLen(q []types.MetricDatum, nsLen int) int {
	size := 64 + nsLen
	for i, d := range q {
		if i == MaxBatchDatums {
			return i
		}
		size += datumSize(d)
		if size > MaxBatchBytes && i > 0 {
			return i
		}
	}
	return len(q)
}

// datumSize over-estimates a datum's encoded size (CBOR keys and values, or query
// parameters, whichever the SDK speaks).
func datumSize(d types.MetricDatum) int {
	n := 200 + 2*len(aws.ToString(d.MetricName)) + len(d.Unit)
	for _, x := range d.Dimensions {
		n += 60 + 2*(len(aws.ToString(x.Name))+len(aws.ToString(x.Value)))
	}
	return n
}

// logError logs err at most once a minute.
func (m *Metrics) logError(msg string, err error) {
	now := time.Now()
	if !m.lastLog.IsZero() && now.Sub(m.lastLog) < time.Minute {
		return
	}
	m.lastLog = now
	m.cfg.Logger.Warn(msg, "err", err)
}
