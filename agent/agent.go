package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"

	"github.com/shardwise/shardwise/internal/backoff"
	"github.com/shardwise/shardwise/internal/sqliteread"
	"github.com/shardwise/shardwise/kpl"
)

// An Agent tails the files of its flows and sends their records to Kinesis through one kpl
// producer per flow. Run it once; Stats is safe for concurrent use.
type Agent struct {
	cfg     Config
	client  kpl.KinesisAPI
	opts    options
	log     *slog.Logger
	procs   [][]processor
	started atomic.Bool
	stats   counters
	hooks   hooks
	fm      []*flowMetrics // one per flow of cfg.Flows, in order (see Stats)
	// runStarted and checkpointed are unix nanoseconds: when Run started, and when the
	// checkpoint file last held every offset the flows had published (0: not yet).
	runStarted, checkpointed atomic.Int64

	flows       []*flow
	lastWritten *checkpointFile // what the checkpoint file holds (nil: not known yet)
	// nextCheckpoint is when the checkpoint file may be written again: see checkpointBytesPerSecond.
	nextCheckpoint time.Time
}

// checkpointBytesPerSecond bounds the rate at which the checkpoint file is rewritten while
// offsets move: after writing n bytes, the next write waits n/checkpointBytesPerSecond seconds
// (at least CheckpointInterval). A small file is written every CheckpointInterval; 2,000 files'
// entries (about 850 KB) are written every 13 s or so instead of every second, so the disk sees
// at most about 3.75 MiB a minute however many files move. The final write at shutdown is not
// delayed.
const checkpointBytesPerSecond = 64 << 10

type counters struct {
	recordsRead, recordsSent, recordsFailed, recordsFiltered, recordsTruncated, recordsRetried atomic.Int64
	bytesRead, checkpointsWritten                                                              atomic.Int64
}

// Stats counts what the agent did since Run started, with each flow's figures (Flows).
type Stats struct {
	RecordsRead        int64 // records cut from files (header lines excluded)
	RecordsSent        int64 // records Kinesis accepted
	RecordsFailed      int64 // records rejected for good (invalid or too large): logged and skipped
	RecordsFiltered    int64 // records a processing option dropped (LOGTOJSON lines not matching)
	RecordsTruncated   int64 // records cut at the record size limit
	RecordsRetried     int64 // re-sends of records the producer had given up on
	BytesRead          int64 // bytes read from tracked files
	CheckpointsWritten int64 // checkpoint database writes
	// Started is when Run started (zero before).
	Started time.Time
	// CheckpointAge is how long ago the checkpoint file last held every offset the flows had
	// published (since Started until the first time): it grows while writes fail or are held
	// back by the checkpoint write rate limit, and bounds what a crash would send again.
	CheckpointAge time.Duration
	// Flows has one entry per flow, in the order of Config.Flows.
	Flows []FlowStats
}

// New validates cfg and the options and returns an Agent that sends to Kinesis through client
// (a *kinesis.Client satisfies kpl.KinesisAPI). It starts nothing: see Run. Errors are
// *ConfigError values wrapping ErrInvalidConfig.
func New(cfg Config, client kpl.KinesisAPI, opts ...Option) (*Agent, error) {
	if client == nil {
		return nil, configErr("", "nil Kinesis client")
	}
	o := defaultOptions()
	if cfg.ShutdownTimeout > 0 {
		o.shutdownTimeout = cfg.ShutdownTimeout // "shutdownTimeoutMillis"; the option overrides it
	}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(&o)
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	h, err := sortHooks(o.hooks)
	if err != nil {
		return nil, err
	}
	if cfg.CheckpointFile == "" {
		cfg.CheckpointFile = DefaultCheckpointFile
	}
	if sqliteread.IsSQLite(cfg.CheckpointFile) {
		// The Kinesis Agent's own checkpoint database: taken over, never written to.
		o.logger.Warn("checkpointFile is the Kinesis Agent's SQLite database: its checkpoints are taken over at the first start, and Shardwise keeps its own file",
			"java_checkpoint_file", cfg.CheckpointFile, "checkpoint_file", DefaultCheckpointFile)
		if cfg.ImportJavaCheckpoints == "" {
			cfg.ImportJavaCheckpoints = cfg.CheckpointFile
		}
		cfg.CheckpointFile = DefaultCheckpointFile
	}
	for i, f := range cfg.Flows {
		if f.DeliveryStream != "" && o.firehose == nil {
			return nil, configErr(fmt.Sprintf("flows[%d].deliveryStream", i), "a Firehose flow needs a Firehose client (agent.WithFirehose)")
		}
	}
	a := &Agent{cfg: cfg, client: client, opts: o, log: o.logger, hooks: h}
	for _, f := range cfg.Flows {
		a.fm = append(a.fm, newFlowMetrics(f, &a.hooks))
	}
	for i, f := range cfg.Flows {
		var ps []processor
		for j, po := range f.DataProcessingOptions {
			p, err := newProcessor(po, fmt.Sprintf("flows[%d].dataProcessingOptions[%d].", i, j))
			if err != nil {
				return nil, err
			}
			if l, ok := p.(interface{ setLogger(*slog.Logger) }); ok {
				l.setLogger(o.logger.With("flow", fmt.Sprintf("flows[%d]", i)))
			}
			if e, ok := p.(interface{ setEC2Tags(EC2TagsAPI) }); ok && o.ec2Tags != nil {
				e.setEC2Tags(o.ec2Tags)
			}
			ps = append(ps, p)
		}
		a.procs = append(a.procs, ps)
	}
	return a, nil
}

