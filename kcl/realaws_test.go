package kcl_test

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

// startPolling runs a polling worker until the test ends.
func (e *efoEnv) startPolling(owner, stream string, f kcl.ProcessorFactory, opts ...kcl.Option) *efoWorker {
	e.t.Helper()
	opts = append([]kcl.Option{kcl.ShardSyncInterval(time.Second), kcl.PollInterval(200 * time.Millisecond),
		kcl.ParentPollInterval(200 * time.Millisecond)}, opts...)
	w, err := kcl.NewWorker(e.kc, e.manager(owner), stream, f, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &efoWorker{w: w, done: make(chan error, 1), kill: cancel}
	go func() { r.done <- w.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

type lostCounter struct{ n atomic.Int64 }

func (l *lostCounter) OnShardLeaseLost(kcl.ShardLeaseLostEvent) { l.n.Add(1) }

// hangFirst hangs the first call of op (kinesistest's hang: never answered until the client gives up)
// and counts the calls.
func hangFirst(srv *kinesistest.Server, op string) *atomic.Int64 {
	var n atomic.Int64
	srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op == op && n.Add(1) == 1 {
			return kinesistest.Action{Hang: true}, true
		}
		return kinesistest.Action{}, false
	})
	return &n
}

// A GetRecords, a GetShardIterator and a SubscribeToShard that are never answered cost one call
// timeout each: every record is delivered once, no lease is lost.
func TestHungCallsCostOneDeadline(t *testing.T) {
	for _, tc := range []struct {
		name, op string
		efo      bool
	}{
		{"GetRecords", "GetRecords", false},
		{"GetShardIterator", "GetShardIterator", false},
		{"ListShards", "ListShards", false},
		{"SubscribeToShard", "SubscribeToShard", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEFOEnv(t)
				e.createStream("hang", 1)
				calls := hangFirst(e.srv, tc.op)
				for i := range 5 {
					e.put("hang", "k", fmt.Appendf(nil, "a%d", i))
				}
				l := newLedger()
				lost := &lostCounter{}
				opts := []kcl.Option{kcl.CallTimeout(time.Second), kcl.WithHooks(lost)}
				if tc.efo {
					e.start("w1", "hang", l.factory, opts...)
				} else {
					e.startPolling("w1", "hang", l.factory, opts...)
				}
				waitUntil(t, 20*time.Second, "5 records", func() bool { return l.distinct() == 5 })
				for i := range 5 {
					e.put("hang", "k", fmt.Appendf(nil, "b%d", i))
				}
				waitUntil(t, 20*time.Second, "10 records", func() bool { return l.distinct() == 10 })
				if calls.Load() < 2 {
					t.Errorf("%s called %d times: the hung call was not retried", tc.op, calls.Load())
				}
				if l.dups() != 0 || lost.n.Load() != 0 {
					t.Errorf("%d duplicates, %d leases lost; want none", l.dups(), lost.n.Load())
				}

			})
		})
	}
}

// ResourceNotFoundException for a shard ListShards still shows open does not end the shard: it is
// retried, and records written later are delivered.
func TestResourceNotFoundForOpenShardIsNotShardEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEFOEnv(t)
		e.createStream("rnf", 1)
		e.put("rnf", "k", []byte("r0"))
		var gets atomic.Int64
		e.srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			if req.Op == "GetRecords" && gets.Add(1) <= 4 {
				return kinesistest.Action{Err: kinesistest.NewError(kinesistest.CodeResourceNotFound)}, true
			}
			return kinesistest.Action{}, false
		})
		l := newLedger()
		e.startPolling("w1", "rnf", l.factory)
		waitUntil(t, 20*time.Second, "r0", func() bool { return l.distinct() == 1 })
		e.put("rnf", "k", []byte("r1"))
		waitUntil(t, 20*time.Second, "r1, written after the ResourceNotFound answers", func() bool { return l.distinct() == 2 })
		if got, err := e.manager("reader").Get(context.Background(), "shardId-000000000000"); err != nil || got.Finished() {
			t.Errorf("lease = %+v, %v: an open shard was finished", got, err)
		}

	})
}

