package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
	"github.com/shardwise/shardwise/kinesistest"
)

// putTestLines returns n JSON lines of exactly size bytes (newline excluded), each with partition
// key field "k" (1000 distinct keys) and its 0-based index in "n".
func putTestLines(n, size int) []byte {
	var b bytes.Buffer
	b.Grow(n * (size + 1))
	for i := range n {
		head := fmt.Sprintf(`{"k":"user-%d","n":%d,"pad":"`, i%1000, i)
		b.WriteString(head)
		b.WriteString(strings.Repeat("x", max(size-len(head)-2, 0)))
		b.WriteString("\"}\n")
	}
	return b.Bytes()
}

// triggerReader calls fire in a new goroutine once at bytes have been read through it, and records
// fire's error; wait waits for that goroutine.
type triggerReader struct {
	r    io.Reader
	read int
	at   int
	fire func() error
	once sync.Once
	wg   sync.WaitGroup
	err  error
}

func (t *triggerReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.read += n
	if t.read >= t.at {
		t.once.Do(func() {
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				t.err = t.fire()
			}()
		})
	}
	return n, err
}

func (t *triggerReader) wait() error {
	t.wg.Wait()
	return t.err
}

// putFaultsRun is one put of lines through putLines into a new 2-shard kinesistest stream whose
// PutRecords, ListShards and DescribeStreamSummary calls (the producer's) meet random faults at
// rate with seed (the set-up, split and read-back calls bypass them). With split, shard 0 is split
// when five sixths of the input have been read.
type putFaultsRun struct {
	lines, size int
	rate        float64
	seed        uint64
	split       bool
}

type putFaultsResult struct {
	out  putOutcome
	err  error
	seen []int  // by line index: how many times the line is in the stream, when read back
	log  string // put's stderr
}

func (r putFaultsRun) do(tb testing.TB, ctx context.Context, readBack bool) putFaultsResult {
	tb.Helper()
	srv, err := kinesistest.NewServer(kinesistest.Faults(kinesistest.FaultConfig{Rate: r.rate, Seed: r.seed}))
	if err != nil {
		tb.Fatal(err)
	}
	defer srv.Close()
	var faultsOn atomic.Bool
	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		switch req.Op {
		case "PutRecords", "ListShards", "DescribeStreamSummary":
			return kinesistest.Action{}, !faultsOn.Load() // handled: no fault
		}
		return kinesistest.Action{}, true
	})
	kc := srv.KinesisClient()
	const stream = "faults"
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(2)}); err != nil {
		tb.Fatal(err)
	}
	data := putTestLines(r.lines, r.size)
	tr := &triggerReader{r: bytes.NewReader(data), at: len(data) + 1, fire: func() error { return nil }}
	if r.split {
		tr.at = len(data) * 5 / 6
		tr.fire = func() error {
			_, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream),
				ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("85070591730234615865843651857942052864")})
			return err
		}
	}
	var log bytes.Buffer
	faultsOn.Store(true)
	var res putFaultsResult
	res.out, res.err = putLines(ctx, kc, stream, putConfig{keyField: "k", linger: defaultPutLinger}, tr, &log)
	faultsOn.Store(false)
	if err := tr.wait(); err != nil {
		tb.Fatalf("SplitShard: %v", err)
	}
	res.log = log.String()
	if readBack {
		res.seen = readBackLines(tb, ctx, kc, stream, r.lines)
	}
	return res
}

