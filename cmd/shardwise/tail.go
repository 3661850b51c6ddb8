package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/fanout"
	"github.com/shardwise/shardwise/internal/kinesisjson"
	"github.com/shardwise/shardwise/kinesisrecord"
)

// tailAPI is what tail calls; *kinesis.Client satisfies it.
type tailAPI interface {
	ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(context.Context, *kinesis.GetShardIteratorInput, ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
	fanout.StreamAPI // DescribeStreamSummary: the record distribution strategy
}

// outRecord is one user record as tail and consume print it.
type outRecord struct {
	ShardID           string
	SequenceNumber    string
	SubSequenceNumber int
	PartitionKey      string
	ExplicitHashKey   string
	Data              []byte
	Arrival           time.Time
}

type jsonlRecord struct {
	ShardID                     string `json:"shardId"`
	SequenceNumber              string `json:"sequenceNumber"`
	SubSequenceNumber           int    `json:"subSequenceNumber"`
	PartitionKey                string `json:"partitionKey"`
	ExplicitHashKey             string `json:"explicitHashKey,omitempty"`
	Data                        string `json:"data"`
	ApproximateArrivalTimestamp string `json:"approximateArrivalTimestamp"`
}

// writeRecord prints r as one line in the given format ("raw" or "jsonl").
func writeRecord(w io.Writer, format string, r outRecord) error {
	if format == "raw" {
		line := make([]byte, 0, len(r.Data)+1)
		line = append(append(line, r.Data...), '\n')
		_, err := w.Write(line)
		return err
	}
	b, err := json.Marshal(jsonlRecord{
		ShardID: r.ShardID, SequenceNumber: r.SequenceNumber, SubSequenceNumber: r.SubSequenceNumber,
		PartitionKey: r.PartitionKey, ExplicitHashKey: r.ExplicitHashKey,
		Data:                        base64.StdEncoding.EncodeToString(r.Data),
		ApproximateArrivalTimestamp: r.Arrival.UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// userRecords turns one Kinesis record into the user records a KCL consumer would see, through the
// view kcl uses (package kinesisrecord): decompressed (Shardwise frame), deaggregated, corrupt data as
// one plain record, and sub-records outside rng dropped (none when rng is nil: AUTO streams and shards
// without a range, as kcl does). dec belongs to the calling reader.
func userRecords(dec *kinesisrecord.Decoder, shardID string, rng *aggregation.HashRange, rec types.Record) []outRecord {
	var out []outRecord
	arrival := aws.ToTime(rec.ApproximateArrivalTimestamp)
	_ = dec.Each(kinesisrecord.Record{Data: rec.Data, PartitionKey: aws.ToString(rec.PartitionKey), SequenceNumber: aws.ToString(rec.SequenceNumber)}, rng,
		func(u kinesisrecord.UserRecord) bool {
			if !u.OutsideRange {
				out = append(out, outRecord{ShardID: shardID, SequenceNumber: u.SequenceNumber, SubSequenceNumber: u.SubSequenceNumber,
					PartitionKey: u.PartitionKey, ExplicitHashKey: u.ExplicitHashKey, Data: u.Data, Arrival: arrival})
			}
			return true
		})
	return out
}

// shardRange returns the hash range to filter a shard's sub-records by, or nil when nothing is
// filtered: on streams with AUTO record distribution (records are placed whatever their keys) and
// for shards listed without a range.
func shardRange(s types.Shard, auto bool) (*aggregation.HashRange, error) {
	if auto || s.HashKeyRange == nil {
		return nil, nil
	}
	r, err := aggregation.ParseHashRange(aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey))
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", aws.ToString(s.ShardId), err)
	}
	return &r, nil
}

// autoDistribution reports whether stream uses the AUTO record distribution strategy, where kcl
// delivers every sub-record wherever its hash key lies. When DescribeStreamSummary fails, it says no,
// as kcl starts.
func autoDistribution(ctx context.Context, kc fanout.StreamAPI, stream string) bool {
	name, arn := streamFields(stream)
	out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: name, StreamARN: arn})
	return err == nil && out.StreamDescriptionSummary != nil &&
		out.StreamDescriptionSummary.RecordDistributionStrategy == types.RecordDistributionStrategyAuto
}

// minPollInterval keeps a reader within Kinesis's 5 GetRecords calls per second per shard.
const minPollInterval = 200 * time.Millisecond

// defaultTailPollInterval is tail's --poll-interval: tail is watched by a person, so it polls more
// often than a consume fleet (kcl.DefaultPollInterval), which pays for every call.
const defaultTailPollInterval = 250 * time.Millisecond

// The formats of tail and consume: one line per user record.
const (
	formatRaw   = "raw (the data and a newline)"
	formatJSONL = "jsonl (one JSON object per record)"
)

type tailConfig struct {
	from         string // trim-horizon, latest, or an RFC 3339 timestamp
	max          int
	idleTimeout  time.Duration
	format       string
	pollInterval time.Duration
	stats        *shardStats // --stats; nil: off
}

