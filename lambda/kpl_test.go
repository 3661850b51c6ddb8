package kinesislambda_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
	kinesislambda "github.com/shardwise/shardwise/lambda"
	"github.com/shardwise/shardwise/lease"
)

// put is one user record given to kpl, with where kpl says it went.
type put struct {
	rec kpl.Record
	res kpl.Result
}

// odd is a Kinesis record written with PutRecords directly, not by kpl: data a consumer must deliver
// as one plain record, with or without a decode error.
type odd struct {
	name       string
	key        string
	data       []byte
	decodeErr  error // the error DecodeError must match (errors.Is), nil for none
	seq, shard string
}

// stream is a kinesistest stream filled by two kpl producers (aggregating; aggregating and
// compressing) and by PutRecords with odd payloads.
type stream struct {
	srv  *kinesistest.Server
	kc   *kinesis.Client
	name string
	puts []put
	odds []odd
}

// newStream starts a kinesistest server with one stream. The server lives until the test binary ends
// (TestMain closes it), so that tests reading the same data share it.
func newStream(t *testing.T, shards int) *stream {
	t.Helper()
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	servers.Lock()
	servers.list = append(servers.list, srv)
	servers.Unlock()
	s := &stream{srv: srv, kc: srv.KinesisClient(), name: "lambda-src"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(s.name), ShardCount: aws.Int32(int32(shards))}); err != nil {
		t.Fatal(err)
	}
	return s
}

// produce puts n user records through a kpl producer with opts and records kpl's results.
func (s *stream) produce(t *testing.T, n int, seed uint64, opts ...kpl.Option) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := kpl.New(s.kc, s.name, opts...) // default linger (100ms): Flush sends what is left
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	futures := make([]*kpl.Future, n)
	recs := make([]kpl.Record, n)
	for i := range n {
		r := kpl.Record{PartitionKey: fmt.Sprintf("user-%d-%d", seed, rng.IntN(60))}
		switch {
		case i%7 == 3: // explicit hash keys (the KPL puts them in the aggregate's table)
			r.ExplicitHashKey = fmt.Sprint(rng.Uint64())
		case i%97 == 5: // too large for an aggregate: sent alone
			r.Data = bytes.Repeat([]byte{byte(i)}, aggregation.DefaultMaxSize+1000)
		}
		if r.Data == nil && i%13 != 0 { // every 13th record has empty data
			r.Data = fmt.Appendf(nil, `{"seed":%d,"i":%d,"pad":"%s"}`, seed, i, bytes.Repeat([]byte("x"), rng.IntN(200)))
		}
		recs[i] = r
		futures[i] = p.PutAsync(ctx, r)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, f := range futures {
		res, err := f.Wait(ctx)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		s.puts = append(s.puts, put{rec: recs[i], res: res})
	}
	p.Close()
}

// putOdds writes the odd payloads with PutRecords.
func (s *stream) putOdds(t *testing.T) {
	t.Helper()
	agg := aggregation.NewAggregator(aggregation.DefaultMaxSize)
	for _, k := range []string{"a1", "a2"} {
		if err := agg.Add(aggregation.Record{PartitionKey: k, Data: []byte("sub " + k)}); err != nil {
			t.Fatal(err)
		}
	}
	good, _, err := agg.Flush()
	if err != nil {
		t.Fatal(err)
	}
	badMD5 := bytes.Clone(good.Data)
	badMD5[len(badMD5)-1] ^= 0xFF
	body := []byte("\x0a\x05ab") // a key table entry running past the end of the body
	sum := md5.Sum(body)
	corruptBody := append(append([]byte(aggregation.Magic), body...), sum[:]...)
	frame := append(append([]byte(compression.Magic), compression.FormatZstd), binary.AppendUvarint(nil, 12)...)
	corruptFrame := append(frame, 0x28, 0xB5, 0x2F, 0xFD, 1, 2, 3, 4)

	s.odds = []odd{
		{name: "aggregate with a wrong MD5 trailer", key: "odd-md5", data: badMD5},
		{name: "aggregate with a corrupt body", key: "odd-body", data: corruptBody, decodeErr: aggregation.ErrCorrupt},
		{name: "corrupt compression frame", key: "odd-frame", data: corruptFrame, decodeErr: compression.ErrCorrupt},
		{name: "magic only", key: "odd-magic", data: []byte(aggregation.Magic)},
		{name: "empty data", key: "odd-empty", data: []byte{}},
		{name: "plain text", key: "odd-text", data: []byte("just a line")},
	}
	var entries []types.PutRecordsRequestEntry
	for _, o := range s.odds {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(o.key), Data: o.data})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.name), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("PutRecords: %v %+v", err, out)
	}
	for i, e := range out.Records {
		s.odds[i].seq, s.odds[i].shard = aws.ToString(e.SequenceNumber), aws.ToString(e.ShardId)
	}
}

