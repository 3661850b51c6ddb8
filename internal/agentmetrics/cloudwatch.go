package agentmetrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/internal/awserr"
)

// Source returns the current figures: the running agent's Stats (a zero Stats while none runs).
type Source func() agent.Stats

// CloudWatchAPI is the part of the CloudWatch API the Publisher calls (a *cloudwatch.Client
// satisfies it).
type CloudWatchAPI interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
}

// PutMetricData limits: 1,000 metric data per request and 1 MB per HTTP POST request; maxBatchBytes
// keeps the estimate of a request well under the latter.
const (
	maxBatchDatums = 1000
	maxBatchBytes  = 900 << 10
)

// Defaults of PublisherConfig.
const (
	DefaultCallTimeout = 10 * time.Second
	errorLogEvery      = time.Minute
)

// PublisherConfig configures a Publisher; zero (or negative) fields take the Kinesis Agent's
// defaults.
type PublisherConfig struct {
	Namespace   string        // "" means agent.DefaultCloudWatchNamespace ("AWSKinesisAgent")
	Interval    time.Duration // how often figures are taken and sent; 0 means agent.DefaultMetricsBufferTime (30s)
	QueueSize   int           // datums held while CloudWatch cannot be reached; 0 means agent.DefaultMetricsQueueSize
	Instance    string        // value of the Instance dimension; "" adds none
	CallTimeout time.Duration // bound of each PutMetricData call; 0 means DefaultCallTimeout
	Logger      *slog.Logger  // nil discards
}

// A Publisher sends the agent's figures to CloudWatch from its own goroutine: the agent never
// waits for it. Close stops it. Its methods are safe for concurrent use.
type Publisher struct {
	client CloudWatchAPI
	src    Source
	cfg    PublisherConfig
	log    *slog.Logger

	ctx    context.Context // cancelled by Close: stops the loop and its call in flight
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	// Owned by the loop's goroutine, then by Close once the loop has ended.
	queue   []cwtypes.MetricDatum
	prev    map[flowKey]agent.FlowStats
	lastLog time.Time
	muted   int // errors not logged since lastLog

	sent, calls, dropped atomic.Int64
}

type flowKey struct{ pattern, dest string }

// NewPublisher starts a Publisher taking figures from src every cfg.Interval.
func NewPublisher(client CloudWatchAPI, src Source, cfg PublisherConfig) *Publisher {
	cfg.Namespace = cmp.Or(cfg.Namespace, agent.DefaultCloudWatchNamespace)
	if cfg.Interval <= 0 {
		cfg.Interval = agent.DefaultMetricsBufferTime
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = agent.DefaultMetricsQueueSize
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	p := &Publisher{client: client, src: src, cfg: cfg, log: cfg.Logger, done: make(chan struct{}), prev: map[flowKey]agent.FlowStats{}}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	go p.loop()
	return p
}

func (p *Publisher) loop() {
	defer close(p.done)
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			p.collect(now)
			p.flush(p.ctx)
		case <-p.ctx.Done():
			return
		}
	}
}

// Close stops the Publisher: it takes the figures one last time and sends everything queued,
// as long as ctx allows; what cannot be sent is dropped (and logged). Later calls return nil at
// once.
func (p *Publisher) Close(ctx context.Context) error {
	var err error
	p.once.Do(func() {
		p.cancel()
		<-p.done
		p.collect(time.Now())
		if n := p.flush(ctx); n > 0 {
			p.dropped.Add(int64(n))
			err = fmt.Errorf("agentmetrics: %d metric data not sent to CloudWatch at shutdown", n)
			p.log.Warn("CloudWatch metrics not sent at shutdown", "datums", n, "err", ctx.Err())
		}
	})
	return err
}

// Sent, Calls and Dropped count the datums CloudWatch accepted, the PutMetricData calls made and
// the datums dropped (queue full, refused, or left at Close).
func (p *Publisher) Sent() int64    { return p.sent.Load() }
func (p *Publisher) Calls() int64   { return p.calls.Load() }
func (p *Publisher) Dropped() int64 { return p.dropped.Load() }

// collect queues the datums of the current figures.
func (p *Publisher) collect(now time.Time) {
	s := p.src()
	if s.Started.IsZero() {
		return // no agent running (between a reload's stop and start)
	}
	p.queue = append(p.queue, p.datums(s, now)...)
	if over := len(p.queue) - p.cfg.QueueSize; over > 0 {
		p.queue = slices.Delete(p.queue, 0, over)
		p.dropped.Add(int64(over))
		p.logError("CloudWatch metrics queue full: oldest metric data dropped", fmt.Errorf("%d dropped", over))
	}
}

// destFigures are one destination's figures over an interval.
type destFigures struct {
	name, bare                                       string // "KinesisStream:logs", "logs"
	attempts, sent, sendErrors, serviceErrors, bytes int64  // deltas
	consecutive, bytesBehind                         int64
	oldest                                           time.Duration
}

