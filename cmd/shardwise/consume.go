package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/lease"
)

// consumeConfig holds the flags of `shardwise consume`.
type consumeConfig struct {
	app          string
	owner        string
	from         string
	max          int
	idleTimeout  time.Duration
	format       string
	pollInterval time.Duration
	failover     time.Duration
	takeInterval time.Duration
	syncInterval time.Duration
	grace        time.Duration
	logLevel     string
	efo          string      // enhanced fan-out consumer name; "" polls
	stats        *shardStats // --stats; nil: off
	metrics      *cliMetrics // --metrics-addr; nil: off
}

func runConsume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("consume", stderr)
	var c consumeConfig
	fs.StringVar(&c.app, "app", "", usageApp)
	fs.StringVar(&c.owner, "owner", "", "worker ID in the lease table (default: host name, pid and a random suffix)")
	fs.StringVar(&c.from, "from", "trim-horizon", usageFrom)
	fs.IntVar(&c.max, "max", 0, usageMax)
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 0, usageIdleTimeout)
	fs.StringVar(&c.format, "format", "jsonl", formatUsage(formatJSONL, formatRaw))
	fs.DurationVar(&c.pollInterval, "poll-interval", kcl.DefaultPollInterval, usagePollInterval)
	fs.DurationVar(&c.failover, "failover", lease.DefaultFailover, usageFailover)
	fs.DurationVar(&c.takeInterval, "take-interval", 0, "lease take interval (default 2 × failover; failover/3 moves a dead worker's shards within failover + failover/3)")
	fs.DurationVar(&c.syncInterval, "shard-sync-interval", kcl.DefaultShardSyncInterval, "shard sync interval")
	fs.DurationVar(&c.grace, "grace", 30*time.Second, "graceful shutdown time limit on SIGINT/SIGTERM, --max and --idle-timeout")
	fs.StringVar(&c.logLevel, "log-level", "warn", usageLogLevel)
	efo := fs.String("efo", "", usageEFO)
	stats := fs.Bool("stats", false, usageStats)
	statsEvery := fs.Duration("stats-interval", defaultStatsInterval, usageStatsEvery)
	metricsAddr := fs.String("metrics-addr", "", usageMetricsAddr)
	unhealthyAfter := fs.Duration("unhealthy-after", defaultUnhealthyAfter, "/healthz answers 503 once the lease table has not been reached for this long")
	settings := defineAWSFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return errCLIUsage
	}
	if len(pos) != 1 {
		return usageError("consume", "takes one STREAM, got %d arguments", len(pos))
	}
	if c.app == "" {
		return usageError("consume", "needs --app APP (the lease table)")
	}
	if c.format != "raw" && c.format != "jsonl" {
		return fmt.Errorf("%w: --format must be raw or jsonl, not %q", errCLIUsage, c.format)
	}
	start, err := consumeStart(c.from)
	if err != nil {
		return fmt.Errorf("%w: %w", errCLIUsage, err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %w", errCLIUsage, err)
	}
	if c.owner == "" {
		c.owner = defaultOwner()
	}
	if *stats {
		if *statsEvery <= 0 {
			return fmt.Errorf("%w: --stats-interval must be positive", errCLIUsage)
		}
		c.stats = newShardStats()
		defer startShardStats(stderr, "shardwise consume: ", *statsEvery, c.stats)()
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	var leaseOpts []lease.Option
	if *metricsAddr != "" {
		if *unhealthyAfter <= 0 {
			return fmt.Errorf("%w: --unhealthy-after must be positive", errCLIUsage)
		}
		stop, err := startConsumeMetrics(&c, pos[0], *metricsAddr, *unhealthyAfter, stderr, log)
		if err != nil {
			return err
		}
		defer stop()
		leaseOpts = append(leaseOpts, lease.WithHooks(c.metrics))
	}

	cfg, err := loadAWSConfig(ctx, *settings)
	if err != nil {
		return err
	}
	kc, db := kinesis.NewFromConfig(cfg), dynamodb.NewFromConfig(cfg)
	if *efo != "" {
		// SubscribeToShard needs HTTP/2: h2c for plain-HTTP local endpoints (see tail --efo).
		if kc, err = newFanOutKinesisClient(ctx, *settings); err != nil {
			return err
		}
		c.efo = *efo
	}
	m, err := lease.NewManager(db, c.app, c.owner, append(leaseOpts, lease.Failover(c.failover), lease.WithLogger(log))...)
	if err != nil {
		return fmt.Errorf("%w: %w", errCLIUsage, err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		return err
	}
	n, err := consume(ctx, kc, m, pos[0], start, c, stdout, log)
	fmt.Fprintf(stderr, "shardwise consume: %d records (owner %s)\n", n, c.owner)
	return err
}

// consumeStart maps --from to the worker's initial position.
func consumeStart(from string) (kcl.Position, error) {
	switch strings.ToLower(from) {
	case "trim-horizon", "trim_horizon":
		return kcl.TrimHorizon, nil
	case "latest":
		return kcl.Latest, nil
	}
	t, err := time.Parse(time.RFC3339Nano, from)
	if err != nil {
		return kcl.Position{}, fmt.Errorf("--from must be trim-horizon, latest or an RFC 3339 timestamp: %q", from)
	}
	return kcl.AtTimestamp(t), nil
}

func defaultOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// printer is shared by the processors of one consume run: it prints records one line at a time, counts
// them against --max and notes activity for --idle-timeout.
type printer struct {
	mu      sync.Mutex
	w       io.Writer
	format  string
	max     int
	printed int
	err     error         // first write error
	full    chan struct{} // closed when max records were printed or a write failed
	active  chan struct{} // cap 1: a record was printed
}

// print writes the records of a batch in order and returns how many it printed (fewer than all once
// --max is reached or a write failed).
func (p *printer) print(shardID string, recs []kcl.Record) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range recs {
		if p.err != nil || (p.max > 0 && p.printed >= p.max) {
			break
		}
		err := writeRecord(p.w, p.format, outRecord{
			ShardID: shardID, SequenceNumber: r.Position.SequenceNumber, SubSequenceNumber: r.Position.SubSequenceNumber,
			PartitionKey: r.PartitionKey, ExplicitHashKey: r.ExplicitHashKey, Data: r.Data, Arrival: r.ApproximateArrival,
		})
		if err != nil {
			p.err = err
			close(p.full)
			break
		}
		p.printed++
		n++
		if p.max > 0 && p.printed == p.max {
			close(p.full)
		}
	}
	if n > 0 {
		select {
		case p.active <- struct{}{}:
		default:
		}
	}
	return n
}

// printProcessor prints its shard's records and checkpoints the last printed one after each batch.
type printProcessor struct {
	p     *printer
	stats *shardStats
}

func (pp printProcessor) Initialize(context.Context, kcl.InitializeInput) error { return nil }

func (pp printProcessor) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	n := pp.p.print(in.ShardID, in.Records)
	pp.stats.behind(in.ShardID, in.MillisBehindLatest)
	if pp.stats != nil {
		bytes := 0
		for _, r := range in.Records[:n] {
			bytes += len(r.Data)
		}
		pp.stats.printed(in.ShardID, n, bytes)
	}
	if n == 0 {
		return nil
	}
	err := in.Checkpointer.Checkpoint(ctx, in.Records[n-1].Position)
	if errors.Is(err, kcl.ErrLeaseLost) {
		return nil // the next owner resumes after the last stored checkpoint
	}
	return err
}

