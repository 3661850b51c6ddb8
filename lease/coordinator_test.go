package lease_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/lease"
)

// All timing tests run in a synctest bubble: time only moves when every goroutine is blocked, so the
// renew (every 10s/3) and take (every 20s) cycles run on a virtual clock, deterministically and instantly.

const (
	failover     = lease.DefaultFailover
	renewEvery   = failover / 3
	takeEvery    = 2 * failover
	afterRounds  = time.Millisecond // lets a round that is due now finish before looking
	leasesInTest = 8
)

type worker struct {
	name   string
	c      *lease.Coordinator
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startWorker runs a Coordinator for owner name until the test ends or kill is called.
func startWorker(t *testing.T, db *fakeaws.DynamoDB, name string, opts ...lease.Option) *worker {
	t.Helper()
	rec := &recorder{}
	m := newManager(t, db, name, append([]lease.Option{lease.WithHooks(rec)}, opts...)...)
	ctx, cancel := context.WithCancel(t.Context())
	w := &worker{name: name, c: lease.NewCoordinator(m), rec: rec, cancel: cancel, done: make(chan error, 1)}
	go func() { w.done <- w.c.Run(ctx) }()
	t.Cleanup(w.kill)
	return w
}

// kill is the hard stop: Run ends, nothing is released. Idempotent.
func (w *worker) kill() {
	w.once.Do(func() {
		w.cancel()
		if err := <-w.done; !errors.Is(err, context.Canceled) {
			panic(fmt.Sprintf("Run returned %v", err))
		}
	})
}

func heldKeys(w *worker) []string {
	var ks []string
	for _, l := range w.c.Held() {
		ks = append(ks, l.Key)
	}
	return ks
}

func distribution(ws ...*worker) []int {
	var n []int
	for _, w := range ws {
		n = append(n, len(w.c.Held()))
	}
	slices.Sort(n)
	return n
}

// checkExclusive verifies that every lease is held by at most one worker and that held leases agree with
// the table.
func checkExclusive(t *testing.T, db *fakeaws.DynamoDB, ws ...*worker) {
	t.Helper()
	m := newManager(t, db, "observer")
	all, err := m.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	holder := map[string]string{}
	for _, w := range ws {
		for _, k := range heldKeys(w) {
			if other, ok := holder[k]; ok {
				t.Errorf("lease %s held by both %s and %s", k, other, w.name)
			}
			holder[k] = w.name
		}
	}
	for _, l := range all {
		if h, ok := holder[l.Key]; ok && h != l.Owner {
			t.Errorf("lease %s: %s thinks it holds it, the table says %q", l.Key, h, l.Owner)
		}
	}
}

func createLeases(t *testing.T, db *fakeaws.DynamoDB, n int) {
	t.Helper()
	m := newManager(t, db, "setup")
	for i := range n {
		mustCreate(t, m, fmt.Sprintf("shardId-%012d", i))
	}
}

func TestFairnessJoinAndNoThrashing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, leasesInTest)
		a, b, c := startWorker(t, db, "a"), startWorker(t, db, "b"), startWorker(t, db, "c")

		time.Sleep(4*takeEvery + afterRounds)
		if got := distribution(a, b, c); !slices.Equal(got, []int{2, 3, 3}) {
			t.Fatalf("3 workers over 8 leases: %v, want [2 3 3]", got)
		}
		checkExclusive(t, db, a, b, c)

		// Balanced: more cycles move nothing.
		var before [3]int
		for i, w := range []*worker{a, b, c} {
			before[i], _, _ = w.rec.counts()
		}
		time.Sleep(5 * takeEvery)
		for i, w := range []*worker{a, b, c} {
			if taken, _, lost := w.rec.counts(); taken != before[i] {
				t.Errorf("%s took %d more leases (lost %d) once balanced: thrashing", w.name, taken-before[i], lost)
			}
		}

		// A fourth worker gets its fair share within two take cycles.
		var lostBefore [3]int
		for i, w := range []*worker{a, b, c} {
			_, _, lostBefore[i] = w.rec.counts()
		}
		d := startWorker(t, db, "d")
		time.Sleep(2*takeEvery - time.Second)
		if got := distribution(a, b, c, d); !slices.Equal(got, []int{2, 2, 2, 2}) {
			t.Fatalf("after d joined: %v, want [2 2 2 2]", got)
		}
		checkExclusive(t, db, a, b, c, d)
		if _, stolen, _ := d.rec.counts(); stolen != 2 {
			t.Errorf("d stole %d leases, want 2", stolen)
		}
		for i, w := range []*worker{a, b, c} {
			if _, _, lost := w.rec.counts(); lost-lostBefore[i] > 1 {
				t.Errorf("%s lost %d leases to d", w.name, lost-lostBefore[i])
			}
		}
		var mid [4]int
		for i, w := range []*worker{a, b, c, d} {
			mid[i], _, _ = w.rec.counts()
		}
		time.Sleep(5 * takeEvery)
		for i, w := range []*worker{a, b, c, d} {
			if taken, _, _ := w.rec.counts(); taken != mid[i] {
				t.Errorf("%s took %d more leases after the 4-worker fleet was balanced", w.name, taken-mid[i])
			}
		}
	})
}

func TestReleaseIsTakenAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 4)
		a := startWorker(t, db, "a")
		synctest.Wait()
		if got := len(a.c.Held()); got != 4 {
			t.Fatalf("a holds %d, want 4", got)
		}
		b := startWorker(t, db, "b")
		time.Sleep(takeEvery + afterRounds)
		if got := distribution(a, b); !slices.Equal(got, []int{2, 2}) {
			t.Fatalf("distribution %v, want [2 2]", got)
		}

		start := time.Now()
		if err := a.c.ReleaseAll(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := a.c.Held(); len(got) != 0 {
			t.Fatalf("a still holds %v after ReleaseAll", got)
		}
		b.c.Trigger() // as a shard sync would; without it b's next round (≤ TakeInterval) does the same
		synctest.Wait()
		if got := len(b.c.Held()); got != 4 {
			t.Fatalf("b holds %d right after the release, want 4", got)
		}
		if el := time.Since(start); el != 0 {
			t.Errorf("took %v of virtual time, want none (no waiting for expiry)", el)
		}
		for _, e := range b.rec.takenEvents()[2:] {
			if e.Reason != lease.TakenUnowned || e.PreviousOwner != "" {
				t.Errorf("taken after release: %+v, want reason unowned", e)
			}
		}
		if a.rec.releasedCount() != 2 {
			t.Errorf("a released %d, want 2", a.rec.releasedCount())
		}
		// a stopped taking: its rounds leave the fleet alone.
		time.Sleep(3 * takeEvery)
		if got := len(a.c.Held()); got != 0 {
			t.Errorf("a took %d leases after ReleaseAll", got)
		}
	})
}

func TestHardKillExpiresAfterFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 4)
		a := startWorker(t, db, "a")
		synctest.Wait()
		b := startWorker(t, db, "b")
		time.Sleep(3*takeEvery + afterRounds)
		if got := distribution(a, b); !slices.Equal(got, []int{2, 2}) {
			t.Fatalf("distribution %v, want [2 2]", got)
		}
		if _, _, lost := b.rec.counts(); lost != 0 {
			t.Fatalf("b lost leases while a was alive")
		}
		for _, e := range b.rec.takenEvents() {
			if e.Reason == lease.TakenExpired {
				t.Errorf("b judged a live lease expired: %+v", e)
			}
		}

		killed := time.Now()
		a.kill()
		// Nobody may take a's leases before the failover time has passed without a renewal.
		time.Sleep(failover - renewEvery)
		if got := len(b.c.Held()); got != 2 {
			t.Fatalf("b holds %d leases %v after the kill, before the failover time", got, time.Since(killed))
		}
		// Noticed at most failover + one take interval after b first saw the last counter.
		time.Sleep(failover + 2*takeEvery)
		if got := len(b.c.Held()); got != 4 {
			t.Fatalf("b holds %d, want 4, %v after the kill", got, time.Since(killed))
		}
		expired := 0
		for _, e := range b.rec.takenEvents() {
			if e.Reason == lease.TakenExpired && e.PreviousOwner == "a" {
				expired++
				if e.Lease.OwnerSwitchesSinceCheckpoint != 1 {
					t.Errorf("owner switches %d, want 1", e.Lease.OwnerSwitchesSinceCheckpoint)
				}
			}
		}
		if expired != 2 {
			t.Errorf("b took %d expired leases, want 2", expired)
		}
	})
}

