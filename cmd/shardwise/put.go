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
	progress       bool // print a live progress line (stderr is a terminal)
}

// maxLine is the longest stdin line accepted: the largest Kinesis record.
const maxLine = 10 << 20

func runPut(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("put", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c putConfig
	fs.StringVar(&c.keyField, "key-field", "", "use this top-level JSON field of each line as the partition key")
	fs.StringVar(&c.key, "key", "", "use this partition key for every record")
	fs.BoolVar(&c.noAggregate, "no-aggregate", false, "send each line as its own Kinesis record")
	fs.StringVar(&c.compress, "compress", "", "compress Kinesis record payloads: zstd")
	fs.BoolVar(&c.strictOrdering, "strict-ordering", false, "keep per-key order under retries (one record per shard per call)")
	fs.DurationVar(&c.linger, "linger", 100*time.Millisecond, "how long a record may wait for others to share its aggregate")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return errCLIUsage
	}
	if len(pos) != 1 || (c.key != "" && c.keyField != "") || (c.compress != "" && c.compress != "zstd") || c.linger < 0 {
		fmt.Fprintln(stderr, "usage: shardwise put STREAM [--key-field F | --key K] [--no-aggregate] [--compress zstd] [--strict-ordering] [--linger D]  < lines")
		return errCLIUsage
	}
	if f, ok := stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			c.progress = true
		}
	}
	kc, err := newKinesisClient(ctx)
	if err != nil {
		return err
	}
	return putCommand(ctx, kc, pos[0], c, os.Stdin, stderr)
}

// putSummary counts what put did.
type putSummary struct {
	records, bytes, failed atomic.Int64
}

// putCommand reads stdin lines into a kpl Producer and prints a summary; it fails when any record
// failed.
func putCommand(ctx context.Context, kc kpl.KinesisAPI, stream string, c putConfig, stdin io.Reader, stderr io.Writer) error {
	opts := []kpl.Option{kpl.Linger(c.linger)}
	if c.noAggregate {
		opts = append(opts, kpl.DisableAggregation())
	}
	if c.compress == "zstd" {
		opts = append(opts, kpl.CompressZstd())
	}
	if c.strictOrdering {
		opts = append(opts, kpl.StrictOrdering())
	}
	p, err := kpl.New(kc, stream, opts...)
	if err != nil {
		return err
	}
	defer p.Close()

	start := time.Now()
	var sum putSummary
	var firstErrs sync.Mutex
	reported := 0
	report := func(line int64, err error) {
		sum.failed.Add(1)
		firstErrs.Lock()
		defer firstErrs.Unlock()
		if reported < 5 {
			fmt.Fprintf(stderr, "shardwise put: line %d: %v\n", line, err)
		}
		reported++
	}

	// The collector waits for futures in put order. The channel holds as many futures as the
	// producer can buffer, so it never throttles the reader below the producer's own backpressure
	// (a smaller one would keep aggregates from filling and make every record wait for linger).
	type pending struct {
		line int64
		f    *kpl.Future
	}
	futures := make(chan pending, kpl.DefaultMaxBufferedRecords)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for pd := range futures {
			if _, err := pd.f.Wait(context.Background()); err != nil {
				report(pd.line, err)
			}
		}
	}()
	stopProgress := func() {}
	if c.progress {
		stopProgress = startProgress(&sum, start, stderr)
	}

	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine+1)
	var line int64
	var readErr error
	for sc.Scan() {
		line++
		data := append([]byte(nil), sc.Bytes()...)
		key, err := partitionKey(c, data)
		sum.records.Add(1)
		sum.bytes.Add(int64(len(data)))
		if err != nil {
			report(line, err)
			continue
		}
		futures <- pending{line: line, f: p.PutAsync(ctx, kpl.Record{PartitionKey: key, Data: data})}
		if ctx.Err() != nil {
			break
		}
	}
	if err := sc.Err(); err != nil {
		readErr = fmt.Errorf("reading stdin: %w", err)
	}
	flushErr := p.Flush(ctx)
	close(futures)
	wg.Wait()
	stopProgress()
	p.Close()

	el := time.Since(start)
	n, f := sum.records.Load(), sum.failed.Load()
	fmt.Fprintf(stderr, "shardwise put: %d records, %d bytes, %d failed, %s elapsed, %.0f records/s\n",
		n, sum.bytes.Load(), f, el.Round(time.Millisecond), float64(n)/max(el.Seconds(), 1e-9))
	switch {
	case readErr != nil:
		return readErr
	case f > 0:
		return fmt.Errorf("%d of %d records failed", f, n)
	case flushErr != nil:
		return flushErr
	}
	return nil
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

// startProgress redraws a one-line progress report on a terminal twice a second until stopped.
func startProgress(sum *putSummary, start time.Time, w io.Writer) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				n := sum.records.Load()
				fmt.Fprintf(w, "\r\033[K%d records, %d failed, %.0f records/s", n, sum.failed.Load(),
					float64(n)/max(time.Since(start).Seconds(), 1e-9))
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}
