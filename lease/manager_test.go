package lease_test

import (
	"errors"
	"fmt"
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

const table = "app"

// newFake returns a fake DynamoDB holding an empty lease table.
func newFake(t *testing.T) *fakeaws.DynamoDB {
	t.Helper()
	db := fakeaws.NewDynamoDB()
	t.Cleanup(db.Settle) // last: after the workers stopped, their requests still on the wire are served
	m := newManager(t, db, "setup")
	if err := m.EnsureTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func newManager(t *testing.T, db lease.DynamoDBAPI, owner string, opts ...lease.Option) *lease.Manager {
	t.Helper()
	m, err := lease.NewManager(db, table, owner, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustCreate(t *testing.T, m *lease.Manager, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if err := m.Create(t.Context(), lease.Lease{Key: k, Checkpoint: lease.TrimHorizon}); err != nil {
			t.Fatal(err)
		}
	}
}

func mustGet(t *testing.T, m *lease.Manager, key string) lease.Lease {
	t.Helper()
	l, err := m.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNewManagerValidates(t *testing.T) {
	db := fakeaws.NewDynamoDB()
	bad := map[string]func() error{
		"nil client":    func() error { _, err := lease.NewManager(nil, table, "w"); return err },
		"empty table":   func() error { _, err := lease.NewManager(db, "", "w"); return err },
		"empty owner":   func() error { _, err := lease.NewManager(db, table, ""); return err },
		"zero failover": func() error { _, err := lease.NewManager(db, table, "w", lease.Failover(0)); return err },
		"renew >= failover": func() error {
			_, err := lease.NewManager(db, table, "w", lease.RenewInterval(10*time.Second))
			return err
		},
		"negative steal": func() error { _, err := lease.NewManager(db, table, "w", lease.MaxLeasesToStealAtOnce(-1)); return err },
		"bad capacity":   func() error { _, err := lease.NewManager(db, table, "w", lease.Provisioned(0, 1)); return err },
		"useless hook":   func() error { _, err := lease.NewManager(db, table, "w", lease.WithHooks(42)); return err },
	}
	for name, f := range bad {
		if err := f(); !errors.Is(err, lease.ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
}

func TestEnsureTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := fakeaws.NewDynamoDB()
		db.CreateDelay = 3 * time.Second
		// Several workers start at once: one creates, the others get ResourceInUseException or see
		// CREATING, and all return once the table is ACTIVE.
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = newManager(t, db, fmt.Sprint("w", i)).EnsureTable(t.Context()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("EnsureTable %d: %v", i, err)
			}
		}
		if got := db.Calls("CreateTable"); got < 1 {
			t.Errorf("CreateTable calls = %d", got)
		}
		out, err := db.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Table.TableStatus != types.TableStatusActive || out.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
			t.Errorf("table %s, billing %s; want ACTIVE, PAY_PER_REQUEST", out.Table.TableStatus, out.Table.BillingModeSummary.BillingMode)
		}
		if k := out.Table.KeySchema; len(k) != 1 || aws.ToString(k[0].AttributeName) != "leaseKey" {
			t.Errorf("key schema %v", k)
		}
		// Existing table: no second create.
		before := db.Calls("CreateTable")
		if err := newManager(t, db, "w9").EnsureTable(t.Context()); err != nil {
			t.Fatal(err)
		}
		if db.Calls("CreateTable") != before {
			t.Error("EnsureTable created an existing table again")
		}
	})
}

func TestEnsureTableProvisionedAndMismatch(t *testing.T) {
	ctx := t.Context()
	db := fakeaws.NewDynamoDB()
	m, err := lease.NewManager(db, "prov", "w", lease.Provisioned(5, 7))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	out, _ := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("prov")})
	if pt := out.Table.ProvisionedThroughput; pt == nil || aws.ToInt64(pt.ReadCapacityUnits) != 5 || aws.ToInt64(pt.WriteCapacityUnits) != 7 {
		t.Errorf("provisioned throughput %+v", out.Table.ProvisionedThroughput)
	}

	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("other"),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	m2, _ := lease.NewManager(db, "other", "w")
	if err := m2.EnsureTable(ctx); !errors.Is(err, lease.ErrTableMismatch) {
		t.Errorf("EnsureTable on a foreign table: %v, want ErrTableMismatch", err)
	}
}

