package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
	"github.com/shardwise/shardwise/lease"
)

type benchConfig struct {
	target     string // "local" or "aws"
	shards     int
	records    int
	size       int
	keys       int
	rateLimit  int // -1: the target's default
	limits     bool
	aggregate  bool
	compress   bool
	consume    bool
	format     string
	drainLimit time.Duration
	progress   io.Writer // a terminal for the live progress line; nil: none
}

// benchReport is what bench prints (--format json prints it as is).
type benchReport struct {
	Target  string         `json:"target"`
	Stream  string         `json:"stream"`
	Shards  int            `json:"shards"`
	Records int            `json:"records"`
	Size    int            `json:"recordBytes"`
	Keys    int            `json:"partitionKeys"`
	Produce produceFigures `json:"produce"`
	Consume *consumeFigure `json:"consume,omitempty"`
}

type produceFigures struct {
	Delivered     int     `json:"delivered"`
	Failed        int     `json:"failed"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"recordsPerSecond"`
	MBPerSec      float64 `json:"megabytesPerSecond"`
	LatencyP50Ms  float64 `json:"latencyP50Ms"`
	LatencyP99Ms  float64 `json:"latencyP99Ms"`
	LatencyMaxMs  float64 `json:"latencyMaxMs"`
	Retries       int64   `json:"retries"`
}