// A worker given the stream's ARN sends it as StreamARN on every call, never a StreamName.
func TestStreamARNOnEveryCall(t *testing.T) {
	for _, efo := range []bool{false, true} {
		t.Run(fmt.Sprint("efo=", efo), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEFOEnv(t)
				e.createStream("byarn", 2)
				sum, err := e.kc.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("byarn")})
				if err != nil {
					t.Fatal(err)
				}
				arn := aws.ToString(sum.StreamDescriptionSummary.StreamARN)
				var byName, byARN atomic.Int64
				e.srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
					switch {
					case strings.Contains(string(req.Body), `"StreamName"`):
						byName.Add(1)
					case strings.Contains(string(req.Body), `"StreamARN"`):
						byARN.Add(1)
					}
					return kinesistest.Action{}, false
				})
				for i := range 6 {
					e.put("byarn", fmt.Sprint("k", i), fmt.Appendf(nil, "r%d", i))
				}
				byName.Store(0) // the puts above named the stream
				l := newLedger()
				if efo {
					e.start("w1", arn, l.factory)
				} else {
					e.startPolling("w1", arn, l.factory)
				}
				waitUntil(t, 20*time.Second, "6 records", func() bool { return l.distinct() == 6 })
				if byName.Load() != 0 || byARN.Load() == 0 {
					t.Errorf("%d calls named the stream by StreamName, %d by StreamARN; want 0 and some", byName.Load(), byARN.Load())
				}

			})
		})
	}
}

type regHook struct {
	mu sync.Mutex
	ev []kcl.RegistrationEvent
}

func (h *regHook) OnConsumerRegistrationRefused(e kcl.RegistrationEvent) {
	h.mu.Lock()
	h.ev = append(h.ev, e)
	h.mu.Unlock()
}

// A stream at its consumer limit refuses the fan-out registration with LimitExceededException: the
// worker reports each refusal, gives up after MaxRegisterRefusals and Run returns
// ErrConsumerRegistration, instead of every shard consumer blocking for ever in silence.
func TestConsumerRegistrationLimitStopsRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEFOEnv(t)
		e.createStream("full", 2)
		e.srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			if req.Op == "RegisterStreamConsumer" {
				return kinesistest.Action{Err: kinesistest.NewError(kinesistest.CodeLimitExceeded)}, true
			}
			return kinesistest.Action{}, false
		})
		h := &regHook{}
		r := e.start("w1", "full", newLedger().factory, kcl.MaxRegisterRefusals(3), kcl.WithHooks(h))
		var err error
		select {
		case err = <-r.done:
			r.done <- nil // for the cleanup
		case <-time.After(30 * time.Second):
			t.Fatal("Run still running after the registration was refused 3 times")
		}
		if !errors.Is(err, kcl.ErrConsumerRegistration) || !errors.As(err, new(*types.LimitExceededException)) {
			t.Fatalf("Run = %v, want ErrConsumerRegistration wrapping LimitExceededException", err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.ev) != 4 || !h.ev[3].GaveUp || h.ev[2].Refusal != 3 {
			t.Errorf("registration events %+v, want 3 refusals and the give-up", h.ev)
		}

	})
}