func TestCreateGetList(t *testing.T) {
	db := newFake(t)
	db.ScanPageSize = 2 // force pagination
	m := newManager(t, db, "w1")
	ctx := t.Context()
	mustCreate(t, m, "s3", "s1", "s2", "s5", "s4")
	if err := m.Create(ctx, lease.Lease{Key: "s1", Checkpoint: lease.Latest}); !errors.Is(err, lease.ErrExists) {
		t.Errorf("Create of an existing key: %v, want ErrExists", err)
	}
	if l := mustGet(t, m, "s1"); l.Checkpoint != lease.TrimHorizon || l.Owner != "" || l.Counter != 0 {
		t.Errorf("the failed create changed the lease: %+v", l)
	}
	if _, err := m.Get(ctx, "nope"); !errors.Is(err, lease.ErrNotFound) {
		t.Errorf("Get of a missing key: %v, want ErrNotFound", err)
	}
	ls, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, l := range ls {
		keys = append(keys, l.Key)
	}
	if fmt.Sprint(keys) != "[s1 s2 s3 s4 s5]" {
		t.Errorf("List keys = %v", keys)
	}
}

func TestTwoTakersOneWins(t *testing.T) {
	db := newFake(t)
	setup := newManager(t, db, "setup")
	mustCreate(t, setup, "shard")
	l := mustGet(t, setup, "shard")

	const takers = 8
	var wg sync.WaitGroup
	results := make([]error, takers)
	for i := range takers {
		m := newManager(t, db, fmt.Sprint("w", i))
		wg.Go(func() { _, results[i] = m.Take(t.Context(), l) }) // all from the same copy
	}
	wg.Wait()
	wins := 0
	for _, err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, lease.ErrConflict):
			t.Errorf("Take: %v, want nil or ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d takers won, want exactly 1", wins)
	}
	got := mustGet(t, setup, "shard")
	if got.Counter != l.Counter+1 || got.Owner == "" || got.OwnerSwitchesSinceCheckpoint != 0 {
		t.Errorf("after the race: %+v (taking an unowned lease is no owner switch)", got)
	}
}

