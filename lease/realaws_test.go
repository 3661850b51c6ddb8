package lease_test

// Behaviours of real DynamoDB that the happy-path fakes never show: calls that never answer, replies lost
// after the write was applied (the SDK's retry then fails its condition), and the SDK's shared retry quota.

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/lease"
)

// hangOnce makes the next UpdateItem on key hang until its context ends, once armed.
type hangOnce struct {
	armed atomic.Bool
	key   string
	hung  atomic.Int32
}

func (h *hangOnce) fault(c fakeaws.Call) fakeaws.Fault {
	if c.Op == "UpdateItem" && c.Key == h.key && h.armed.CompareAndSwap(true, false) {
		h.hung.Add(1)
		return fakeaws.Hang
	}
	return fakeaws.NoFault
}

// TestHungCheckpointSentAgain: an UpdateItem that never answers costs the checkpoint RenewTimeout/4
// (then a second copy is sent, which succeeds), never stops the renewals of other leases, and loses no
// lease.
func TestHungCheckpointSentAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 2)
		k0, k1 := "shardId-000000000000", "shardId-000000000001"
		w := startWorker(t, db, "a")
		time.Sleep(afterRounds)
		if got := heldKeys(w); len(got) != 2 {
			t.Fatalf("held %v, want both leases", got)
		}
		h := &hangOnce{key: k0}
		db.SetFault(h.fault)

		// Start the checkpoint just before a renewal is due, so the renewal finds it in progress.
		time.Sleep(renewEvery - 300*time.Millisecond)
		c1Before := mustGet(t, w.c.Manager(), k1).Counter
		h.armed.Store(true)
		type result struct {
			err     error
			elapsed time.Duration
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			_, err := w.c.Checkpoint(t.Context(), k0, "100", 0)
			done <- result{err, time.Since(start)}
		}()
		time.Sleep(time.Second) // the renewal round ran meanwhile
		if c1 := mustGet(t, w.c.Manager(), k1).Counter; c1 <= c1Before {
			t.Errorf("while a checkpoint of %s hung, %s was not renewed (counter %d, before %d)", k0, k1, c1, c1Before)
		}
		var r result
		select {
		case r = <-done:
		case <-time.After(failover):
			t.Fatalf("a checkpoint whose UpdateItem hangs has not returned after the failover time %v", failover)
		}
		if h.hung.Load() != 1 {
			t.Fatalf("%d calls hung, want 1", h.hung.Load())
		}
		if r.err != nil {
			t.Errorf("hung checkpoint: %v, want its second copy to succeed", r.err)
		}
		if want := failover / 16; r.elapsed != want { // RenewTimeout/4, then the copy answers at once
			t.Errorf("hung checkpoint took %v, want a quarter of RenewTimeout (%v)", r.elapsed, want)
		}
		if got := mustGet(t, w.c.Manager(), k0).Checkpoint; got != "100" {
			t.Errorf("stored checkpoint %q, want 100", got)
		}

		time.Sleep(2 * failover)
		if got := heldKeys(w); len(got) != 2 {
			t.Errorf("held %v after the hang, want both leases", got)
		}
		if _, _, lost := w.rec.counts(); lost != 0 {
			t.Errorf("%d leases lost: %v", lost, w.rec.lostEvents())
		}
		if _, err := w.c.Checkpoint(t.Context(), k0, "200", 0); err != nil {
			t.Fatalf("checkpoint after the hang: %v", err)
		}
		if got := mustGet(t, w.c.Manager(), k0).Checkpoint; got != "200" {
			t.Errorf("stored checkpoint %q, want 200", got)
		}
	})
}

// TestCallTimeout: every Manager call is bounded by CallTimeout even when the caller's context has no
// deadline; the error wraps ErrTimeout and context.DeadlineExceeded.
func TestCallTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		m := newManager(t, db, "a", lease.CallTimeout(3*time.Second))
		mustCreate(t, m, "s")
		db.SetFault(func(fakeaws.Call) fakeaws.Fault { return fakeaws.Hang })
		for name, op := range map[string]func() error{
			"Get":  func() error { _, err := m.Get(context.Background(), "s"); return err },
			"List": func() error { _, err := m.List(context.Background()); return err },
			"Take": func() error { _, err := m.Take(context.Background(), lease.Lease{Key: "s"}); return err },
		} {
			done := make(chan error, 1)
			start := time.Now()
			go func() { done <- op() }()
			select {
			case err := <-done:
				if !errors.Is(err, lease.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s: %v, want ErrTimeout and DeadlineExceeded", name, err)
				}
				if d := time.Since(start); d != 3*time.Second {
					t.Errorf("%s took %v, want the 3s CallTimeout", name, d)
				}
			case <-time.After(time.Minute):
				t.Fatalf("%s without a deadline hangs with its call", name)
			}
		}
		db.SetFault(nil)
	})
}

