package kpl

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// The userRec is allocated once per record: it must stay in the 240-byte size class, and
// MaxBufferedBytes charges it (recordOverhead).
func TestUserRecSize(t *testing.T) {
	if n := unsafe.Sizeof(userRec{}); n > 240 {
		t.Fatalf("userRec is %d bytes, more than its 240-byte size class", n)
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
					got <- f.res.ShardID
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
		f.res = Result{ShardID: "shardId-000000000001"}
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
	if len(u.prior) != 2 {
		t.Fatalf("prior attempts %d, want 2", len(u.prior))
	}
	p.cfg.ttl = 0
	if !p.deadline(u).IsZero() {
		t.Fatal("deadline without RecordTTL")
	}
}
