package kpl

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/shardwise/shardwise/aggregation"
)

// The userRec is allocated once per record: it must stay in the 128-byte size class (two cache
// lines), and MaxBufferedBytes charges it (recordOverhead).
func TestUserRecSize(t *testing.T) {
	if n := unsafe.Sizeof(userRec{}); n > 128 {
		t.Fatalf("userRec is %d bytes, more than its 128-byte size class", n)
	}
	if n := unsafe.Sizeof(userRec{}); recordOverhead < int(n)+80 {
		t.Fatalf("recordOverhead %d does not cover the userRec (%d bytes) and its aggregate copy", recordOverhead, n)
	}
}

// Done and Wait racing with resolve all see the outcome written before it (run with -race).
func TestFutureConcurrentResolve(t *testing.T) {
	for range 200 {
		f := &Future{}
		var wg sync.WaitGroup
		got := make(chan string, 8)
		for i := range 8 {
			wg.Go(func() {
				if i%2 == 0 {
					<-f.Done()
					got <- f.result().ShardID
					return
				}
				res, err := f.Wait(context.Background())
				if err != nil {
					got <- err.Error()
					return
				}
				got <- res.ShardID
			})
		}
		f.d = &delivery{shardID: "shardId-000000000001"}
		f.resolve()
		wg.Wait()
		close(got)
		for s := range got {
			if s != "shardId-000000000001" {
				t.Fatalf("waiter saw %q", s)
			}
		}
		if !f.isDone() {
			t.Fatal("resolved future not done")
		}
		select {
		case <-f.Done():
		default:
			t.Fatal("Done not closed after resolve")
		}
	}
}

func TestFutureWaitContextAndFailed(t *testing.T) {
	f := &Future{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("pending Wait with a cancelled context: %v", err)
	}
	ff := newFailedFuture(&RecordError{Err: ErrClosed})
	if !ff.done || !ff.isDone() {
		t.Fatal("failed future not done")
	}
	if _, err := ff.Wait(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("failed future: %v", err)
	}
	select {
	case <-ff.Done():
	default:
		t.Fatal("failed future's Done not closed")
	}
}

// A re-routed record's first send is the first attempt that carried it, and its TTL deadline
// counts from its PutAsync.
func TestUserRecDerivedTimes(t *testing.T) {
	p := &Producer{epoch: time.Now()}
	p.cfg.ttl = time.Minute
	u := &userRec{arrived: 5 * time.Second}
	if got, want := p.deadline(u), p.epoch.Add(5*time.Second+time.Minute); !got.Equal(want) {
		t.Fatalf("deadline %v, want %v", got, want)
	}
	if !u.firstSent().IsZero() {
		t.Fatal("never-sent record has a first send")
	}
	t1 := p.epoch.Add(6 * time.Second)
	t2 := p.epoch.Add(7 * time.Second)
	explode(&kRec{users: []*userRec{u}, attempts: []Attempt{{Time: t1}}}, nil)
	explode(&kRec{users: []*userRec{u}, attempts: []Attempt{{Time: t2}}}, nil)
	if got := u.firstSent(); !got.Equal(t1) {
		t.Fatalf("first send %v, want %v", got, t1)
	}
	if len(u.prior()) != 2 {
		t.Fatalf("prior attempts %d, want 2", len(u.prior()))
	}
	p.cfg.ttl = 0
	if !p.deadline(u).IsZero() {
		t.Fatal("deadline without RecordTTL")
	}
}

