package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardwise/shardwise/kpl"
)

// putConfig holds the flags of `shardwise put`.
type putConfig struct {
	keyField       string
	key            string
	noAggregate    bool
	compress       string
	strictOrdering bool
	linger         time.Duration
	progress       bool          // print a live progress line (stderr is a terminal)
	stallTimeout   time.Duration // give up after this long without progress (0: defaultPutStall)
	// where names line n of the input in messages ("day1.jsonl:7"); nil: "line n".
	where   func(n int64) string
	metrics *cliMetrics // --metrics-addr; nil: off
}

// maxLine is the longest stdin line accepted: the largest Kinesis record.
const maxLine = 10 << 20

// defaultPutLinger is the --linger default.
const defaultPutLinger = 100 * time.Millisecond

func runPut(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("put", stderr)
	var c putConfig
	fs.StringVar(&c.keyField, "key-field", "", "use this top-level JSON field of each line as the partition key")
	fs.StringVar(&c.key, "key", "", "use this partition key for every record")
	fs.BoolVar(&c.noAggregate, "no-aggregate", false, usageNoAggregate)
	fs.Var((*compressValue)(&c.compress), "compress", usageCompress)
	fs.BoolVar(&c.strictOrdering, "strict-ordering", false, "keep per-key order under retries and reshards (one record per shard per call)")
	fs.DurationVar(&c.linger, "linger", defaultPutLinger, "how long a record may wait for others to share its aggregate")
	metricsAddr := fs.String("metrics-addr", "", usageMetricsAddr)
	unhealthyAfter := fs.Duration("unhealthy-after", defaultUnhealthyAfter, "/healthz answers 503 once records have been buffered this long with none delivered")
	settings := defineAWSFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errCLIUsage
	}
	switch {
	case len(pos) < 1:
		return usageError("put", "needs a STREAM")
	case c.key != "" && c.keyField != "":
		return usageError("put", "--key and --key-field exclude each other")
	case c.linger < 0:
		return usageError("put", "--linger must not be negative")
	case *unhealthyAfter <= 0:
		return usageError("put", "--unhealthy-after must be positive")
	}
	in, err := openPutInputs(pos[1:], os.Stdin)
	if err != nil {
		return err
	}
	defer in.Close()
	c.where = in.where
	c.progress = isTerminal(stderr)
	kc, err := newKinesisClient(ctx, *settings)
	if err != nil {
		return err
	}
	if *metricsAddr != "" {
		stop, err := startPutMetrics(&c, pos[0], *metricsAddr, *unhealthyAfter, stderr)
		if err != nil {
			return err
		}
		defer stop()
	}
	return putCommand(ctx, kc, pos[0], c, in, stderr)
}

// deliveredCounter counts the records the producer delivered and their data bytes, for the
// progress line: its rates are what reaches Kinesis, not how fast the input is read (a file is read
// into the producer's buffer far faster than it drains).
type deliveredCounter struct{ records, bytes atomic.Int64 }

func (d *deliveredCounter) OnRecordDone(e kpl.RecordDoneEvent) {
	if e.Err == nil {
		d.records.Add(1)
		d.bytes.Add(int64(e.Bytes))
	}
}

// putSummary counts what put did.
type putSummary struct {
	records, bytes, failed atomic.Int64
}

// defaultPutStall is how long put waits while records are buffered and none of them is resolved
// (delivered or failed) before it gives up on them: nothing at all reaches the stream.
const defaultPutStall = time.Minute

// maxShownRanges caps the failed line ranges listed on stderr.
const maxShownRanges = 20

// putOutcome is what putLines did: lines read (bad ones included), their bytes, lines that failed,
// the time taken and the producer's final counters.
type putOutcome struct {
	records, bytes, failed int64
	elapsed                time.Duration
	stats                  kpl.Stats
}

// putCommand reads stdin lines into a kpl Producer and prints a summary; it fails when any record
// failed.
func putCommand(ctx context.Context, kc kpl.KinesisAPI, stream string, c putConfig, stdin io.Reader, stderr io.Writer) error {
	_, err := putLines(ctx, kc, stream, c, stdin, stderr)
	return err
}

