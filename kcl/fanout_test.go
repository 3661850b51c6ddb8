package kcl_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/lease"
)

// efoEnv is a kinesistest server over TLS (HTTP/2) and an in-memory lease table.
type efoEnv struct {
	t   *testing.T
	srv *kinesistest.Server
	kc  *kinesis.Client
	db  *fakeaws.DynamoDB
}

// newEFOEnv starts the server on kinesistest's virtual network: call it inside a synctest bubble,
// where the fleet's timers (lease failover, subscription expiry, backoffs) run on the fake clock.
func newEFOEnv(t *testing.T, opts ...kinesistest.Option) *efoEnv {
	t.Helper()
	return newEnvOn(t, true, append([]kinesistest.Option{kinesistest.VirtualNetwork(), kinesistest.TLS()}, opts...)...)
}

// newEnvOn starts the server with opts; the SDK client speaks HTTP/2 when h2 is set (HTTP/2 by ALPN
// under TLS, h2c otherwise), else the server's default client (HTTP/1.1 without TLS).
func newEnvOn(t *testing.T, h2 bool, opts ...kinesistest.Option) *efoEnv {
	t.Helper()
	srv, err := kinesistest.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hc := srv.Client()
	if h2 {
		hc = srv.HTTP2Client()
	}
	kc := srv.KinesisClient(func(o *kinesis.Options) { o.HTTPClient = hc })
	e := &efoEnv{t: t, srv: srv, kc: kc, db: fakeaws.NewDynamoDB()}
	if err := e.manager("setup").EnsureTable(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *efoEnv) manager(owner string) *lease.Manager {
	e.t.Helper()
	m, err := lease.NewManager(e.db, "efo-app", owner, lease.Failover(3*time.Second))
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *efoEnv) createStream(name string, shards int32) {
	e.t.Helper()
	if _, err := e.kc.CreateStream(context.Background(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *efoEnv) put(stream, key string, data []byte) {
	e.t.Helper()
	if _, err := e.kc.PutRecord(context.Background(), &kinesis.PutRecordInput{StreamName: aws.String(stream),
		PartitionKey: aws.String(key), Data: data}); err != nil {
		e.t.Fatal(err)
	}
}

// efoWorker runs a worker until the test ends (or stop).
type efoWorker struct {
	w    *kcl.Worker
	done chan error
	kill context.CancelFunc
}

func (e *efoEnv) start(owner, stream string, f kcl.ProcessorFactory, opts ...kcl.Option) *efoWorker {
	e.t.Helper()
	opts = append([]kcl.Option{kcl.EnhancedFanOut("efo-app"), kcl.ShardSyncInterval(time.Second),
		kcl.ParentPollInterval(200 * time.Millisecond)}, opts...)
	w, err := kcl.NewWorker(e.kc, e.manager(owner), stream, f, append([]kcl.Option{kcl.TakeInterval(500 * time.Millisecond)}, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &efoWorker{w: w, done: make(chan error, 1), kill: cancel}
	go func() { r.done <- w.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, kcl.ErrWorkerClosed) {
			e.t.Errorf("Run = %v", err)
		}
		r.done <- nil
	})
	return r
}

func (r *efoWorker) shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.w.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
}

// ledger is a fleet-wide processor: it records every user record delivered, in order per shard, and
// checkpoints after each batch.
type ledger struct {
	mu    sync.Mutex
	count map[string]int
	order []string
	who   map[string][]string // data -> "shard@processor" of each delivery
}

func newLedger() *ledger { return &ledger{count: map[string]int{}, who: map[string][]string{}} }

func (l *ledger) factory(shard string) kcl.RecordProcessor { return &ledgerProc{l: l, shard: shard} }

func (l *ledger) distinct() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.count)
}

func (l *ledger) dups() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.count {
		n += c - 1
	}
	return n
}

type ledgerProc struct {
	l     *ledger
	shard string
}