// servers are the kinesistest servers the tests started, closed by TestMain.
var servers struct {
	sync.Mutex
	list []*kinesistest.Server
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, srv := range servers.list {
		srv.Close()
	}
	os.Exit(code)
}

// shared builds a test fixture once for all the tests that read it (they only read).
type shared[T any] struct {
	mu  sync.Mutex
	val T
	ok  bool
}

func (s *shared[T]) get(t *testing.T, build func(t *testing.T) T) T {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ok {
		s.val = build(t) // a failure fails this test; the next caller tries again
		s.ok = !t.Failed()
	}
	return s.val
}

var filled shared[*stream]

// fill is the two-shard stream the end-to-end tests read: plain and aggregated kpl output, compressed
// kpl output, and the odd payloads.
func fill(t *testing.T) *stream {
	return filled.get(t, func(t *testing.T) *stream {
		s := newStream(t, 2)
		s.produce(t, 3000, 1)
		s.produce(t, 1000, 2, kpl.CompressZstd())
		s.putOdds(t)
		return s
	})
}

// lambdaRecords reads every shard, cuts it into events of batch Kinesis records as the event source
// mapping would, and returns the user records of each shard.
func (s *stream) lambdaRecords(t *testing.T, batch int) map[string][]kinesislambda.Record {
	t.Helper()
	out := map[string][]kinesislambda.Record{}
	for id, recs := range s.kinesisRecords(t) {
		for _, ev := range lambdaEvents(t, s.name, id, recs, batch) {
			out[id] = kinesislambda.AppendRecords(out[id], ev)
		}
	}
	return out
}

// kinesisRecords reads every shard from TRIM_HORIZON.
func (s *stream) kinesisRecords(t *testing.T) map[string][]types.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := map[string][]types.Record{}
	for _, id := range shardIDs(ctx, t, s.kc, s.name) {
		out[id] = readShard(ctx, t, s.kc, s.name, id)
	}
	return out
}

type position struct {
	seq string
	sub int
}