// lostReplies makes every UpdateItem's reply get lost once: applied, then retried by "the SDK".
func lostReplies(db *fakeaws.DynamoDB) {
	db.SetFault(func(c fakeaws.Call) fakeaws.Fault {
		if c.Op == "UpdateItem" {
			return fakeaws.LostReply
		}
		return fakeaws.NoFault
	})
}

// TestLostReplyIsNotLoss: a take, checkpoint, prepared checkpoint, child-shard update, handoff request and
// handoff whose first attempt was applied but whose reply was lost (the retry fails its condition)
// succeed, with the stored copy; a real conflict is still one.
func TestLostReplyIsNotLoss(t *testing.T) {
	db := newFake(t)
	ctx := t.Context()
	a, b := newManager(t, db, "a"), newManager(t, db, "b")
	mustCreate(t, a, "s", "t")
	lostReplies(db)

	l, err := a.Take(ctx, mustGet(t, a, "s"))
	if err != nil || l.Owner != "a" || l.Counter != 1 {
		t.Fatalf("take after a lost reply: %+v, %v; want owned by a at counter 1", l, err)
	}
	if l, err = a.Checkpoint(ctx, l, "100", 3); err != nil || l.Checkpoint != "100" || l.CheckpointSubSequence != 3 {
		t.Fatalf("checkpoint after a lost reply: %+v, %v", l, err)
	}
	if l, err = a.PrepareCheckpoint(ctx, l, "150", 0, []byte("st")); err != nil || l.PendingCheckpoint != "150" {
		t.Fatalf("prepare checkpoint after a lost reply: %+v, %v", l, err)
	}
	if l, err = a.UpdateChildShards(ctx, l, []string{"c2", "c1"}); err != nil || len(l.ChildShardIDs) != 2 {
		t.Fatalf("update child shards after a lost reply: %+v, %v", l, err)
	}
	if l, err = a.CheckpointShardEnd(ctx, l, []string{"c1", "c2"}); err != nil || !l.Finished() {
		t.Fatalf("shard-end checkpoint after a lost reply: %+v, %v", l, err)
	}
	if l, err = a.Renew(ctx, l); err != nil {
		t.Fatalf("renew after a lost reply: %v", err)
	}
	req, err := b.RequestHandoff(ctx, l)
	if err != nil || req.PendingOwner != "b" {
		t.Fatalf("handoff request after a lost reply: %+v, %v", req, err)
	}
	if l, err = a.Handoff(ctx, req); err != nil || l.Owner != "b" || !l.OwnedByShardwise() {
		t.Fatalf("handoff after a lost reply: %+v, %v", l, err)
	}

	// Real conflicts stay conflicts: a stale copy, another owner.
	if _, err := a.Checkpoint(ctx, req, "200", 0); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("checkpoint of a handed-over lease: %v, want ErrLeaseLost", err)
	}
	t0 := mustGet(t, a, "t")
	if _, err := b.Take(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Take(ctx, t0); !errors.Is(err, lease.ErrConflict) {
		t.Errorf("take with a stale copy: %v, want ErrConflict", err)
	}
}