func (p *ledgerProc) Initialize(context.Context, kcl.InitializeInput) error { return nil }

func (p *ledgerProc) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	p.l.mu.Lock()
	for _, r := range in.Records {
		p.l.count[string(r.Data)]++
		p.l.order = append(p.l.order, string(r.Data))
		p.l.who[string(r.Data)] = append(p.l.who[string(r.Data)], fmt.Sprintf("%s@%p", p.shard, p))
	}
	p.l.mu.Unlock()
	return in.Checkpointer.Checkpoint(ctx, in.LastDelivered)
}

func (p *ledgerProc) Shutdown(ctx context.Context, in kcl.ShutdownInput) error {
	if in.Reason == kcl.Requested && in.LastDelivered != (kcl.Position{}) {
		return in.Checkpointer.Checkpoint(ctx, in.LastDelivered)
	}
	return nil
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			cond() // once more, for closures that record what they saw
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		timer := time.NewTimer(20 * time.Millisecond)
		<-timer.C
	}
}

// TestEnhancedFanOutFleet: two workers read four shards through one fan-out consumer while the server
// ends every subscription after a second and a shard is split mid-run: every record arrives once, and
// per partition key in the order written (the child only after its parent).
func TestEnhancedFanOutFleet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEFOEnv(t, kinesistest.SubscriptionDuration(time.Second))
		e.createStream("efo", 4)
		l := newLedger()
		w1, w2 := e.start("w1", "efo", l.factory), e.start("w2", "efo", l.factory)
		waitUntil(t, 30*time.Second, "both workers holding two shards", func() bool {
			return len(w1.w.Shards()) == 2 && len(w2.w.Shards()) == 2
		})
		keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
		put := 0
		putRound := func() {
			for _, k := range keys {
				e.put("efo", k, []byte(fmt.Sprintf("%s-%04d", k, put)))
				put++
			}
		}
		for range 10 {
			putRound()
		}
		waitUntil(t, 30*time.Second, "first records", func() bool { return l.distinct() == put })
		if _, err := e.kc.SplitShard(context.Background(), &kinesis.SplitShardInput{StreamName: aws.String("efo"),
			ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("42535295865117307932921825928971026432")}); err != nil {
			t.Fatal(err)
		}
		ticker := time.NewTicker(100 * time.Millisecond)
		defer ticker.Stop()
		for range 30 { // about 3 s: several subscription expiries
			putRound()
			<-ticker.C
		}
		waitUntil(t, 30*time.Second, "every record", func() bool { return l.distinct() == put })
		if d := l.dups(); d != 0 {
			t.Errorf("%d duplicates", d)
		}
		l.mu.Lock()
		last := map[string]string{}
		for _, d := range l.order {
			k := d[:1]
			if d <= last[k] {
				t.Errorf("key %s: %s delivered after %s", k, d, last[k])
			}
			last[k] = d
		}
		l.mu.Unlock()
		var shards []string
		shards = append(shards, w1.w.Shards()...)
		shards = append(shards, w2.w.Shards()...)
		if len(shards) != 5 || strings.Contains(strings.Join(shards, " "), "shardId-000000000000") {
			t.Errorf("held shards %v: want the 3 open originals and the 2 children, not the ended parent", shards)
		}
		w1.shutdown(t)
		w2.shutdown(t)
		sum, err := e.kc.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("efo")})
		if err != nil {
			t.Fatal(err)
		}
		if n := aws.ToInt32(sum.StreamDescriptionSummary.ConsumerCount); n != 1 {
			t.Errorf("%d consumers registered, want the one fan-out consumer shared by both workers", n)
		}

	})
}