// putProducerOptions returns the producer options for c. A pipe must never lose a line merely for
// having waited: with RecordTTL(0) a record is retried until delivered or failed for good, and
// PutAsync blocks while the buffer (the producer's default bounds) is full, which slows the reader
// instead. The buffer keeps its default size: waiting in it no longer costs records, and a
// smaller one would cap throughput on streams with many shards.
func putProducerOptions(c putConfig) []kpl.Option {
	opts := []kpl.Option{kpl.Linger(c.linger), kpl.RecordTTL(0)}
	if c.noAggregate {
		opts = append(opts, kpl.DisableAggregation())
	}
	if c.compress == "zstd" {
		opts = append(opts, kpl.CompressZstd())
	}
	if c.strictOrdering {
		opts = append(opts, kpl.StrictOrdering())
	}
	if c.metrics != nil {
		opts = append(opts, kpl.WithHooks(c.metrics))
	}
	return opts
}

// putLines does putCommand's work and also returns what it did. Lines that fail for good (a bad
// line, a terminal Kinesis error, an interrupt, or a stall: no record resolved for
// c.stallTimeout while some wait) are reported on stderr by number, as ranges.
func putLines(ctx context.Context, kc kpl.KinesisAPI, stream string, c putConfig, stdin io.Reader, stderr io.Writer) (putOutcome, error) {
	if err := putPreflight(ctx, kc, stream); err != nil {
		return putOutcome{}, err
	}
	opts := putProducerOptions(c)
	var delivered deliveredCounter
	if c.progress {
		opts = append(opts, kpl.WithHooks(&delivered))
	}
	p, err := kpl.New(kc, stream, opts...)
	if err != nil {
		return putOutcome{}, err
	}
	defer p.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()

	start := time.Now()
	var sum putSummary
	var failedLines lineRanges
	reported := 0
	var fatal error // the first failure no later line can escape: put stops reading
	report := func(line int64, err error) {
		sum.failed.Add(1)
		failedLines.add(line)
		if fatal != nil {
			return // failed because put stopped: the one fatal line says why
		}
		if msg, ok := fatalPutError(stream, err); ok {
			fatal = fmt.Errorf("stopped at %s: %s", lineName(c, line), msg)
			cancel()
			return
		}
		if reported < 5 {
			fmt.Fprintf(stderr, "shardwise put: %s: %v\n", lineName(c, line), err)
		}
		reported++
	}

	// The collector takes lines in read order (so failed lines form ranges) and waits for their
	// futures. The channel holds as many futures as the producer can buffer, so it never throttles
	// the reader below the producer's own backpressure (a smaller one would keep aggregates from
	// filling and make every record wait for linger).
	type pending struct {
		line int64
		f    *kpl.Future // nil when err is set
		err  error       // the line could not be put
	}
	futures := make(chan pending, kpl.DefaultMaxBufferedRecords)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for pd := range futures {
			err := pd.err
			if pd.f != nil {
				// Close resolves every future, so this wait ends.
				_, err = pd.f.Wait(context.Background())
			}
			if err != nil {
				report(pd.line, err)
			}
		}
	}()
	stall := c.stallTimeout
	if stall <= 0 {
		stall = defaultPutStall
	}
	var stalled atomic.Bool
	stopWatch := watchPutStall(p, stall, func() { stalled.Store(true); cancel() })
	stopProgress := func() {}
	if c.progress {
		stopProgress = startProgressLine(stderr, "", func() progressSample {
			return progressSample{at: time.Now(), records: delivered.records.Load(), bytes: delivered.bytes.Load(),
				failed: sum.failed.Load(), buffered: int64(p.Stats().BufferedRecords)}
		})
	}

	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine+1)
	var line int64
	var readErr error
	var held *pending // a future the reader could not hand over before runCtx ended
	for sc.Scan() {
		line++
		data := append([]byte(nil), sc.Bytes()...)
		sum.records.Add(1)
		sum.bytes.Add(int64(len(data)))
		pd := pending{line: line}
		if key, err := partitionKey(c, data); err != nil {
			pd.err = err
		} else {
			pd.f = p.PutAsync(runCtx, kpl.Record{PartitionKey: key, Data: data})
		}
		select {
		case futures <- pd:
		case <-runCtx.Done():
			held = &pd
		}
		if runCtx.Err() != nil {
			break
		}
	}
	if err := sc.Err(); err != nil {
		readErr = fmt.Errorf("reading the input: %w", err)
	}
	flushErr := p.Flush(runCtx)
	stopWatch()
	p.Close() // after an interrupt or a stall: fails what is left with kpl.ErrClosed
	if held != nil {
		futures <- *held
	}
	close(futures)
	wg.Wait()
	stopProgress()

	out := putOutcome{records: sum.records.Load(), bytes: sum.bytes.Load(), failed: sum.failed.Load(),
		elapsed: time.Since(start), stats: p.Stats()}
	fmt.Fprintf(stderr, "shardwise put: %d records, %d bytes, %d failed, %s elapsed, %.0f records/s\n",
		out.records, out.bytes, out.failed, out.elapsed.Round(time.Millisecond), float64(out.records)/max(out.elapsed.Seconds(), 1e-9))
	if out.failed > 0 {
		fmt.Fprintf(stderr, "shardwise put: failed lines: %s\n", failedLines.String())
	}
	switch {
	case readErr != nil:
		return out, readErr
	case fatal != nil:
		return out, fatal
	case stalled.Load():
		return out, fmt.Errorf("no record delivered for %v; gave up: %d of %d records failed", stall, out.failed, out.records)
	case out.failed > 0:
		return out, fmt.Errorf("%d of %d records failed", out.failed, out.records)
	case flushErr != nil:
		return out, flushErr
	}
	return out, nil
}