func TestRenewTakeCheckpointRelease(t *testing.T) {
	db := newFake(t)
	ctx := t.Context()
	a := newManager(t, db, "a")
	b := newManager(t, db, "b")
	mustCreate(t, a, "s")
	la, err := a.Take(ctx, mustGet(t, a, "s"))
	if err != nil {
		t.Fatal(err)
	}
	if la.Owner != "a" || la.Counter != 1 {
		t.Fatalf("taken: %+v", la)
	}
	la, err = a.Renew(ctx, la)
	if err != nil || la.Counter != 2 {
		t.Fatalf("Renew = %+v, %v", la, err)
	}
	if _, err := b.Renew(ctx, la); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("renewing someone else's lease: %v, want ErrLeaseLost", err)
	}

	la, err = a.PrepareCheckpoint(ctx, la, "100", 2, []byte("app-state"))
	if err != nil {
		t.Fatal(err)
	}
	if la.PendingCheckpoint != "100" || la.PendingCheckpointSubSequence != 2 || string(la.PendingCheckpointState) != "app-state" || la.Checkpoint != lease.TrimHorizon {
		t.Errorf("after PrepareCheckpoint: %+v", la)
	}

	// b steals the lease (renew vs steal): a's stale copy is now useless.
	stale := la
	lb, err := b.Take(ctx, la)
	if err != nil {
		t.Fatal(err)
	}
	if lb.Owner != "b" || lb.OwnerSwitchesSinceCheckpoint != 1 || lb.PendingCheckpoint != "100" {
		t.Errorf("stolen: %+v", lb)
	}
	if _, err := a.Renew(ctx, stale); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("renew after steal: %v, want ErrLeaseLost", err)
	}
	if _, err := a.Checkpoint(ctx, stale, "200", 0); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("checkpoint after loss: %v, want ErrLeaseLost", err)
	}
	if _, err := a.Take(ctx, stale); !errors.Is(err, lease.ErrConflict) {
		t.Errorf("take with a stale copy: %v, want ErrConflict", err)
	}
	if err := a.Release(ctx, stale); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("release after loss: %v, want ErrLeaseLost", err)
	}
	if got := mustGet(t, b, "s"); got.Checkpoint != lease.TrimHorizon || got.Owner != "b" {
		t.Errorf("a's failed writes changed the lease: %+v", got)
	}

	lb, err = b.Checkpoint(ctx, lb, "150", 7)
	if err != nil {
		t.Fatal(err)
	}
	if lb.Checkpoint != "150" || lb.CheckpointSubSequence != 7 || lb.OwnerSwitchesSinceCheckpoint != 0 ||
		lb.HasPendingCheckpoint() || lb.PendingCheckpointState != nil {
		t.Errorf("after Checkpoint: %+v (want switches reset, pending cleared)", lb)
	}
	if got := mustGet(t, b, "s"); !got.Equal(lb) {
		t.Errorf("returned copy %+v differs from the stored lease %+v", lb, got)
	}

	if err := b.Release(ctx, lb); err != nil {
		t.Fatal(err)
	}
	rel := mustGet(t, b, "s")
	if rel.Owner != "" || rel.Counter != lb.Counter+1 || rel.Checkpoint != "150" {
		t.Errorf("released: %+v", rel)
	}
	// Anyone takes a released lease at once, and it is no owner switch.
	la, err = a.Take(ctx, rel)
	if err != nil || la.OwnerSwitchesSinceCheckpoint != 0 {
		t.Errorf("take after release: %+v, %v", la, err)
	}
}