// datums turns a snapshot into the interval's datums: counters as the change since the previous
// snapshot (a counter that went down belongs to a new agent, after a reload: taken whole).
func (p *Publisher) datums(s agent.Stats, now time.Time) []cwtypes.MetricDatum {
	byDest := map[string]*destFigures{}
	seen := make(map[flowKey]agent.FlowStats, len(s.Flows))
	for _, f := range s.Flows {
		dest := "KinesisStream:" + f.Destination
		if f.Firehose {
			dest = "DeliveryStream:" + f.Destination
		}
		k := flowKey{f.FilePattern, dest}
		prev := p.prev[k]
		seen[k] = f
		d := byDest[dest]
		if d == nil {
			d = &destFigures{name: dest, bare: f.Destination}
			byDest[dest] = d
		}
		d.attempts += delta(f.RecordSendAttempts, prev.RecordSendAttempts)
		d.sent += delta(f.RecordsSent, prev.RecordsSent)
		d.sendErrors += delta(f.RecordSendErrors, prev.RecordSendErrors)
		d.serviceErrors += delta(f.ServiceErrors, prev.ServiceErrors)
		d.bytes += delta(f.BytesSent, prev.BytesSent)
		d.consecutive = max(d.consecutive, f.ConsecutiveProcessingErrors)
		d.bytesBehind += f.BytesBehind
		d.oldest = max(d.oldest, f.OldestUnsentRecordAge)
	}
	p.prev = seen
	ts := aws.Time(now)
	var inst []cwtypes.Dimension
	if p.cfg.Instance != "" {
		inst = []cwtypes.Dimension{{Name: aws.String("Instance"), Value: aws.String(p.cfg.Instance)}}
	}
	dims := func(dest string) []cwtypes.Dimension {
		return append([]cwtypes.Dimension{{Name: aws.String("Destination"), Value: aws.String(dest)}}, inst...)
	}
	datum := func(name string, v float64, unit cwtypes.StandardUnit, d []cwtypes.Dimension) cwtypes.MetricDatum {
		return cwtypes.MetricDatum{MetricName: aws.String(name), Value: aws.Float64(v), Unit: unit, Timestamp: ts, Dimensions: d}
	}
	var out []cwtypes.MetricDatum
	for _, dest := range slices.Sorted(maps.Keys(byDest)) {
		d := byDest[dest]
		dd := dims(d.name)
		out = append(out,
			datum("RecordSendAttempts", float64(d.attempts), cwtypes.StandardUnitCount, dd),
			datum("RecordsSent", float64(d.sent), cwtypes.StandardUnitCount, dd),
			datum("RecordSendErrors", float64(d.sendErrors), cwtypes.StandardUnitCount, dd),
			datum("BytesSent", float64(d.bytes), cwtypes.StandardUnitBytes, dd),
			datum("ServiceErrors", float64(d.serviceErrors), cwtypes.StandardUnitCount, dd),
			datum("ConsecutiveProcessingErrors", float64(d.consecutive), cwtypes.StandardUnitCount, dims(d.bare)),
			datum("BytesBehind", float64(d.bytesBehind), cwtypes.StandardUnitBytes, dd),
			datum("OldestUnsentRecordAge", d.oldest.Seconds(), cwtypes.StandardUnitSeconds, dd),
		)
	}
	out = append(out, datum("CheckpointAge", s.CheckpointAge.Seconds(), cwtypes.StandardUnitSeconds, inst))
	return out
}

func delta(cur, prev int64) int64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// datumSize is a generous estimate of a datum's encoded size.
func datumSize(d cwtypes.MetricDatum) int {
	n := 96 + len(aws.ToString(d.MetricName)) + len(d.Unit)
	for _, x := range d.Dimensions {
		n += 24 + len(aws.ToString(x.Name)) + len(aws.ToString(x.Value))
	}
	return n
}

// flush sends the queue in batches until it is empty, a call fails with a retryable error (the
// batch stays queued for the next interval) or ctx ends. It returns how many datums are left.
func (p *Publisher) flush(ctx context.Context) int {
	for len(p.queue) > 0 && ctx.Err() == nil {
		n, size := 0, 0
		for n < len(p.queue) && n < maxBatchDatums {
			ds := datumSize(p.queue[n])
			if n > 0 && size+ds > maxBatchBytes {
				break
			}
			size += ds
			n++
		}
		callCtx, cancel := context.WithTimeout(ctx, p.cfg.CallTimeout)
		_, err := p.client.PutMetricData(callCtx, &cloudwatch.PutMetricDataInput{
			Namespace:  aws.String(p.cfg.Namespace),
			MetricData: p.queue[:n],
		})
		cancel()
		p.calls.Add(1)
		switch {
		case err == nil:
			p.sent.Add(int64(n))
			p.queue = slices.Delete(p.queue, 0, n)
		case ctx.Err() != nil:
			return len(p.queue) // stopping: the batch stays for Close
		case awserr.Classify(err).Class == awserr.Terminal && !errors.Is(err, context.DeadlineExceeded):
			p.logError("CloudWatch refused metric data: dropped (is cloudwatch:PutMetricData allowed?)", err)
			p.dropped.Add(int64(n))
			p.queue = slices.Delete(p.queue, 0, n)
		default:
			p.logError("sending metrics to CloudWatch failed: will try again", err)
			return len(p.queue)
		}
	}
	return len(p.queue)
}

// logError logs at Warn, at most once per errorLogEvery, with the number of errors not logged.
func (p *Publisher) logError(msg string, err error) {
	now := time.Now()
	if !p.lastLog.IsZero() && now.Sub(p.lastLog) < errorLogEvery {
		p.muted++
		return
	}
	p.log.Warn(msg, "err", err, "errors_not_logged", p.muted, "namespace", p.cfg.Namespace)
	p.lastLog, p.muted = now, 0
}