func TestRenewerNoticesSteal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 1)
		a := startWorker(t, db, "a")
		synctest.Wait()
		l, ok := a.c.Lease("shardId-000000000000")
		if !ok {
			t.Fatal("a did not take the lease")
		}
		<-a.c.Changed() // the take signalled

		thief := newManager(t, db, "thief")
		cur := mustGet(t, thief, l.Key)
		if _, err := thief.Take(t.Context(), cur); err != nil {
			t.Fatal(err)
		}
		time.Sleep(renewEvery + afterRounds)
		select {
		case <-a.c.Changed():
		default:
			t.Error("no change signalled after the loss")
		}
		if _, ok := a.c.Lease(l.Key); ok {
			t.Fatal("a still holds the stolen lease after one renew interval")
		}
		if _, err := a.c.Checkpoint(t.Context(), l.Key, "42", 0); !errors.Is(err, lease.ErrLeaseLost) {
			t.Errorf("checkpoint after loss: %v, want ErrLeaseLost", err)
		}
		if lost := a.rec.lostEvents(); len(lost) != 1 || !errors.Is(lost[0].Err, lease.ErrLeaseLost) {
			t.Errorf("lost events %+v", a.rec.lostEvents())
		}
		if got := mustGet(t, thief, l.Key); got.Owner != "thief" || got.Checkpoint != lease.TrimHorizon {
			t.Errorf("the lease after a's attempts: %+v", got)
		}
	})
}

// Checkpoints through the Coordinator never collide with its own renewals (both bump the counter).
func TestCheckpointsSerialisedWithRenewals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 1)
		a := startWorker(t, db, "a")
		synctest.Wait()
		key := "shardId-000000000000"
		for i := range 600 { // one checkpoint every 100ms for a minute: many coincide with renewals
			if _, err := a.c.Checkpoint(t.Context(), key, fmt.Sprint(1000+i), int64(i%3)); err != nil {
				t.Fatalf("checkpoint %d at %v: %v", i, time.Now(), err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if a.rec.renewCount() < 15 {
			t.Errorf("only %d renewals ran", a.rec.renewCount())
		}
		got := mustGet(t, newManager(t, db, "x"), key)
		if got.Checkpoint != "1599" || got.CheckpointSubSequence != 599%3 {
			t.Errorf("stored checkpoint %s/%d", got.Checkpoint, got.CheckpointSubSequence)
		}
		if l, _ := a.c.Lease(key); !l.Equal(got) {
			t.Errorf("held copy %+v, stored %+v", l, got)
		}
	})
}

// When the table cannot be written, a worker drops its leases once the failover time passed without a
// renewal: by then others may take them, so it must stop processing.
func TestRenewalOutageDropsLeases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 2)
		a := startWorker(t, db, "a")
		synctest.Wait()
		if got := len(a.c.Held()); got != 2 {
			t.Fatalf("a holds %d", got)
		}
		outage := time.Now()
		db.SetFaults(func(c fakeaws.Call) error {
			return &types.ProvisionedThroughputExceededException{Message: aws.String("throttled")}
		}, nil)
		time.Sleep(failover - renewEvery)
		if got := len(a.c.Held()); got != 2 {
			t.Errorf("a dropped leases after %v of failed renewals, before the failover time", time.Since(outage))
		}
		time.Sleep(2 * renewEvery)
		if got := a.c.Held(); len(got) != 0 {
			t.Errorf("a still holds %v %v into the outage", got, time.Since(outage))
		}
		synctest.Wait()
		if len(a.rec.lostEvents()) != 2 {
			t.Errorf("lost events: %d, want 2", len(a.rec.lostEvents()))
		}
		for _, e := range a.rec.lostEvents() {
			if !errors.Is(e.Err, lease.ErrLeaseLost) {
				t.Errorf("lost event error %v does not wrap ErrLeaseLost", e.Err)
			}
		}
		db.SetFaults(nil, nil)
	})
}

func TestRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		a := startWorker(t, db, "a")
		synctest.Wait()
		if err := a.c.Run(t.Context()); err == nil {
			t.Error("second concurrent Run succeeded")
		}
	})
}

// gatedDB holds the first UpdateItem after arm() until release() — to interleave a renewal and a
// checkpoint exactly.
type gatedDB struct {
	*fakeaws.DynamoDB
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	open    chan struct{}
}

func (g *gatedDB) arm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.entered, g.open = true, make(chan struct{}), make(chan struct{})
}

func (g *gatedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	g.mu.Lock()
	hold := g.armed
	g.armed = false
	entered, open := g.entered, g.open
	g.mu.Unlock()
	if hold {
		close(entered)
		select {
		case <-open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.DynamoDB.UpdateItem(ctx, in, opts...)
}

func TestCheckpointWaitsForRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &gatedDB{DynamoDB: newFake(t)}
		createLeases(t, g.DynamoDB, 1)
		c := lease.NewCoordinator(newManager(t, g, "a", lease.TakeInterval(time.Hour)))
		if _, err := c.TakeRound(t.Context()); err != nil {
			t.Fatal(err)
		}
		key := "shardId-000000000000"

		g.arm()
		var wg sync.WaitGroup
		wg.Go(func() { c.RenewAll(t.Context()) })
		<-g.entered // the renewal has read the held copy and is in flight
		var cpErr error
		cpDone := make(chan struct{})
		wg.Go(func() {
			defer close(cpDone)
			_, cpErr = c.Checkpoint(t.Context(), key, "77", 1)
		})
		synctest.Wait()
		select {
		case <-cpDone:
			t.Fatal("the checkpoint ran while a renewal of the same lease was in flight")
		default:
		}
		close(g.open)
		wg.Wait()
		if cpErr != nil {
			t.Fatalf("checkpoint after the renewal: %v", cpErr)
		}
		l, ok := c.Lease(key)
		if !ok || l.Checkpoint != "77" || l.Counter != 3 { // take 1, renew 2, checkpoint 3
			t.Errorf("held %+v (held: %v)", l, ok)
		}
	})
}

func TestMaxLeasesForWorkerAndRoundEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, leasesInTest)
		a := startWorker(t, db, "a", lease.MaxLeasesForWorker(3))
		b := startWorker(t, db, "b", lease.MaxLeasesForWorker(3))
		time.Sleep(3*takeEvery + afterRounds)
		if got := distribution(a, b); !slices.Equal(got, []int{3, 3}) {
			t.Errorf("distribution %v, want [3 3] (capped; 2 leases stay unowned)", got)
		}
		a.rec.mu.Lock()
		last := a.rec.rounds[len(a.rec.rounds)-1]
		a.rec.mu.Unlock()
		if last.Leases != leasesInTest || last.Workers != 2 || last.Target != 3 || last.Held != 3 || last.Available != 2 || last.Err != nil {
			t.Errorf("last take round %+v", last)
		}
	})
}

func TestReleaseOneLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 2)
		a := startWorker(t, db, "a")
		synctest.Wait()
		key := "shardId-000000000001"
		if _, err := a.c.Checkpoint(t.Context(), key, "99", 4); err != nil {
			t.Fatal(err)
		}
		if err := a.c.Release(t.Context(), key); err != nil {
			t.Fatal(err)
		}
		if err := a.c.Release(t.Context(), key); !errors.Is(err, lease.ErrLeaseLost) {
			t.Errorf("second release: %v, want ErrLeaseLost (not held)", err)
		}
		// a does not take back what it released, even though it is alone and below target...
		time.Sleep(takeEvery - time.Second)
		if _, ok := a.c.Lease(key); ok {
			t.Fatal("a took back the lease it released")
		}
		// ...but another worker takes it at its first round, from the released checkpoint.
		b := startWorker(t, db, "b")
		synctest.Wait()
		l, ok := b.c.Lease(key)
		if !ok || l.Checkpoint != "99" || l.CheckpointSubSequence != 4 {
			t.Errorf("b: %+v, held %v", l, ok)
		}
	})
}

func TestEnsureTableGivesUpWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := fakeaws.NewDynamoDB()
		db.CreateDelay = time.Hour
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		err := newManager(t, db, "w").EnsureTable(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("EnsureTable on a table that stays CREATING: %v, want DeadlineExceeded", err)
		}
	})
}

func TestListRejectsMalformedItems(t *testing.T) {
	db := newFake(t)
	m := newManager(t, db, "w")
	mustCreate(t, m, "good")
	if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]types.AttributeValue{
			"leaseKey": &types.AttributeValueMemberS{Value: "bad"}, "leaseCounter": &types.AttributeValueMemberS{Value: "x"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.List(t.Context()); err == nil {
		t.Error("List of a table with a malformed lease succeeded")
	}
}

// TestHandedOverLeaseRetakenAtOnce: a hands two leases to b when b joins; when b then releases them,
// a takes them back at once (only stealing them back is held off).
func TestHandedOverLeaseRetakenAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)
		createLeases(t, db, 4)
		a := startWorker(t, db, "a")
		synctest.Wait()
		b := startWorker(t, db, "b")
		// b asks at its first round; a hands over at its next renewal. Release well within the
		// failover time of the hand-over, when a holding them back would show.
		handed := time.Now()
		for !slices.Equal(distribution(a, b), []int{2, 2}) {
			if time.Since(handed) > failover/2 {
				t.Fatalf("distribution %v after %v, want [2 2]", distribution(a, b), time.Since(handed))
			}
			time.Sleep(100 * time.Millisecond)
		}
		start := time.Now()
		if err := b.c.ReleaseAll(t.Context()); err != nil {
			t.Fatal(err)
		}
		a.c.Trigger()
		synctest.Wait()
		if got := len(a.c.Held()); got != 4 {
			t.Fatalf("a holds %d right after b released the leases a had handed it, want 4", got)
		}
		if el := time.Since(start); el != 0 {
			t.Errorf("took %v of virtual time, want none", el)
		}
	})
}