func (c tailConfig) validate() error {
	switch c.format {
	case "raw", "jsonl":
	default:
		return fmt.Errorf("--format must be raw or jsonl, not %q", c.format)
	}
	if _, _, err := startPosition(c.from); err != nil {
		return err
	}
	if c.pollInterval < minPollInterval {
		return fmt.Errorf("--poll-interval must be at least 200ms (5 GetRecords calls/s per shard)")
	}
	return nil
}

// startPosition maps --from to an iterator type and timestamp.
func startPosition(from string) (types.ShardIteratorType, *time.Time, error) {
	switch strings.ToLower(from) {
	case "trim-horizon", "trim_horizon":
		return types.ShardIteratorTypeTrimHorizon, nil, nil
	case "latest":
		return types.ShardIteratorTypeLatest, nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, from)
	if err != nil {
		return "", nil, fmt.Errorf("--from must be trim-horizon, latest or an RFC 3339 timestamp: %q", from)
	}
	return types.ShardIteratorTypeAtTimestamp, &t, nil
}

func runTail(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tail", stderr)
	var c tailConfig
	fs.StringVar(&c.from, "from", "latest", usageFrom)
	fs.IntVar(&c.max, "max", 0, usageMax)
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 0, usageIdleTimeout)
	fs.StringVar(&c.format, "format", "raw", formatUsage(formatRaw, formatJSONL))
	fs.DurationVar(&c.pollInterval, "poll-interval", defaultTailPollInterval, usagePollInterval)
	efo := fs.String("efo", "", usageEFO)
	stats := fs.Bool("stats", false, usageStats)
	statsEvery := fs.Duration("stats-interval", defaultStatsInterval, usageStatsEvery)
	settings := defineAWSFlags(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return errCLIUsage
	}
	if len(pos) != 1 {
		return usageError("tail", "takes one STREAM, got %d arguments", len(pos))
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: %w", errCLIUsage, err)
	}
	if *stats {
		if *statsEvery <= 0 {
			return fmt.Errorf("%w: --stats-interval must be positive", errCLIUsage)
		}
		c.stats = newShardStats()
		defer startShardStats(stderr, "shardwise tail: ", *statsEvery, c.stats)()
	}
	if *efo != "" {
		return runTailEFO(ctx, *settings, pos[0], *efo, c, stdout, stderr)
	}
	kc, err := newKinesisClient(ctx, *settings)
	if err != nil {
		return err
	}
	n, err := tailStream(ctx, kc, pos[0], c, stdout)
	fmt.Fprintf(stderr, "shardwise tail: %d records\n", n)
	return err
}

// tailStream prints the stream's user records until ctx ends, --max records were printed, or no record
// arrived for --idle-timeout. Shards are read in lineage order: a child starts once every parent it
// has in the stream is finished. It returns how many records it printed.
func tailStream(ctx context.Context, kc tailAPI, stream string, c tailConfig, w io.Writer) (int, error) {
	itType, ts, err := startPosition(c.from)
	if err != nil {
		return 0, err
	}
	shards, err := listAllShards(ctx, kc, stream)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	t := &tailer{kc: kc, stream: stream, cfg: c, itType: itType, ts: ts,
		lineage: newShardLineage(shards, itType == types.ShardIteratorTypeLatest),
		records: make(chan []outRecord, 16), ended: make(chan string, len(shards)+16), errs: make(chan error, 1)}
	t.streamName, t.streamARN = streamFields(stream)
	t.auto = autoDistribution(ctx, kc, stream)
	var wg sync.WaitGroup
	defer wg.Wait() // readers exit once ctx is cancelled (deferred earlier, so it runs after this)
	defer cancel()
	t.startReady(ctx, &wg)

	out := newTailPrinter(w, c)
	defer out.stop()
	for {
		select {
		case <-ctx.Done():
			return out.printed, nil
		case <-out.idle():
			return out.printed, nil
		case err := <-t.errs:
			return out.printed, err
		case id := <-t.ended:
			t.lineage.finish(id)
			if err := t.relist(ctx); err != nil {
				return out.printed, err
			}
			t.startReady(ctx, &wg)
		case batch := <-t.records:
			if done, err := out.print(batch); done || err != nil {
				return out.printed, err
			}
		}
	}
}

// tailPrinter writes user records for tail and tail --efo and tracks --max and --idle-timeout.
// It is owned by one goroutine.
type tailPrinter struct {
	w       io.Writer
	cfg     tailConfig
	printed int
	timer   *time.Timer // nil without --idle-timeout
}

func newTailPrinter(w io.Writer, c tailConfig) *tailPrinter {
	p := &tailPrinter{w: w, cfg: c}
	if c.idleTimeout > 0 {
		p.timer = time.NewTimer(c.idleTimeout)
	}
	return p
}

// idle fires after --idle-timeout without a record; it never fires without the flag.
func (p *tailPrinter) idle() <-chan time.Time {
	if p.timer == nil {
		return nil
	}
	return p.timer.C
}