// An AUTO stream (service-managed distribution) written by kpl, plus KPL aggregates written by hand (a
// Java KPL): Kinesis places records round-robin, so sub-records lie outside the receiving shard's hash
// range by design. A fleet of 3 workers delivers every user record exactly once.
func TestAutoStreamFleetExactlyOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEFOEnv(t)
		ctx := context.Background()
		if _, err := e.kc.CreateStream(ctx, &kinesis.CreateStreamInput{
			StreamName: aws.String("auto"), ShardCount: aws.Int32(4),
			StreamModeDetails:          &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand},
			RecordDistributionStrategy: types.RecordDistributionStrategyAuto,
		}); err != nil {
			t.Fatal(err)
		}
		p, err := kpl.New(e.kc, "auto")
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for i := range 200 {
			if _, err := p.Put(ctx, kpl.Record{PartitionKey: fmt.Sprint("key-", i), Data: fmt.Appendf(nil, "kpl-%d", i)}); err != nil {
				t.Fatal(err)
			}
			want++
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		for a := range 8 {
			agg := aggregation.NewAggregator(1 << 20)
			for j := range 10 {
				if err := agg.Add(aggregation.Record{PartitionKey: fmt.Sprint("agg-key-", a, "-", j), Data: fmt.Appendf(nil, "agg-%d-%d", a, j)}); err != nil {
					t.Fatal(err)
				}
				want++
			}
			rec, _, err := agg.Flush()
			if err != nil {
				t.Fatal(err)
			}
			e.put("auto", fmt.Sprint("agg-", a), rec.Data)
		}
		l := newLedger()
		dropped := &dropCounter{}
		for i := range 3 {
			e.startPolling(fmt.Sprint("w", i), "auto", l.factory, kcl.WithHooks(dropped))
		}
		waitUntil(t, 30*time.Second, fmt.Sprint(want, " user records"), func() bool { return l.distinct() == want })
		if l.dups() != 0 || dropped.n.Load() != 0 {
			t.Errorf("%d duplicates, %d dropped; want none", l.dups(), dropped.n.Load())
		}

	})
}

type dropCounter struct{ n atomic.Int64 }

func (d *dropCounter) OnRecordDropped(kcl.DroppedEvent) { d.n.Add(1) }

type throttleCounter struct{ n atomic.Int64 }

func (c *throttleCounter) OnGetRecordsThrottled(kcl.ThrottledEvent) { c.n.Add(1) }

// With Kinesis's limits enforced (5 GetRecords per second per shard), a second application polling the
// shard 4 times a second alongside a worker that is far behind the tip (default settings) is never
// throttled, and neither is the worker: the worker idles 1.5 s between calls, leaving the shard's read
// budget to the others.
func TestSecondApplicationNotThrottledByCatchingUpWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEFOEnv(t, kinesistest.EnforceLimits())
		e.createStream("shared", 1)
		ctx := context.Background()
		for b := range 3 {
			entries := make([]types.PutRecordsRequestEntry, 100)
			for i := range entries {
				entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: fmt.Appendf(nil, "r%d-%d", b, i)}
			}
			if out, err := e.kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("shared"), Records: entries}); err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
				t.Fatalf("PutRecords: %v %+v", err, out)
			}
		}
		workerThrottles := &throttleCounter{}
		l := newLedger()
		e.startPolling("w1", "shared", l.factory, kcl.PollInterval(kcl.DefaultPollInterval), kcl.MaxRecordsPerPoll(10),
			kcl.WithHooks(workerThrottles))
		waitUntil(t, 10*time.Second, "the worker's first batch", func() bool { return l.distinct() > 0 })

		// The other application: its own iterator at the tip, 4 calls a second.
		it, err := e.kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("shared"),
			ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeLatest})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		otherThrottles, calls := 0, 0
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for range 16 {
			<-tick.C
			calls++
			out, err := e.kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter}, func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
			if err != nil {
				if errors.As(err, new(*types.ProvisionedThroughputExceededException)) {
					otherThrottles++
					continue
				}
				t.Fatal(err)
			}
			iter = out.NextShardIterator
		}
		if otherThrottles != 0 || workerThrottles.n.Load() != 0 {
			t.Errorf("second application throttled %d of %d calls, worker %d times; want none", otherThrottles, calls, workerThrottles.n.Load())
		}
		if l.distinct() >= 300 {
			t.Errorf("the worker caught up already (%d records): the test did not overlap", l.distinct())
		}

	})
}