// TestKPLOutput: every user record kpl delivered comes out of the Lambda events once, in shard order,
// with its partition key, explicit hash key, data, and the shard, sequence and sub-sequence numbers
// kpl reported; the odd payloads come out as one plain record each, with DecodeError where the data
// looked encoded and was not.
func TestKPLOutput(t *testing.T) {
	s := fill(t)
	got := s.lambdaRecords(t, 100)

	byPos := map[position]kinesislambda.Record{}
	total := 0
	for shard, recs := range got {
		for i, r := range recs {
			if r.ShardID != shard {
				t.Fatalf("record %d of %s: ShardID %q", i, shard, r.ShardID)
			}
			if r.Source == nil || r.Source.Kinesis.SequenceNumber != r.SequenceNumber ||
				r.Source.EventSourceArn != "arn:aws:kinesis:us-east-1:123456789012:stream/lambda-src" {
				t.Fatalf("record %d of %s: Source %+v", i, shard, r.Source)
			}
			if i > 0 && !r.After(recs[i-1].SequenceNumber, recs[i-1].SubSequenceNumber) {
				t.Fatalf("%s: record %d (%s/%d) not after record %d (%s/%d)", shard, i, r.SequenceNumber,
					r.SubSequenceNumber, i-1, recs[i-1].SequenceNumber, recs[i-1].SubSequenceNumber)
			}
			p := position{r.SequenceNumber, r.SubSequenceNumber}
			if _, dup := byPos[p]; dup {
				t.Fatalf("position %v delivered twice", p)
			}
			byPos[p] = r
			total++
		}
	}
	if want := len(s.puts) + len(s.odds); total != want {
		t.Errorf("%d user records out of the events, want %d", total, want)
	}

	aggregated, compressed := 0, 0
	for i, p := range s.puts {
		r, ok := byPos[position{p.res.SequenceNumber, p.res.SubSequenceNumber}]
		if !ok {
			t.Fatalf("put %d (%+v) not in the events", i, p.res)
		}
		if r.PartitionKey != p.rec.PartitionKey || r.ExplicitHashKey != p.rec.ExplicitHashKey ||
			!bytes.Equal(r.Data, p.rec.Data) || r.Aggregated != p.res.Aggregated || r.ShardID != p.res.ShardID ||
			r.DecodeError != nil {
			t.Fatalf("put %d: got {pk %q ehk %q data %d B aggregated %v shard %s err %v}, want {pk %q ehk %q data %d B aggregated %v shard %s}",
				i, r.PartitionKey, r.ExplicitHashKey, len(r.Data), r.Aggregated, r.ShardID, r.DecodeError,
				p.rec.PartitionKey, p.rec.ExplicitHashKey, len(p.rec.Data), p.res.Aggregated, p.res.ShardID)
		}
		if r.ApproximateArrival.IsZero() {
			t.Fatalf("put %d: no arrival time", i)
		}
		if r.Aggregated {
			aggregated++
		}
		if compression.IsFramed(r.Source.Kinesis.Data) {
			compressed++
		}
	}
	// The stream must hold what the test claims to cover.
	if aggregated < len(s.puts)/2 || aggregated == len(s.puts) || compressed < 500 {
		t.Errorf("%d of %d puts aggregated, %d compressed: the stream does not cover plain, aggregated and compressed records", aggregated, len(s.puts), compressed)
	}

	for _, o := range s.odds {
		r, ok := byPos[position{o.seq, 0}]
		if !ok {
			t.Fatalf("%s: not in the events", o.name)
		}
		if r.PartitionKey != o.key || !bytes.Equal(r.Data, o.data) || r.Aggregated || r.ShardID != o.shard {
			t.Errorf("%s: got {pk %q data %q aggregated %v shard %s}, want one plain record {pk %q data %q shard %s}",
				o.name, r.PartitionKey, r.Data, r.Aggregated, r.ShardID, o.key, o.data, o.shard)
		}
		if (o.decodeErr == nil) != (r.DecodeError == nil) || (o.decodeErr != nil && !errors.Is(r.DecodeError, o.decodeErr)) {
			t.Errorf("%s: DecodeError %v, want %v", o.name, r.DecodeError, o.decodeErr)
		}
	}
}

// kclRecord is what a kcl processor received, Data copied.
type kclRecord struct {
	rec  kcl.Record
	data []byte
}

type collector struct {
	mu      sync.Mutex
	shards  map[string][]kclRecord
	total   int
	want    int
	done    chan struct{}
	corrupt map[string]error // sequence number -> error, from HookCorruptRecord
}

var _ kcl.HookCorruptRecord = (*collector)(nil)

func (c *collector) OnCorruptRecord(e kcl.CorruptEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corrupt[e.SequenceNumber] = e.Err
}

type collectProc struct {
	c     *collector
	shard string
}