// TestUnansweredCheckpointReReads: a checkpoint applied but unanswered (a timeout after the server
// committed) is sent again; the copy fails its counter condition, reads the lease back, finds the
// checkpoint applied and succeeds, instead of losing the lease. The Coordinator's copy matches the table,
// and the next checkpoint goes through.
func TestUnansweredCheckpointReReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 1)
		key := "shardId-000000000000"
		w := startWorker(t, db, "a")
		time.Sleep(afterRounds)
		var fail atomic.Bool
		fail.Store(true)
		db.SetFaults(nil, func(c fakeaws.Call) error {
			if c.Op == "UpdateItem" && fail.CompareAndSwap(true, false) {
				return context.DeadlineExceeded // applied, but the answer never came
			}
			return nil
		})
		before := db.Calls("UpdateItem")
		l, err := w.c.Checkpoint(t.Context(), key, "100", 0)
		if err != nil {
			t.Fatalf("unanswered checkpoint: %v, want it recognised as applied", err)
		}
		if n := db.Calls("UpdateItem") - before; n != 2 {
			t.Errorf("%d UpdateItems, want 2 (the unanswered one and its copy)", n)
		}
		if stored := mustGet(t, w.c.Manager(), key); l.Checkpoint != "100" || !l.Equal(stored) {
			t.Errorf("held copy %+v, stored %+v", l, stored)
		}
		l, err = w.c.Checkpoint(t.Context(), key, "200", 0)
		if err != nil {
			t.Fatalf("checkpoint after an unanswered one: %v", err)
		}
		if l.Checkpoint != "200" || l.Counter != mustGet(t, w.c.Manager(), key).Counter {
			t.Errorf("held copy %+v does not match the table", l)
		}
		if _, _, lost := w.rec.counts(); lost != 0 {
			t.Errorf("%d leases lost", lost)
		}
	})
}

// recordingDB records the per-call options the Manager passes.
type recordingDB struct {
	*fakeaws.DynamoDB
	opts atomic.Pointer[[]func(*dynamodb.Options)]
}

func (r *recordingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.opts.Store(&o)
	return r.DynamoDB.GetItem(ctx, in, o...)
}

// TestOwnRetryer: the Manager's calls carry their own standard retryer without a retry quota, so throttling
// elsewhere on the client cannot leave renewals a single attempt; WithRetryer(nil) keeps the client's.
func TestOwnRetryer(t *testing.T) {
	db := &recordingDB{DynamoDB: newFake(t)}
	m := newManager(t, db, "a")
	mustCreate(t, m, "s")
	mustGet(t, m, "s")
	var o dynamodb.Options
	for _, f := range *db.opts.Load() {
		f(&o)
	}
	if o.Retryer == nil {
		t.Fatal("no retryer passed per call")
	}
	// The SDK's default retryer gives 100 retries from its 500-token bucket, then refuses. This one never runs out.
	throttled := errors.New("throttled")
	for i := range 1000 {
		if _, err := o.Retryer.GetRetryToken(t.Context(), throttled); err != nil {
			t.Fatalf("retry token %d refused: %v: the lease retryer shares a quota", i, err)
		}
	}
	def := retry.NewStandard()
	var quota error
	for range 1000 {
		if _, quota = def.GetRetryToken(t.Context(), throttled); quota != nil {
			break
		}
	}
	if quota == nil {
		t.Error("the SDK's default retryer never ran out: the test no longer shows the difference")
	}

	db2 := &recordingDB{DynamoDB: db.DynamoDB}
	m2 := newManager(t, db2, "b", lease.WithRetryer(nil))
	mustGet(t, m2, "s")
	if n := len(*db2.opts.Load()); n != 0 {
		t.Errorf("WithRetryer(nil) passed %d per-call options, want none", n)
	}
}

// TestUnansweredTakeAdoptedNextRound: a take applied by DynamoDB whose answer never came leaves the lease
// owned by this worker in the table but not held; the next take round takes it back at once instead of
// leaving the shard unprocessed until the lease expires.
func TestUnansweredTakeAdoptedNextRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 1)
		key := "shardId-000000000000"
		var fail atomic.Bool
		fail.Store(true)
		db.SetFaults(nil, func(c fakeaws.Call) error {
			if c.Op == "UpdateItem" && fail.CompareAndSwap(true, false) {
				return context.DeadlineExceeded // applied, but the answer never came
			}
			return nil
		})
		take := failover / 4
		w := startWorker(t, db, "a", lease.TakeInterval(take))
		time.Sleep(afterRounds)
		if got := heldKeys(w); len(got) != 0 || mustGet(t, w.c.Manager(), key).Owner != "a" {
			t.Fatalf("after the unanswered take: held %v, table owner %q; want none held, owner a", got, mustGet(t, w.c.Manager(), key).Owner)
		}
		time.Sleep(take)
		if got := heldKeys(w); len(got) != 1 {
			t.Errorf("one take interval later: held %v, want %s taken back (it expires only after %v)", got, key, failover)
		}
	})
}