// print writes a batch; done reports that --max was reached.
func (p *tailPrinter) print(batch []outRecord) (done bool, err error) {
	for _, r := range batch {
		if err := writeRecord(p.w, p.cfg.format, r); err != nil {
			return false, err
		}
		p.printed++
		p.cfg.stats.printed(r.ShardID, 1, len(r.Data))
		if p.cfg.max > 0 && p.printed >= p.cfg.max {
			return true, nil
		}
	}
	if p.timer != nil && len(batch) > 0 {
		p.timer.Reset(p.cfg.idleTimeout)
	}
	return false, nil
}

func (p *tailPrinter) stop() {
	if p.timer != nil {
		p.timer.Stop()
	}
}

type tailer struct {
	kc     tailAPI
	stream string
	auto   bool // AUTO record distribution: sub-records are not filtered by hash range
	// streamName and streamARN name the stream in GetShardIterator: one of them is set (streamFields).
	streamName, streamARN *string
	cfg                   tailConfig
	itType                types.ShardIteratorType
	ts                    *time.Time

	lineage *shardLineage // owned by the tailStream goroutine

	records chan []outRecord
	ended   chan string
	errs    chan error
}

// startReady starts a reader for every shard whose parents are all read.
func (t *tailer) startReady(ctx context.Context, wg *sync.WaitGroup) {
	shards, first := t.lineage.ready()
	for _, s := range shards {
		itType, ts := t.itType, t.ts
		if !first {
			// A shard that appeared while tailing holds only new data: read all of it.
			itType, ts = types.ShardIteratorTypeTrimHorizon, nil
		}
		wg.Go(func() { t.read(ctx, s, itType, ts) })
	}
}

// relist adds shards that appeared since the last listing (children after a reshard).
func (t *tailer) relist(ctx context.Context) error {
	shards, err := listAllShards(ctx, t.kc, t.stream)
	if err != nil {
		return err
	}
	t.lineage.add(shards...)
	return nil
}

// read polls one shard until it ends or ctx is cancelled.
func (t *tailer) read(ctx context.Context, s types.Shard, itType types.ShardIteratorType, ts *time.Time) {
	id := aws.ToString(s.ShardId)
	rng, err := shardRange(s, t.auto)
	if err != nil {
		t.fail(err)
		return
	}
	var dec kinesisrecord.Decoder
	it, err := t.kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: t.streamName, StreamARN: t.streamARN, ShardId: aws.String(id), ShardIteratorType: itType, Timestamp: ts,
	})
	if err != nil {
		if ctx.Err() == nil {
			t.fail(fmt.Errorf("iterator for %s: %w", id, err))
		}
		return
	}
	iter := it.ShardIterator
	var lastSeq string
	timer := time.NewTimer(0)
	defer timer.Stop()
	for iter != nil {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		out, err := t.kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter}, kinesisjson.FastGetRecords)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var exp *types.ExpiredIteratorException
			var thr *types.ProvisionedThroughputExceededException
			switch {
			case errors.As(err, &exp):
				in := &kinesis.GetShardIteratorInput{StreamName: t.streamName, StreamARN: t.streamARN, ShardId: aws.String(id),
					ShardIteratorType: itType, Timestamp: ts}
				if lastSeq != "" {
					in.ShardIteratorType, in.StartingSequenceNumber, in.Timestamp = types.ShardIteratorTypeAfterSequenceNumber, aws.String(lastSeq), nil
				}
				it, err := t.kc.GetShardIterator(ctx, in)
				if err != nil {
					t.fail(fmt.Errorf("renewing iterator for %s: %w", id, err))
					return
				}
				iter = it.ShardIterator
				timer.Reset(0)
				continue
			case errors.As(err, &thr):
				timer.Reset(time.Second)
				continue
			}
			t.fail(fmt.Errorf("reading %s: %w", id, err))
			return
		}
		t.cfg.stats.behind(id, aws.ToInt64(out.MillisBehindLatest))
		var batch []outRecord
		for _, r := range out.Records {
			batch = append(batch, userRecords(&dec, id, rng, r)...)
			lastSeq = aws.ToString(r.SequenceNumber)
		}
		if len(batch) > 0 {
			select {
			case t.records <- batch:
			case <-ctx.Done():
				return
			}
		}
		iter = out.NextShardIterator
		if len(out.Records) > 0 && aws.ToInt64(out.MillisBehindLatest) > 0 {
			timer.Reset(minPollInterval) // behind: read on as fast as 5 calls/s per shard allows
		} else {
			timer.Reset(t.cfg.pollInterval)
		}
	}
	// Shard end: the children become readable once all their parents are done.
	select {
	case t.ended <- id:
	case <-ctx.Done():
	}
}

func (t *tailer) fail(err error) {
	select {
	case t.errs <- err:
	default:
	}
}

// streamFields returns the StreamName and StreamARN members of a request naming stream: an ARN
// ("arn:aws:kinesis:region:account:stream/name", for a stream of another account) goes in StreamARN,
// a name in StreamName.
func streamFields(stream string) (name, arn *string) {
	if strings.HasPrefix(stream, "arn:") {
		return nil, aws.String(stream)
	}
	return aws.String(stream), nil
}