// Run tails files and sends records until ctx ends. Then it stops reading, flushes for at most
// ShutdownTimeout, closes the producers, writes the checkpoint file and returns nil. Offsets
// resume from the checkpoint file (CheckpointFile). It returns early with a *CheckpointError if
// the checkpoint file cannot be read or is corrupt, or with the producer's error if one cannot be
// created. Run may be called once.
func (a *Agent) Run(ctx context.Context) error {
	if !a.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	a.runStarted.Store(time.Now().UnixNano())
	if err := checkCheckpointDir(a.cfg.CheckpointFile); err != nil {
		return err
	}
	warnOpenCheckpointPerms(a.log, a.cfg.CheckpointFile)
	state, err := loadCheckpointFile(a.cfg.CheckpointFile)
	if err != nil {
		return err
	}
	if err := a.takeOver(&state); err != nil {
		return err
	}
	loaded := time.Now().UTC()
	for i := range state.Files {
		if state.Files[i].LastSeen.IsZero() {
			state.Files[i].LastSeen = loaded // written before LastSeen existed
		}
	}
	saved := state.Files
	a.lastWritten = &state
	for i, fc := range a.cfg.Flows {
		if fc.Aggregation {
			if err := a.checkAggregationPermissions(ctx, i, fc.KinesisStream); err != nil {
				return err
			}
		}
	}
	for i, fc := range a.cfg.Flows {
		var mine []fileCheckpoint
		for _, c := range saved {
			if c.FilePattern == fc.FilePattern && c.Stream == fc.streamKey() {
				mine = append(mine, c)
			}
		}
		var started time.Time
		for _, m := range state.Flows {
			if m.FilePattern == fc.FilePattern && m.Stream == fc.streamKey() {
				started = m.Started
			}
		}
		if started.IsZero() && len(mine) > 0 {
			started = loaded // a checkpoint file written before the markers existed
		}
		fl := newFlow(a, fc, a.procs[i], mine, started)
		fl.m = a.fm[i]
		if fl.prod, err = a.newSender(fc, fl.m); err != nil {
			for _, done := range a.flows {
				done.prod.Close()
			}
			return fmt.Errorf("agent: flows[%d]: %w", i, err)
		}
		a.flows = append(a.flows, fl)
	}
	a.log.Info("agent started", "flows", len(a.flows), "checkpoint_file", a.cfg.CheckpointFile)

	// putCtx outlives ctx by the shutdown timeout, so what was read can still be delivered.
	putCtx, cancelPut := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelPut()
	var wg sync.WaitGroup
	for _, fl := range a.flows {
		wg.Go(func() { fl.run(ctx, putCtx) })
	}
	ticker := time.NewTicker(a.opts.checkpointInterval)
	defer ticker.Stop()
	progress := time.NewTicker(a.progressInterval())
	defer progress.Stop()
loop:
	for {
		select {
		case <-progress.C:
			a.logProgress()
		case now := <-ticker.C:
			if now.Before(a.nextCheckpoint) {
				break
			}
			if err := a.writeCheckpoint(); err != nil {
				a.log.Error("writing checkpoint failed", "err", err)
			}
		case <-ctx.Done():
			break loop
		}
	}
	a.log.Info("agent stopping: flushing", "timeout", a.opts.shutdownTimeout.String())
	flowsDone := make(chan struct{})
	go func() { wg.Wait(); close(flowsDone) }()
	grace := time.NewTimer(a.opts.shutdownTimeout)
	defer grace.Stop()
	select {
	case <-flowsDone:
	case <-grace.C:
		cancelPut()
		<-flowsDone
	}
	for _, fl := range a.flows { // the flows' goroutines have ended: their final figures
		fl.m.refresh(fl, time.Now())
	}
	if err := a.writeCheckpoint(); err != nil {
		return err
	}
	a.logProgress()
	s := a.Stats()
	a.log.Info("agent stopped", "records_sent", s.RecordsSent, "records_failed", s.RecordsFailed)
	return nil
}