// readBackLines reads every shard of stream from TRIM_HORIZON to its end and counts, by line index
// (the lines' "n"), how many times each line is there.
func readBackLines(tb testing.TB, ctx context.Context, kc *kinesis.Client, stream string, lines int) []int {
	tb.Helper()
	seen := make([]int, lines)
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		tb.Fatal(err)
	}
	for _, sh := range shards.Shards {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			tb.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				tb.Fatal(err)
			}
			for _, rec := range out.Records {
				data, _, err := compression.Decode(rec.Data)
				if err != nil {
					tb.Fatal(err)
				}
				urs, err := aggregation.Deaggregate(data)
				if err != nil {
					tb.Fatal(err)
				}
				for _, u := range urs {
					var line struct{ N int }
					if err := json.Unmarshal(u.Data, &line); err != nil || line.N < 0 || line.N >= lines {
						tb.Fatalf("read back a record that is no input line: %q (%v)", u.Data, err)
					}
					seen[line.N]++
				}
			}
			if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
				break // an open shard's end
			}
			iter = out.NextShardIterator // nil past a closed shard's end
		}
	}
	return seen
}

// TestPutFaults is the acceptance test of `shardwise put` under kinesistest's 20 % faults (entry
// InternalFailures, and whole-call 500s, 503s, 1 s stalls and connection resets): no line fails,
// without and with a shard split during the put, and every line is in the stream (resets may add
// duplicates).
func TestPutFaults(t *testing.T) {
	for _, split := range []bool{false, true} {
		name := "20% faults"
		if split {
			name += " and a split"
		}
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			r := putFaultsRun{lines: 20_000, size: 100, rate: 0.2, seed: 20260501, split: split}
			res := r.do(t, ctx, true)
			if res.err != nil || res.out.failed != 0 {
				t.Fatalf("put: %v, %d of %d lines failed\n%s", res.err, res.out.failed, res.out.records, res.log)
			}
			missing := 0
			for i, n := range res.seen {
				if n == 0 {
					if missing < 5 {
						t.Errorf("line %d (0-based) is not in the stream", i)
					}
					missing++
				}
			}
			if missing > 0 {
				t.Fatalf("%d of %d lines are not in the stream", missing, r.lines)
			}
			st := res.out.stats
			t.Logf("%.0f records/s; producer: %d calls, %d entries retried, %d ambiguous, %d wrong shard, %d map refreshes",
				float64(res.out.records)/res.out.elapsed.Seconds(), st.PutRecordsCalls, st.EntriesRetried, st.AmbiguousRecords, st.WrongShard, st.ShardMapRefreshes)
		})
	}
}

// BenchmarkPutFaults is the acceptance benchmark behind the issue: 300,000 JSON lines of 100 B with
// a key field through put into 2 kinesistest shards, without faults, with 20 % faults, and with 20 %
// faults and a split during the put. It reports records/s of each, the faulty/clean ratio and the
// failed lines. Run it with -benchtime 1x (each iteration takes about a minute).
func BenchmarkPutFaults(b *testing.B) {
	ctx := context.Background()
	var clean, faulty, split, failed, failedSplit float64
	for b.Loop() {
		runs := []putFaultsRun{
			{lines: 300_000, size: 100},
			{lines: 300_000, size: 100, rate: 0.2, seed: 1},
			{lines: 300_000, size: 100, rate: 0.2, seed: 1, split: true},
		}
		var rates, fails [3]float64
		for i, r := range runs {
			res := r.do(b, ctx, false)
			rates[i] = float64(res.out.records) / res.out.elapsed.Seconds()
			fails[i] = float64(res.out.failed)
			st := res.out.stats
			b.Logf("lines %d, fault rate %.2f, split %v: %.0f records/s, %d failed (err %v); %d calls, %d entries retried, %d ambiguous, %d wrong shard",
				r.lines, r.rate, r.split, rates[i], res.out.failed, res.err, st.PutRecordsCalls, st.EntriesRetried, st.AmbiguousRecords, st.WrongShard)
		}
		clean, faulty, split = clean+rates[0], faulty+rates[1], split+rates[2]
		failed, failedSplit = failed+fails[1], failedSplit+fails[2]
	}
	n := float64(b.N)
	b.ReportMetric(clean/n, "clean-records/s")
	b.ReportMetric(faulty/n, "faults-records/s")
	b.ReportMetric(faulty/clean, "faults/clean")
	b.ReportMetric(failed/n, "faults-failed")
	b.ReportMetric(split/n, "split-records/s")
	b.ReportMetric(failedSplit/n, "split-failed")
}