func (p collectProc) Initialize(context.Context, kcl.InitializeInput) error { return nil }

func (p collectProc) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	p.c.mu.Lock()
	for _, r := range in.Records {
		p.c.shards[p.shard] = append(p.c.shards[p.shard], kclRecord{rec: r, data: bytes.Clone(r.Data)})
		p.c.total++
	}
	if p.c.total >= p.c.want && p.c.done != nil {
		close(p.c.done)
		p.c.done = nil
	}
	p.c.mu.Unlock()
	return nil
}

func (p collectProc) Shutdown(context.Context, kcl.ShutdownInput) error { return nil }

// TestMatchesKCL: a kcl worker reading the same stream receives the same user records, shard by shard
// and in the same order, as the Lambda events give: partition key, explicit hash key, data, sequence
// and sub-sequence numbers, the aggregated flag and the arrival time; the records kcl reports corrupt
// are the ones with DecodeError.
func TestMatchesKCL(t *testing.T) {
	s := fill(t)
	got := s.lambdaRecords(t, 50)
	want := len(s.puts) + len(s.odds)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := lease.NewManager(fakeaws.NewDynamoDB(), "lambda-compare", "w1")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	c := &collector{shards: map[string][]kclRecord{}, want: want, done: done, corrupt: map[string]error{}}
	w, err := kcl.NewWorker(s.kc, m, s.name, func(shard string) kcl.RecordProcessor { return collectProc{c: c, shard: shard} },
		kcl.StartAt(kcl.TrimHorizon), kcl.PollInterval(200*time.Millisecond), kcl.WithHooks(c))
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(ctx) }()
	select {
	case <-done:
	case err := <-runErr:
		t.Fatalf("worker stopped: %v", err)
	case <-ctx.Done():
		c.mu.Lock()
		t.Fatalf("kcl delivered %d of %d records", c.total, want)
	}
	if err := w.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-runErr; !errors.Is(err, kcl.ErrWorkerClosed) {
		t.Fatalf("Run: %v", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total != want {
		t.Fatalf("kcl delivered %d records, want %d", c.total, want)
	}
	decodeErrs := 0
	for shard, lrecs := range got {
		krecs := c.shards[shard]
		if len(krecs) != len(lrecs) {
			t.Fatalf("%s: kcl %d records, Lambda events %d", shard, len(krecs), len(lrecs))
		}
		for i, l := range lrecs {
			k := krecs[i].rec
			if l.PartitionKey != k.PartitionKey || l.ExplicitHashKey != k.ExplicitHashKey || !bytes.Equal(l.Data, krecs[i].data) ||
				l.SequenceNumber != k.Position.SequenceNumber || l.SubSequenceNumber != k.Position.SubSequenceNumber ||
				l.Aggregated != k.Aggregated || !l.ApproximateArrival.Equal(k.ApproximateArrival) {
				t.Fatalf("%s record %d:\nLambda {pk %q ehk %q data %d B %s/%d aggregated %v arrival %v}\nkcl    {pk %q ehk %q data %d B %v aggregated %v arrival %v}",
					shard, i, l.PartitionKey, l.ExplicitHashKey, len(l.Data), l.SequenceNumber, l.SubSequenceNumber, l.Aggregated, l.ApproximateArrival,
					k.PartitionKey, k.ExplicitHashKey, len(krecs[i].data), k.Position, k.Aggregated, k.ApproximateArrival)
			}
			_, reported := c.corrupt[l.SequenceNumber]
			if reported != (l.DecodeError != nil) {
				t.Errorf("%s record %d (%s): DecodeError %v, kcl reported corrupt: %v", shard, i, l.SequenceNumber, l.DecodeError, reported)
			}
			if l.DecodeError != nil {
				decodeErrs++
			}
		}
	}
	if decodeErrs != 2 {
		t.Errorf("%d records with DecodeError, want 2 (corrupt body, corrupt frame)", decodeErrs)
	}
}