// The open aggregate's deadline is its earliest arrival's (a re-routed record can be older than
// those already in it), its cancellable records are counted for encode, and the next aggregate's
// user slice is presized from the last one.
func TestAggregateBookkeeping(t *testing.T) {
	m, err := aggregation.NewShardMap([]aggregation.ShardRange{{ShardID: "s0", Range: aggregation.FullHashRange}})
	if err != nil {
		t.Fatal(err)
	}
	p := &Producer{cfg: defaultConfig(), epoch: time.Now(), smap: m}
	p.cfg.ttl = time.Minute
	s := &shardState{id: "s0", rng: aggregation.FullHashRange, slots: 1}
	p.shardList = []*shardState{s}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	add := func(arrived time.Duration, c context.Context) {
		t.Helper()
		hk, err := aggregation.EffectiveHashKey("k", "")
		if err != nil {
			t.Fatal(err)
		}
		u := &userRec{rec: Record{PartitionKey: "k", Data: []byte("x")}, hk: hk, size: 2, arrived: arrived}
		if c != nil {
			u.x = &userExt{ctx: c}
		}
		var out outcomes
		p.routeLocked(u, time.Time{}, &out)
		if len(out.items) > 0 {
			t.Fatalf("record failed: %v", out.items[0].err)
		}
	}
	add(10*time.Second, nil)
	add(5*time.Second, ctx) // re-routed, older
	add(20*time.Second, nil)
	add(7*time.Second, ctx)
	if want := p.epoch.Add(5*time.Second + time.Minute); !s.aggDeadline.Equal(want) {
		t.Fatalf("aggregate deadline %v, want %v", s.aggDeadline, want)
	}
	p.seal(s)
	if len(s.queue) != 1 {
		t.Fatalf("queue %d, want 1", len(s.queue))
	}
	k := s.queue[0]
	if k.cancel != 2 || len(k.users) != 4 {
		t.Fatalf("sealed %d users, %d cancellable; want 4, 2", len(k.users), k.cancel)
	}
	if want := p.epoch.Add(5*time.Second + time.Minute); !k.deadline.Equal(want) {
		t.Fatalf("sealed deadline %v, want %v", k.deadline, want)
	}
	add(30*time.Second, nil)
	if cap(s.aggUsers) < 4 || s.aggCancel != 0 {
		t.Fatalf("next aggregate: capacity %d (want >= 4), %d cancellable (want 0)", cap(s.aggUsers), s.aggCancel)
	}
	if want := p.epoch.Add(30*time.Second + time.Minute); !s.aggDeadline.Equal(want) {
		t.Fatalf("next aggregate's deadline %v, want %v", s.aggDeadline, want)
	}
}

// A record joining an open aggregate takes the aggregate's opening time as its arrival; the one
// opening it, and records routed alone, read the clock; a stamped arrival is kept.
func TestArrivalStamp(t *testing.T) {
	m, err := aggregation.NewShardMap([]aggregation.ShardRange{{ShardID: "s0", Range: aggregation.FullHashRange}})
	if err != nil {
		t.Fatal(err)
	}
	p := &Producer{cfg: defaultConfig(), epoch: time.Now().Add(-time.Hour), smap: m}
	s := &shardState{id: "s0", rng: aggregation.FullHashRange, slots: 1}
	p.shardList = []*shardState{s}
	route := func(arrived time.Duration, alone bool) *userRec {
		t.Helper()
		hk, _ := aggregation.EffectiveHashKey("k", "")
		u := &userRec{rec: Record{PartitionKey: "k", Data: []byte("x")}, hk: hk, size: 2, arrived: arrived, alone: alone}
		var out outcomes
		p.routeLocked(u, time.Time{}, &out)
		return u
	}
	first := route(unstamped, false)
	if first.arrived < time.Hour || first.arrived != s.aggOpenAt {
		t.Fatalf("opening record arrived %v, aggregate opened %v; want the clock (about 1h)", first.arrived, s.aggOpenAt)
	}
	if joined := route(unstamped, false); joined.arrived != s.aggOpenAt {
		t.Fatalf("joining record arrived %v, want the aggregate's %v", joined.arrived, s.aggOpenAt)
	}
	if kept := route(5*time.Second, false); kept.arrived != 5*time.Second {
		t.Fatalf("stamped record re-stamped: %v", kept.arrived)
	}
	if single := route(unstamped, true); single.arrived < first.arrived {
		t.Fatalf("record routed alone arrived %v, before %v", single.arrived, first.arrived)
	}
}