// bubbleKinesis starts, inside the test's synctest bubble, a kinesistest server on its virtual
// network holding stream "s" of two shards (hash ranges split at 2^127, as CreateStream makes
// them), with opts added; it is closed when the test ends. The wire protocol and the SDK client
// are real, time is the bubble's: a put paced by the producer's rate limit takes fake seconds.
func bubbleKinesis(t *testing.T, opts ...kinesistest.Option) *kinesistest.Server {
	t.Helper()
	base := []kinesistest.Option{kinesistest.VirtualNetwork(), kinesistest.Stream("s", 2)}
	srv, err := kinesistest.NewServer(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// failPuts returns a control answering every PutRecords call with InternalFailure (HTTP 500,
// nothing written) while down reports true, as in an outage of the stream; other calls pass.
// Inside a bubble, down may read the bubble's clock.
func failPuts(down func() bool) kinesistest.ControlFunc {
	return func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op != "PutRecords" || !down() {
			return kinesistest.Action{}, false
		}
		return kinesistest.Action{Err: kinesistest.NewError(kinesistest.CodeInternalFailure)}, true
	}
}

// missingAndDuplicated counts the lines readBackLines found not at all, and more than once.
func missingAndDuplicated(counts []int) (missing, duplicated int) {
	for _, n := range counts {
		switch {
		case n == 0:
			missing++
		case n > 1:
			duplicated++
		}
	}
	return missing, duplicated
}

// TestPutPaceUnderFaults checks, in a synctest bubble against kinesistest, that put loses no line
// and keeps at least half its fault-free pace when 20 % of PutRecords entries and 10 % of calls
// fail with InternalFailure (each try then succeeds with probability 0.72, so about 0.7 of the pace
// is expected): a failed entry of a call that delivered others must not stall its shard. The pace
// is the producer's rate limit (150 % of 1 MiB/s per shard) in fake time, so the figures are exact.
// Every line is read back: in the stream exactly once (these faults write nothing, so a copy
// would be a delivered entry sent again).
func TestPutPaceUnderFaults(t *testing.T) {
	const lines = 20_000
	data := putTestLines(lines, 1000)
	run := func(name string, opts ...kinesistest.Option) time.Duration {
		var took time.Duration
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := bubbleKinesis(t, opts...)
				kc := srv.KinesisClient()
				var log bytes.Buffer
				out, err := putLines(t.Context(), kc, "s", putConfig{keyField: "k", linger: defaultPutLinger}, bytes.NewReader(data), &log)
				if err != nil || out.failed != 0 {
					t.Fatalf("put: %v, %d of %d lines failed\n%s", err, out.failed, lines, log.String())
				}
				if missing, dup := missingAndDuplicated(readBackLines(t, t.Context(), kc, "s", lines)); missing+dup != 0 {
					t.Fatalf("of %d lines, %d are not in the stream and %d are there more than once", lines, missing, dup)
				}
				took = out.elapsed
				t.Logf("%v (fake time), %d calls, %d entries retried", took, out.stats.PutRecordsCalls, out.stats.EntriesRetried)
			})
		})
		return took
	}
	clean := run("no faults")
	faulty := run("faults", kinesistest.Faults(kinesistest.FaultConfig{Rate: 0.1, EntryRate: 0.2, Ops: []string{"PutRecords"},
		Kinds: []kinesistest.FaultKind{kinesistest.FaultEntryFailure, kinesistest.FaultInternalError}, Seed: 7}))
	if clean <= 0 || faulty > 2*clean {
		t.Fatalf("put took %v with faults, %v without: the faults cost more than half the pace", faulty, clean)
	}
}