func (pp printProcessor) Shutdown(ctx context.Context, in kcl.ShutdownInput) error { return nil }

// consume runs a worker that prints records until ctx ends (SIGINT/SIGTERM), --max records were printed
// or --idle-timeout passed; each of these ends with a graceful Shutdown (bounded by --grace) so leases are
// released for the other consumers.
func consume(ctx context.Context, kc kcl.KinesisAPI, m *lease.Manager, stream string, start kcl.Position, c consumeConfig, w io.Writer, log *slog.Logger) (int, error) {
	p := &printer{w: w, format: c.format, max: c.max, full: make(chan struct{}), active: make(chan struct{}, 1)}
	opts := []kcl.Option{kcl.StartAt(start), kcl.PollInterval(c.pollInterval), kcl.ShardSyncInterval(c.syncInterval), kcl.WithLogger(log)}
	if c.efo != "" {
		opts = append(opts, kcl.EnhancedFanOut(c.efo))
	}
	if c.takeInterval > 0 {
		opts = append(opts, kcl.TakeInterval(c.takeInterval))
	}
	if c.metrics != nil {
		opts = append(opts, kcl.WithHooks(c.metrics))
	}
	worker, err := kcl.NewWorker(kc, m, stream, func(string) kcl.RecordProcessor { return printProcessor{p, c.stats} }, opts...)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errCLIUsage, err)
	}
	// The worker runs on a context that signals do not cancel: a signal asks for a graceful Shutdown, and
	// only the end of the grace period stops it hard.
	hard, stopHard := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHard()
	done := make(chan error, 1)
	go func() { done <- worker.Run(hard) }()

	var idleC <-chan time.Time
	var watchers sync.WaitGroup
	defer watchers.Wait() // the watcher exits once hard is cancelled, which happens before return
	if c.idleTimeout > 0 {
		idle := time.NewTimer(c.idleTimeout)
		defer idle.Stop()
		idleC = idle.C
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			for {
				select {
				case <-p.active:
					idle.Reset(c.idleTimeout)
				case <-hard.Done():
					return
				}
			}
		}()
	}
	var runErr error
	select {
	case runErr = <-done:
	case <-ctx.Done():
	case <-p.full:
	case <-idleC:
	}
	if runErr == nil {
		grace, cancel := context.WithTimeout(hard, c.grace)
		if err := worker.Shutdown(grace); err != nil {
			log.Warn("graceful shutdown timed out; stopping hard", "err", err)
			stopHard()
		}
		cancel()
		runErr = <-done
	}
	stopHard() // ends the idle watcher; watchers.Wait runs on return
	p.mu.Lock()
	printed, werr := p.printed, p.err
	p.mu.Unlock()
	if errors.Is(runErr, kcl.ErrWorkerClosed) || errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	return printed, errors.Join(runErr, werr)
}