type consumeFigure struct {
	Records       int64   `json:"records"`
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"recordsPerSecond"`
	// CPUSeconds is this process's CPU while draining (with a local target the server's is included).
	CPUSeconds float64 `json:"cpuSeconds"`
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", stderr)
	var c benchConfig
	fs.StringVar(&c.target, "target", "local", "`local` (in-process kinesistest) or aws (the configured endpoint)")
	fs.IntVar(&c.shards, "shards", 4, "number of shards of the benchmark stream")
	fs.IntVar(&c.records, "records", 200000, "user records to put")
	fs.IntVar(&c.size, "size", 100, "bytes of data per record")
	fs.IntVar(&c.keys, "keys", 1000, usageKeys)
	fs.IntVar(&c.rateLimit, "rate-limit", -1, "producer rate limit in percent of the shard limits, 0 off (default: 150, or off for a local target without --enforce-limits)")
	fs.BoolVar(&c.limits, "enforce-limits", false, usageEnforce)
	noAgg := fs.Bool("no-aggregate", false, usageNoAggregate)
	var compress string
	fs.Var((*compressValue)(&compress), "compress", usageCompress)
	noConsume := fs.Bool("no-consume", false, "only produce")
	fs.StringVar(&c.format, "format", "text", formatUsage("text", "json"))
	fs.DurationVar(&c.drainLimit, "drain-timeout", 5*time.Minute, usageDrainTimeout)
	settings := defineAWSFlags(fs)
	// --compress was a bool flag: a bare --compress still means zstd.
	if err := fs.Parse(valueOnlyForm(args, "compress", "zstd", stderr)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%v: %w", err, errCLIUsage)
	}
	c.aggregate, c.consume, c.compress = !*noAgg, !*noConsume, compress == "zstd"
	switch {
	case fs.NArg() != 0:
		return fmt.Errorf("bench takes no arguments, got %q: %w", fs.Args(), errCLIUsage)
	case c.target != "local" && c.target != "aws":
		return fmt.Errorf("--target must be local or aws, got %q: %w", c.target, errCLIUsage)
	case c.shards < 1 || c.records < 1 || c.keys < 1 || c.size < 1:
		return fmt.Errorf("--shards, --records, --size and --keys must be positive: %w", errCLIUsage)
	case c.size > 1<<20:
		return fmt.Errorf("--size is at most 1 MiB (the Kinesis record limit): %w", errCLIUsage)
	case c.format != "text" && c.format != "json":
		return fmt.Errorf("--format must be text or json, got %q: %w", c.format, errCLIUsage)
	case (settings.region != "" || settings.profile != "") && c.target != "aws":
		return fmt.Errorf("--region and --profile apply to --target aws only: %w", errCLIUsage)
	case c.limits && c.target != "local":
		return fmt.Errorf("--enforce-limits applies to --target local only: %w", errCLIUsage)
	}
	if c.rateLimit < 0 {
		c.rateLimit = 150
		if c.target == "local" && !c.limits {
			c.rateLimit = 0 // nothing to protect: measure the producer, not its rate limiter
		}
	}

	var kc *kinesis.Client
	if c.target == "local" {
		var opts []kinesistest.Option
		if c.limits {
			opts = append(opts, kinesistest.EnforceLimits())
		}
		srv, err := kinesistest.NewServer(opts...)
		if err != nil {
			return err
		}
		defer srv.Close()
		kc = srv.KinesisClient()
	} else {
		var err error
		if kc, err = newKinesisClient(ctx, *settings); err != nil {
			return err
		}
	}
	if isTerminal(stderr) {
		c.progress = stderr
	}
	rep, err := bench(ctx, kc, c, stderr)
	if rep != nil {
		if c.format == "json" {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			_ = enc.Encode(rep) // to stdout, unchecked as printBench's lines are
		} else {
			printBench(stdout, rep)
		}
	}
	return err
}

// bench creates a stream, produces, consumes and deletes the stream. The report is returned with
// what was measured even when a later step fails.
func bench(ctx context.Context, kc *kinesis.Client, c benchConfig, progress io.Writer) (rep *benchReport, err error) {
	var suffix [4]byte
	rand.Read(suffix[:])
	stream := "shardwise-bench-" + hex.EncodeToString(suffix[:])
	fmt.Fprintf(progress, "creating stream %s with %d shards\n", stream, c.shards)
	if err := streamCommand(ctx, kc, []string{"create", stream, "--shards", strconv.Itoa(c.shards)}, io.Discard, progress); err != nil {
		return nil, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, derr := kc.DeleteStream(dctx, &kinesis.DeleteStreamInput{StreamName: aws.String(stream)}); derr != nil {
			err = errors.Join(err, fmt.Errorf("deleting benchmark stream: %w", derr))
		}
	}()
	rep = &benchReport{Target: c.target, Stream: stream, Shards: c.shards, Records: c.records, Size: c.size, Keys: c.keys}

	fmt.Fprintf(progress, "putting %d records of %d bytes\n", c.records, c.size)
	if rep.Produce, err = benchProduce(ctx, kc, stream, c); err != nil {
		return rep, err
	}
	if rep.Produce.Failed > 0 {
		return rep, fmt.Errorf("%d of %d records failed", rep.Produce.Failed, c.records)
	}
	if !c.consume {
		return rep, nil
	}
	fmt.Fprintf(progress, "reading %d records back with a kcl worker\n", c.records)
	rep.Consume, err = benchConsume(ctx, kc, stream, c)
	return rep, err
}

// latencies collects put latencies from the producer's HookRecordDone.
type latencies struct {
	mu      sync.Mutex
	d       []time.Duration
	retries atomic.Int64
}

func (l *latencies) OnRecordDone(e kpl.RecordDoneEvent) {
	if e.Attempts > 1 {
		l.retries.Add(int64(e.Attempts - 1))
	}
	l.mu.Lock()
	l.d = append(l.d, e.Latency)
	l.mu.Unlock()
}

func benchProduce(ctx context.Context, kc *kinesis.Client, stream string, c benchConfig) (produceFigures, error) {
	lat := &latencies{d: make([]time.Duration, 0, c.records)}
	opts := []kpl.Option{kpl.RateLimit(c.rateLimit), kpl.WithHooks(lat)}
	if !c.aggregate {
		opts = append(opts, kpl.DisableAggregation())
	}
	if c.compress {
		opts = append(opts, kpl.CompressZstd())
	}
	p, err := kpl.New(kc, stream, opts...)
	if err != nil {
		return produceFigures{}, err
	}
	keys := make([]string, c.keys)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	data := make([]byte, c.size)
	rand.Read(data)
	start := time.Now()
	stopProgress := func() {}
	if c.progress != nil {
		stopProgress = startProgressLine(c.progress, "put: ", func() progressSample {
			st := p.Stats()
			return progressSample{at: time.Now(), records: int64(st.RecordsDelivered), bytes: int64(st.RecordsDelivered) * int64(c.size),
				failed: int64(st.RecordsFailed), buffered: int64(st.BufferedRecords)}
		})
	}
	futures := make([]*kpl.Future, c.records)
	for i := range futures {
		// Every record shares one read-only data slice.
		futures[i] = p.PutAsync(ctx, kpl.Record{PartitionKey: keys[i%len(keys)], Data: data})
	}
	flushErr := p.Flush(ctx)
	var f produceFigures
	for _, fu := range futures {
		if _, err := fu.Wait(ctx); err != nil {
			f.Failed++
		} else {
			f.Delivered++
		}
	}
	elapsed := time.Since(start)
	stopProgress()
	p.Close()
	if flushErr != nil && f.Failed == 0 {
		return f, fmt.Errorf("flushing the producer: %w", flushErr)
	}
	f.Seconds = elapsed.Seconds()
	f.RecordsPerSec = float64(f.Delivered) / f.Seconds
	f.MBPerSec = float64(f.Delivered*c.size) / 1e6 / f.Seconds
	lat.mu.Lock()
	slices.Sort(lat.d)
	f.LatencyP50Ms, f.LatencyP99Ms, f.LatencyMaxMs = quantileMs(lat.d, 0.50), quantileMs(lat.d, 0.99), quantileMs(lat.d, 1)
	lat.mu.Unlock()
	f.Retries = lat.retries.Load()
	return f, nil
}

// quantileMs returns the q-quantile of sorted durations in milliseconds (0 when empty).
func quantileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}

// countingProcessor counts user records and closes done once want have arrived.
type countingProcessor struct {
	n    *atomic.Int64
	want int64
	done chan struct{}
}

func (p countingProcessor) Initialize(context.Context, kcl.InitializeInput) error { return nil }
func (p countingProcessor) Shutdown(context.Context, kcl.ShutdownInput) error     { return nil }
func (p countingProcessor) ProcessRecords(_ context.Context, in kcl.ProcessRecordsInput) error {
	if p.n.Add(int64(len(in.Records))) == p.want {
		close(p.done)
	}
	return nil
}

func benchConsume(ctx context.Context, kc *kinesis.Client, stream string, c benchConfig) (*consumeFigure, error) {
	m, err := lease.NewManager(fakeaws.NewDynamoDB(), stream, "bench-worker")
	if err != nil {
		return nil, err
	}
	if err := m.EnsureTable(ctx); err != nil {
		return nil, err
	}
	var n atomic.Int64
	done := make(chan struct{})
	proc := countingProcessor{n: &n, want: int64(c.records), done: done}
	opts := []kcl.Option{kcl.PollInterval(200 * time.Millisecond), kcl.StartAt(kcl.TrimHorizon),
		kcl.WithLogger(slog.New(slog.DiscardHandler))}
	if c.target == "local" && !c.limits {
		opts = append(opts, kcl.ShardReadRate(0)) // no 2 MiB/s per shard to honour
	}
	w, err := kcl.NewWorker(kc, m, stream, func(string) kcl.RecordProcessor { return proc }, append(opts, kcl.TakeInterval(time.Second))...)
	if err != nil {
		return nil, err
	}
	cpu0, start := processCPU(), time.Now()
	if c.progress != nil {
		stop := startProgressLine(c.progress, "read: ", func() progressSample {
			got := n.Load()
			return progressSample{at: time.Now(), records: got, bytes: got * int64(c.size), buffered: -1}
		})
		defer stop()
	}
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(ctx) }()
	timeout := time.NewTimer(c.drainLimit)
	defer timeout.Stop()
	var waitErr error
	select {
	case <-done:
	case <-timeout.C:
		waitErr = fmt.Errorf("read %d of %d records in %v", n.Load(), c.records, c.drainLimit)
	case err := <-runErr:
		runErr <- err
		waitErr = fmt.Errorf("worker stopped after %d of %d records: %w", n.Load(), c.records, err)
	case <-ctx.Done():
		waitErr = ctx.Err()
	}
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := w.Shutdown(sctx); err != nil {
		waitErr = errors.Join(waitErr, err)
	}
	if err := <-runErr; err != nil && !errors.Is(err, kcl.ErrWorkerClosed) && !errors.Is(err, context.Canceled) {
		waitErr = errors.Join(waitErr, err)
	}
	got := n.Load()
	return &consumeFigure{Records: got, Seconds: elapsed.Seconds(), RecordsPerSec: float64(got) / elapsed.Seconds(),
		CPUSeconds: cpu.Seconds()}, waitErr
}

func printBench(w io.Writer, r *benchReport) {
	fmt.Fprintf(w, "stream %s (%s): %d shards, %d records of %d B over %d partition keys\n",
		r.Stream, r.Target, r.Shards, r.Records, r.Size, r.Keys)
	p := r.Produce
	fmt.Fprintf(w, "produce: %d delivered, %d failed in %.2fs: %.0f records/s, %.1f MB/s; put latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d retries\n",
		p.Delivered, p.Failed, p.Seconds, p.RecordsPerSec, p.MBPerSec, p.LatencyP50Ms, p.LatencyP99Ms, p.LatencyMaxMs, p.Retries)
	if c := r.Consume; c != nil {
		fmt.Fprintf(w, "consume: %d records in %.2fs: %.0f records/s; %.2f CPU-seconds in this process\n",
			c.Records, c.Seconds, c.RecordsPerSec, c.CPUSeconds)
	}
}