func (a *Agent) producerOptions(f Flow, m *flowMetrics) []kpl.Option {
	// RecordTTL(0): the producer retries throttling and failures until it is closed; the agent
	// never gives up on a record either (see settle). StrictOrdering keeps a file's records in
	// order on their shard when PutRecords entries fail and are retried.
	opts := []kpl.Option{kpl.RecordTTL(0), kpl.StrictOrdering(), kpl.WithLogger(a.log)}
	if m != nil {
		opts = append(opts, kpl.WithHooks(m)) // RecordSendAttempts, RecordSendErrors, ServiceErrors
	}
	if !f.Aggregation {
		// The Kinesis Agent's wire format: one line per Kinesis record, with PutRecords only (no
		// ListShards, which the usual IAM policy of the Kinesis Agent does not grant).
		opts = append(opts, kpl.DisableAggregation(), kpl.DisableShardPrediction())
	}
	opts = append(opts, kpl.Linger(cmp.Or(f.MaxBufferAge, DefaultMaxBufferAge)))
	if f.MaxBufferSizeRecords > 0 {
		opts = append(opts, kpl.BatchMaxRecords(f.MaxBufferSizeRecords))
	}
	if f.MaxBufferSizeBytes > 0 {
		opts = append(opts, kpl.BatchMaxBytes(f.MaxBufferSizeBytes))
	}
	if f.RetryInitialBackoff > 0 || f.RetryMaxBackoff > 0 {
		p := f.retryPolicy(backoff.Policy{})
		opts = append(opts, kpl.RetryBackoff(p.Base, max(p.Max, p.Base)))
	}
	return append(opts, a.opts.producerOpts...)
}

// checkAggregationPermissions calls ListShards and DescribeStreamSummary once for a flow with
// shardwise.aggregation: the producer needs both to aggregate, and would otherwise fall back to
// sending one record per line, in silence but for a Warn. A denied call is a *PermissionError;
// other failures (the stream does not exist yet, the network) are logged and left to the producer.
func (a *Agent) checkAggregationPermissions(ctx context.Context, i int, stream string) error {
	var name, arn *string
	if strings.HasPrefix(stream, "arn:") {
		arn = &stream
	} else {
		name = &stream
	}
	_, err := a.client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: name, StreamARN: arn, MaxResults: aws.Int32(1)})
	action := "kinesis:ListShards"
	if err == nil {
		_, err = a.client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name, StreamARN: arn})
		action = "kinesis:DescribeStreamSummary"
	}
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "AccessDeniedException" {
		return &PermissionError{Flow: fmt.Sprintf("flows[%d]", i), Stream: stream, Action: action, Err: err}
	}
	a.log.Warn("checking the permissions of shardwise.aggregation failed", "flow", i, "stream", stream, "action", action, "err", err)
	return nil
}

// writeCheckpoint writes the flows' offsets if they changed since the last write.
func (a *Agent) writeCheckpoint() error {
	var all checkpointFile
	for _, fl := range a.flows {
		files, marker := fl.snapshot()
		all.Files = append(all.Files, files...)
		if !marker.Started.IsZero() {
			all.Flows = append(all.Flows, marker)
		}
	}
	if a.lastWritten != nil && slices.Equal(all.Files, a.lastWritten.Files) && slices.Equal(all.Flows, a.lastWritten.Flows) {
		a.checkpointed.Store(time.Now().UnixNano())
		return nil
	}
	start := time.Now()
	err := writeCheckpointFile(a.cfg.CheckpointFile, all)
	for _, h := range a.hooks.checkpoint {
		h.OnCheckpointWritten(CheckpointEvent{Path: a.cfg.CheckpointFile, Files: len(all.Files), Duration: time.Since(start), Err: err})
	}
	if err != nil {
		return err
	}
	a.lastWritten = &all
	a.stats.checkpointsWritten.Add(1)
	a.checkpointed.Store(start.UnixNano())
	if fi, err := os.Stat(a.cfg.CheckpointFile); err == nil {
		a.nextCheckpoint = start.Add(time.Duration(fi.Size()) * time.Second / checkpointBytesPerSecond)
	}
	return nil
}

// Stats returns a snapshot of the counters and of each flow's figures.
func (a *Agent) Stats() Stats {
	c := &a.stats
	now := time.Now()
	s := Stats{
		RecordsRead:        c.recordsRead.Load(),
		RecordsSent:        c.recordsSent.Load(),
		RecordsFailed:      c.recordsFailed.Load(),
		RecordsFiltered:    c.recordsFiltered.Load(),
		RecordsTruncated:   c.recordsTruncated.Load(),
		RecordsRetried:     c.recordsRetried.Load(),
		BytesRead:          c.bytesRead.Load(),
		CheckpointsWritten: c.checkpointsWritten.Load(),
		Flows:              make([]FlowStats, len(a.fm)),
	}
	for i, m := range a.fm {
		s.Flows[i] = m.stats(now)
	}
	if ns := a.runStarted.Load(); ns != 0 {
		s.Started = time.Unix(0, ns)
		if cp := a.checkpointed.Load(); cp != 0 {
			s.CheckpointAge = max(now.Sub(time.Unix(0, cp)), 0)
		} else {
			s.CheckpointAge = max(now.Sub(s.Started), 0)
		}
	}
	return s
}
