package kcl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/lease"
)

const testFailover = 3 * time.Second

// recorder collects what processors saw. Safe for concurrent use.
type recorder struct {
	mu         sync.Mutex
	records    map[string][]Record // copies, by shard
	events     []string            // "init <shard> <start>", "end <shard> <reason>"
	calls      map[string]int      // ProcessRecords calls by shard
	failUntil  int                 // ProcessRecords fails while calls[shard] <= failUntil
	checkpoint bool                // checkpoint the last record of each batch
	ckErrs     []error
}

func newRecorder() *recorder {
	return &recorder{records: map[string][]Record{}, calls: map[string]int{}, checkpoint: true}
}

func (r *recorder) factory(shardID string) RecordProcessor { return &recProc{r: r} }

func (r *recorder) event(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) get(shard string) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.records[shard])
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rs := range r.records {
		n += len(rs)
	}
	return n
}

func (r *recorder) eventList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

type recProc struct {
	r     *recorder
	shard string
}

func (p *recProc) Initialize(_ context.Context, in InitializeInput) error {
	p.shard = in.ShardID
	p.r.event(fmt.Sprintf("init %s %v", in.ShardID, in.Start))
	return nil
}

func (p *recProc) ProcessRecords(ctx context.Context, in ProcessRecordsInput) error {
	p.r.mu.Lock()
	p.r.calls[in.ShardID]++
	fail := p.r.calls[in.ShardID] <= p.r.failUntil
	p.r.mu.Unlock()
	if fail {
		return errFake
	}
	p.r.mu.Lock()
	for _, rec := range in.Records {
		rec.Data = slices.Clone(rec.Data)
		p.r.records[in.ShardID] = append(p.r.records[in.ShardID], rec)
	}
	ck := p.r.checkpoint
	p.r.mu.Unlock()
	if ck {
		if err := in.Checkpointer.Checkpoint(ctx, in.Records[len(in.Records)-1].Position); err != nil {
			p.r.mu.Lock()
			p.r.ckErrs = append(p.r.ckErrs, err)
			p.r.mu.Unlock()
		}
	}
	return nil
}

func (p *recProc) Shutdown(ctx context.Context, in ShutdownInput) error {
	p.r.event(fmt.Sprintf("end %s %v", in.ShardID, in.Reason))
	if in.Reason == Requested && in.LastDelivered != (Position{}) {
		return in.Checkpointer.Checkpoint(ctx, in.LastDelivered)
	}
	return nil
}

// env is one stream, one lease table and helpers to run workers on them.
type env struct {
	t     *testing.T
	kc    *testKinesis
	db    *fakeaws.DynamoDB
	table string
	// leaseOpts are appended to every manager's options (after the test defaults).
	leaseOpts []lease.Option
	// workerOpts are appended to every worker's options (after the test defaults).
	workerOpts []Option
}

func newEnv(t *testing.T, shards int) *env {
	e := &env{t: t, kc: newTestKinesis(t, "s", shards), db: fakeaws.NewDynamoDB(), table: "app"}
	m := e.manager("setup")
	if err := m.EnsureTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) manager(owner string, opts ...lease.Option) *lease.Manager {
	e.t.Helper()
	opts = append(append([]lease.Option{lease.Failover(testFailover)}, e.leaseOpts...), opts...)
	m, err := lease.NewManager(e.db, e.table, owner, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// running is a worker started by env.start; stop it with shutdown or kill.
type running struct {
	w    *Worker
	done chan error
	stop context.CancelFunc
}

func (e *env) start(owner string, f ProcessorFactory, opts ...Option) *running {
	e.t.Helper()
	opts = append(append([]Option{PollInterval(200 * time.Millisecond), ShardSyncInterval(time.Second),
		ParentPollInterval(200 * time.Millisecond), RetryBackoff(50 * time.Millisecond), TakeInterval(testFailover / 3)},
		e.workerOpts...), opts...)
	w, err := NewWorker(e.kc, e.manager(owner), "s", f, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, done: make(chan error, 1), stop: cancel}
	go func() { r.done <- w.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-r.done }) // never leave a goroutine in the bubble
	return r
}

func (r *running) shutdown(t *testing.T) {
	t.Helper()
	if err := r.w.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if err := <-r.done; !errors.Is(err, ErrWorkerClosed) {
		t.Fatalf("Run after Shutdown = %v, want ErrWorkerClosed", err)
	}
	r.done <- ErrWorkerClosed // for the cleanup
}

func (r *running) kill() {
	r.stop()
	err := <-r.done
	r.done <- err
}

// waitFor advances the fake clock in steps until cond holds, failing after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) lease(key string) lease.Lease {
	e.t.Helper()
	l, err := e.manager("reader").Get(context.Background(), key)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func shardName(i int) string { return fmt.Sprintf("shardId-%012d", i) }

func TestWorkerDeliversEveryRecordInOrderAndCheckpoints(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 3)
		var want []string
		for i := range 30 {
			e.kc.put(shardName(i%3), "k", fmt.Appendf(nil, "r%d", i))
			want = append(want, fmt.Sprintf("r%d", i))
		}
		rec := newRecorder()
		r := e.start("w1", rec.factory)
		waitFor(t, 20*time.Second, "30 records", func() bool { return rec.total() == 30 })
		for s := range 3 {
			got := rec.get(shardName(s))
			if len(got) != 10 {
				t.Fatalf("shard %d: %d records, want 10", s, len(got))
			}
			for j, g := range got {
				if w := fmt.Sprintf("r%d", j*3+s); string(g.Data) != w {
					t.Fatalf("shard %d record %d = %q, want %q", s, j, g.Data, w)
				}
			}
			l := e.lease(shardName(s))
			if l.Checkpoint != got[9].Position.SequenceNumber || l.Owner != "w1" {
				t.Errorf("lease %s: checkpoint %q owner %q, want %q w1", l.Key, l.Checkpoint, l.Owner, got[9].Position.SequenceNumber)
			}
		}
		if got := r.w.Shards(); len(got) != 3 {
			t.Errorf("Shards() = %v, want 3", got)
		}
		r.shutdown(t)
		for s := range 3 {
			if l := e.lease(shardName(s)); l.Owner != "" {
				t.Errorf("after Shutdown lease %s owner %q, want released", l.Key, l.Owner)
			}
		}
		_ = want
	})
}

// aggregate builds a KPL aggregate of the given partition keys (data "<key>").
func aggregate(t *testing.T, keys ...string) []byte {
	t.Helper()
	a := aggregation.NewAggregator(1 << 20)
	for _, k := range keys {
		if err := a.Add(aggregation.Record{PartitionKey: k, Data: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	r, _, err := a.Flush()
	if err != nil {
		t.Fatal(err)
	}
	return r.Data
}