// TestEnhancedFanOutResumesInsideAggregate: a worker checkpoints in the middle of a KPL aggregate and
// shuts down; the next worker subscribes AT that sequence number and gets only the later sub-records.
func TestEnhancedFanOutResumesInsideAggregate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEFOEnv(t)
		e.createStream("agg", 1)
		a := aggregation.NewAggregator(aggregation.DefaultMaxSize)
		for i := range 5 {
			if err := a.Add(aggregation.Record{PartitionKey: "k", Data: []byte(fmt.Sprint("sub-", i))}); err != nil {
				t.Fatal(err)
			}
		}
		rec, _, err := a.Flush()
		if err != nil {
			t.Fatal(err)
		}
		e.put("agg", rec.PartitionKey, rec.Data)
		e.put("agg", "k", []byte("plain-after"))

		var mu sync.Mutex
		var first []string
		stopAt := kcl.ProcessorFactory(func(string) kcl.RecordProcessor {
			return procFuncs{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
				mu.Lock()
				defer mu.Unlock()
				for _, r := range in.Records {
					if len(first) == 3 {
						break
					}
					first = append(first, string(r.Data))
					if len(first) == 3 { // checkpoint sub-record 2 of the aggregate
						if err := in.Checkpointer.Checkpoint(ctx, r.Position); err != nil {
							return err
						}
					}
				}
				return nil
			}}
		})
		w1 := e.start("w1", "agg", stopAt)
		waitUntil(t, 20*time.Second, "three sub-records", func() bool { mu.Lock(); defer mu.Unlock(); return len(first) == 3 })
		w1.shutdown(t)

		l := newLedger()
		e.start("w2", "agg", l.factory)
		waitUntil(t, 20*time.Second, "the rest", func() bool { return l.distinct() == 3 })
		l.mu.Lock()
		defer l.mu.Unlock()
		if got := strings.Join(l.order, " "); got != "sub-3 sub-4 plain-after" {
			t.Errorf("after restart got %q, want the sub-records after the checkpoint, then the next record", got)
		}

	})
}

type procFuncs struct {
	process func(context.Context, kcl.ProcessRecordsInput) error
}

func (p procFuncs) Initialize(context.Context, kcl.InitializeInput) error { return nil }
func (p procFuncs) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	return p.process(ctx, in)
}
func (p procFuncs) Shutdown(context.Context, kcl.ShutdownInput) error { return nil }

// TestEnhancedFanOutARN: with an existing consumer's ARN the worker subscribes as that consumer and
// registers none of its own.
func TestEnhancedFanOutARN(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEFOEnv(t)
		e.createStream("arn", 1)
		ctx := context.Background()
		sum, err := e.kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("arn")})
		if err != nil {
			t.Fatal(err)
		}
		reg, err := e.kc.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: sum.StreamDescriptionSummary.StreamARN,
			ConsumerName: aws.String("preexisting")})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			e.put("arn", "k", fmt.Appendf(nil, "r%d", i))
		}
		l := newLedger()
		w := e.start("w1", "arn", l.factory, kcl.EnhancedFanOutARN(aws.ToString(reg.Consumer.ConsumerARN)))
		waitUntil(t, 20*time.Second, "5 records", func() bool { return l.distinct() == 5 })
		w.shutdown(t)
		out, err := e.kc.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: sum.StreamDescriptionSummary.StreamARN})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Consumers) != 1 || aws.ToString(out.Consumers[0].ConsumerName) != "preexisting" {
			t.Errorf("consumers %+v, want only the preexisting one", out.Consumers)
		}
		if r, d := e.srv.Calls("RegisterStreamConsumer"), e.srv.Calls("DescribeStreamConsumer"); r != 1 || d != 0 {
			t.Errorf("%d RegisterStreamConsumer and %d DescribeStreamConsumer calls, want only the test's own registration", r, d)
		}
		if _, err := kcl.NewWorker(e.kc, e.manager("w2"), "arn", l.factory, kcl.EnhancedFanOutARN("efo-app")); !errors.Is(err, kcl.ErrInvalidConfig) {
			t.Errorf("EnhancedFanOutARN with a name: %v, want ErrInvalidConfig", err)
		}

	})
}