func TestShardEndBookkeepingAndDelete(t *testing.T) {
	db := newFake(t)
	ctx := t.Context()
	m := newManager(t, db, "w")
	mustCreate(t, m, "parent")
	l, err := m.Take(ctx, mustGet(t, m, "parent"))
	if err != nil {
		t.Fatal(err)
	}
	if l, err = m.UpdateChildShards(ctx, l, []string{"c2", "c1"}); err != nil {
		t.Fatal(err)
	}
	if l, err = m.CheckpointShardEnd(ctx, l, []string{"c1", "c2"}); err != nil {
		t.Fatal(err)
	}
	if !l.Finished() || fmt.Sprint(l.ChildShardIDs) != "[c1 c2]" {
		t.Errorf("after shard end: %+v", l)
	}
	if _, err := m.UpdateChildShards(ctx, l, nil); !errors.Is(err, lease.ErrInvalidConfig) {
		t.Errorf("no children: %v", err)
	}
	stale := l
	if l, err = m.Renew(ctx, l); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteLease(ctx, stale); !errors.Is(err, lease.ErrConflict) {
		t.Errorf("DeleteLease with a stale counter: %v, want ErrConflict", err)
	}
	if err := m.DeleteLease(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(ctx, "parent"); !errors.Is(err, lease.ErrNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if err := m.Delete(ctx, "parent"); !errors.Is(err, lease.ErrNotFound) {
		t.Errorf("Delete of a missing lease: %v, want ErrNotFound", err)
	}
	mustCreate(t, m, "x")
	if err := m.Delete(ctx, "x"); err != nil {
		t.Fatal(err)
	}
}

func TestEvict(t *testing.T) {
	db := newFake(t)
	ctx := t.Context()
	a, admin := newManager(t, db, "a"), newManager(t, db, "admin")
	mustCreate(t, a, "s")
	la, _ := a.Take(ctx, mustGet(t, a, "s"))
	ev, err := admin.Evict(ctx, la)
	if err != nil || ev.Owner != "" || ev.Counter != la.Counter+1 {
		t.Fatalf("Evict = %+v, %v", ev, err)
	}
	if _, err := admin.Evict(ctx, la); !errors.Is(err, lease.ErrConflict) {
		t.Errorf("second Evict with a stale copy: %v, want ErrConflict", err)
	}
	if _, err := a.Renew(ctx, la); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("renew after eviction: %v, want ErrLeaseLost", err)
	}
}

// A renewal whose write was applied but whose answer was lost, so that the retry fails its condition, is
// recognised as a success (the Java KCL's "spurious renewal failure").
func TestRenewSpuriousFailure(t *testing.T) {
	db := newFake(t)
	ctx := t.Context()
	m := newManager(t, db, "a")
	mustCreate(t, m, "s")
	l, _ := m.Take(ctx, mustGet(t, m, "s"))

	// Simulate the SDK's retry: the first UpdateItem is applied but reported as failed; the test then
	// calls Renew with the same copy, as the retry would resend the same request.
	lost := errors.New("connection reset")
	db.SetFaults(nil, func(c fakeaws.Call) error {
		if c.Op == "UpdateItem" {
			return lost
		}
		return nil
	})
	if _, err := m.Renew(ctx, l); !errors.Is(err, lost) {
		t.Fatalf("first renew: %v", err)
	}
	db.SetFaults(nil, nil)
	nl, err := m.Renew(ctx, l)
	if err != nil {
		t.Fatalf("retried renew: %v, want success", err)
	}
	if nl.Counter != l.Counter+1 || nl.Owner != "a" {
		t.Errorf("recovered copy %+v", nl)
	}
	// But a real loss is still a loss.
	if _, err := newManager(t, db, "b").Take(ctx, nl); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Renew(ctx, nl); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("renew after steal: %v, want ErrLeaseLost", err)
	}
}

func TestTransientErrorsAreNotLoss(t *testing.T) {
	db := newFake(t)
	ctx := t.Context()
	m := newManager(t, db, "a")
	mustCreate(t, m, "s")
	l, _ := m.Take(ctx, mustGet(t, m, "s"))
	db.SetFaults(func(c fakeaws.Call) error {
		return &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	}, nil)
	_, err := m.Renew(ctx, l)
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) || errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("throttled renew: %v, want the throttling error, not ErrLeaseLost", err)
	}
	if _, err := m.Checkpoint(ctx, l, "1", 0); errors.Is(err, lease.ErrLeaseLost) || !errors.As(err, &pte) {
		t.Errorf("throttled checkpoint: %v", err)
	}
}

func TestCheckpointValidatesAndHooks(t *testing.T) {
	db := newFake(t)
	ctx := t.Context()
	rec := &recorder{}
	m := newManager(t, db, "a", lease.WithHooks(rec))
	mustCreate(t, m, "s")
	l, _ := m.Take(ctx, mustGet(t, m, "s"))
	if _, err := m.Checkpoint(ctx, l, "", 0); !errors.Is(err, lease.ErrInvalidConfig) {
		t.Errorf("empty sequence: %v", err)
	}
	if _, err := m.Checkpoint(ctx, l, "5", -1); !errors.Is(err, lease.ErrInvalidConfig) {
		t.Errorf("negative sub-sequence: %v", err)
	}
	if _, err := m.Checkpoint(ctx, l, "5", 1); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.checkpoints) != 3 || rec.checkpoints[2].Err != nil || rec.checkpoints[2].SubSequenceNumber != 1 {
		t.Errorf("checkpoint hook events %+v", rec.checkpoints)
	}
	for _, e := range rec.checkpoints {
		if e.Table != m.Table() {
			t.Errorf("checkpoint event of table %q, want %q", e.Table, m.Table())
		}
	}
}