// watchPutStall calls giveUp once when records stay buffered and none is resolved for stall. It
// returns a function that stops the watch and waits for it.
func watchPutStall(p *kpl.Producer, stall time.Duration, giveUp func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(max(stall/8, time.Millisecond))
		defer t.Stop()
		var resolved uint64
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				st := p.Stats()
				if n := st.RecordsDelivered + st.RecordsFailed; n != resolved || st.BufferedRecords == 0 {
					resolved, last = n, now
					continue
				}
				if now.Sub(last) >= stall {
					giveUp()
					return
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// lineRanges collects line numbers, added in increasing order, as ranges of consecutive lines; it
// keeps the first maxShownRanges and counts the others.
type lineRanges struct {
	shown  [][2]int64
	ranges int // ranges in all
	last   int64
}

func (l *lineRanges) add(line int64) {
	if l.ranges > 0 && line == l.last+1 {
		if l.ranges <= maxShownRanges {
			l.shown[len(l.shown)-1][1] = line
		}
		l.last = line
		return
	}
	l.ranges++
	l.last = line
	if l.ranges <= maxShownRanges {
		l.shown = append(l.shown, [2]int64{line, line})
	}
}

// String lists the ranges: "3, 7-9, 12" and, past the cap, "... and N more ranges".
func (l *lineRanges) String() string {
	var b strings.Builder
	for i, r := range l.shown {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.FormatInt(r[0], 10))
		if r[1] != r[0] {
			b.WriteByte('-')
			b.WriteString(strconv.FormatInt(r[1], 10))
		}
	}
	if more := l.ranges - len(l.shown); more > 0 {
		fmt.Fprintf(&b, " and %d more ranges", more)
	}
	return b.String()
}

// partitionKey picks the record's key: --key, the --key-field of a JSON line, or a random key.
func partitionKey(c putConfig, data []byte) (string, error) {
	switch {
	case c.key != "":
		return c.key, nil
	case c.keyField != "":
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return "", fmt.Errorf("--key-field %s: line is not a JSON object: %w", c.keyField, err)
		}
		raw, ok := obj[c.keyField]
		if !ok {
			return "", fmt.Errorf("--key-field %s: field missing", c.keyField)
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if s == "" {
				return "", errors.New("--key-field " + c.keyField + ": empty string")
			}
			return s, nil
		}
		return string(raw), nil // numbers, booleans, objects: their JSON text
	}
	return strconv.FormatUint(rand.Uint64(), 36), nil
}
