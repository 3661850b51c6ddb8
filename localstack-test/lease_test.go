package localstack_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shardwise/shardwise/internal/leasecoord"
	"github.com/shardwise/shardwise/internal/testenv"
	"github.com/shardwise/shardwise/lease"
)

// The lease protocol against dynalite (the DynamoDB engine LocalStack uses): the real SDK client, real
// conditional writes, real ConditionalCheckFailedException answers.

// leaseTable returns a client and the name of a lease table that is deleted when the test ends. The table
// itself is created by EnsureTable (or by the test).
func leaseTable(t *testing.T) (*dynamodb.Client, string) {
	t.Helper()
	dc := testenv.DynamoDB(t)
	name := testenv.UniqueName(t, "lease")
	testenv.DeleteTableOnCleanup(t, dc, name)
	return dc, name
}

func leaseManager(t *testing.T, dc *dynamodb.Client, table, owner string, opts ...lease.Option) *lease.Manager {
	t.Helper()
	m, err := lease.NewManager(dc, table, owner, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLeaseEnsureTable(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	dc, table := leaseTable(t)

	// Workers starting together: one creates, the others see ResourceInUseException or CREATING.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		m := leaseManager(t, dc, table, fmt.Sprint("w", i))
		wg.Go(func() { errs[i] = m.EnsureTable(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("EnsureTable %d: %v", i, err)
		}
	}
	out, err := dc.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	d := out.Table
	if d.TableStatus != ddbtypes.TableStatusActive {
		t.Errorf("status %s, want ACTIVE", d.TableStatus)
	}
	if len(d.KeySchema) != 1 || aws.ToString(d.KeySchema[0].AttributeName) != "leaseKey" || d.KeySchema[0].KeyType != ddbtypes.KeyTypeHash {
		t.Errorf("key schema %+v", d.KeySchema)
	}
	if d.BillingModeSummary == nil || d.BillingModeSummary.BillingMode != ddbtypes.BillingModePayPerRequest {
		t.Errorf("billing mode summary %+v, want PAY_PER_REQUEST", d.BillingModeSummary)
	}
	// Idempotent on an ACTIVE table.
	if err := leaseManager(t, dc, table, "w9").EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseEnsureTableRejectsForeignTable(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	table := testenv.CreateTable(t, ctx, &dynamodb.CreateTableInput{
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
	})
	err := leaseManager(t, testenv.DynamoDB(t), table, "w").EnsureTable(ctx)
	if !errors.Is(err, lease.ErrTableMismatch) {
		t.Errorf("EnsureTable on a table keyed by id: %v, want ErrTableMismatch", err)
	}
}

func TestLeaseProtocol(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	dc, table := leaseTable(t)
	a := leaseManager(t, dc, table, "worker-a")
	b := leaseManager(t, dc, table, "worker-b")
	if err := a.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}

	parent := lease.Lease{Key: "shardId-000000000001", Checkpoint: lease.TrimHorizon,
		StartingHashKey: "0", EndingHashKey: "340282366920938463463374607431768211455"}
	child := lease.Lease{Key: "shardId-000000000002", Checkpoint: lease.TrimHorizon, ParentShardIDs: []string{parent.Key}}
	for _, l := range []lease.Lease{parent, child} {
		if err := a.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Create(ctx, parent); !errors.Is(err, lease.ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	if _, err := a.Get(ctx, "shardId-missing"); !errors.Is(err, lease.ErrNotFound) {
		t.Errorf("Get missing: %v, want ErrNotFound", err)
	}
	all, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || !all[0].Equal(parent) || !all[1].Equal(child) {
		t.Fatalf("List = %+v", all)
	}

	la, err := a.Take(ctx, all[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Take(ctx, all[0]); !errors.Is(err, lease.ErrConflict) {
		t.Fatalf("take with a stale copy: %v, want ErrConflict", err)
	}
	stale := la
	if la, err = a.Renew(ctx, la); err != nil || la.Counter != 2 {
		t.Fatalf("Renew = %+v, %v", la, err)
	}
	// A copy exactly one renewal behind looks like a retried request whose first attempt was applied
	// (the Java KCL's spurious-failure check): recognised, the current copy is returned.
	if got, err := a.Renew(ctx, stale); err != nil || got.Counter != 2 {
		t.Errorf("renew one behind = %+v, %v; want the current copy", got, err)
	}
	if la, err = a.Renew(ctx, la); err != nil || la.Counter != 3 {
		t.Fatalf("Renew = %+v, %v", la, err)
	}
	if _, err := a.Renew(ctx, stale); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("renew with a counter two behind: %v, want ErrLeaseLost", err)
	}
	if la, err = a.PrepareCheckpoint(ctx, la, "4959000001", 4, []byte{0, 1, 2, 0xff}); err != nil {
		t.Fatal(err)
	}
	if la, err = a.Checkpoint(ctx, la, "4959000002", 5); err != nil {
		t.Fatal(err)
	}
	if la.Checkpoint != "4959000002" || la.CheckpointSubSequence != 5 || la.HasPendingCheckpoint() || la.PendingCheckpointState != nil {
		t.Errorf("after checkpoint: %+v", la)
	}

	// b steals; a's copy is now stale for every write.
	lb, err := b.Take(ctx, la)
	if err != nil {
		t.Fatal(err)
	}
	if lb.OwnerSwitchesSinceCheckpoint != 1 || lb.Owner != "worker-b" {
		t.Errorf("stolen: %+v", lb)
	}
	if _, err := a.Checkpoint(ctx, la, "4959000003", 0); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("checkpoint after loss: %v, want ErrLeaseLost", err)
	}
	if _, err := a.Renew(ctx, la); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("renew after loss: %v, want ErrLeaseLost", err)
	}
	if err := a.Release(ctx, la); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("release after loss: %v, want ErrLeaseLost", err)
	}

	if lb, err = b.UpdateChildShards(ctx, lb, []string{child.Key}); err != nil {
		t.Fatal(err)
	}
	if lb, err = b.CheckpointShardEnd(ctx, lb, []string{child.Key}); err != nil {
		t.Fatal(err)
	}
	if !lb.Finished() || !slices.Equal(lb.ChildShardIDs, []string{child.Key}) {
		t.Errorf("after shard end: %+v", lb)
	}
	stored, err := b.Get(ctx, parent.Key)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.Equal(lb) {
		t.Errorf("stored %+v, returned %+v", stored, lb)
	}

	if err := b.Release(ctx, lb); err != nil {
		t.Fatal(err)
	}
	released, _ := a.Get(ctx, parent.Key)
	if released.Owner != "" || released.Counter != lb.Counter+1 {
		t.Errorf("released: %+v", released)
	}
	if err := a.DeleteLease(ctx, lb); !errors.Is(err, lease.ErrConflict) {
		t.Errorf("DeleteLease with a stale counter: %v, want ErrConflict", err)
	}
	if err := a.DeleteLease(ctx, released); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, parent.Key); !errors.Is(err, lease.ErrNotFound) {
		t.Errorf("Delete of a deleted lease: %v, want ErrNotFound", err)
	}

	// Evict: an administrator removes a live owner.
	lc, err := a.Take(ctx, all[1])
	if err != nil {
		t.Fatal(err)
	}
	ev, err := b.Evict(ctx, lc)
	if err != nil || ev.Owner != "" {
		t.Fatalf("Evict = %+v, %v", ev, err)
	}
	if _, err := a.Renew(ctx, lc); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("renew after eviction: %v, want ErrLeaseLost", err)
	}
}

func TestLeaseTwoManagersRace(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	dc, table := leaseTable(t)
	ms := []*lease.Manager{leaseManager(t, dc, table, "racer-1"), leaseManager(t, dc, table, "racer-2")}
	if err := ms[0].EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 20
	// Both create every lease at once: each is created exactly once.
	var wg sync.WaitGroup
	created := make([][n]bool, len(ms))
	for i, m := range ms {
		wg.Go(func() {
			for k := range n {
				err := m.Create(ctx, lease.Lease{Key: fmt.Sprintf("shardId-%012d", k), Checkpoint: lease.TrimHorizon})
				switch {
				case err == nil:
					created[i][k] = true
				case !errors.Is(err, lease.ErrExists):
					t.Errorf("Create: %v", err)
				}
			}
		})
	}
	wg.Wait()
	for k := range n {
		if created[0][k] == created[1][k] {
			t.Errorf("lease %d created by both or neither", k)
		}
	}

	// Both take every lease from the same listed copies: exactly one wins each.
	leases, err := ms[0].List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	won := make([]map[string]bool, len(ms))
	for i, m := range ms {
		won[i] = map[string]bool{}
		wg.Go(func() {
			for _, l := range leases {
				_, err := m.Take(ctx, l)
				switch {
				case err == nil:
					won[i][l.Key] = true
				case !errors.Is(err, lease.ErrConflict):
					t.Errorf("Take: %v", err)
				}
			}
		})
	}
	wg.Wait()
	final, err := ms[0].List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range final {
		w0, w1 := won[0][l.Key], won[1][l.Key]
		if w0 == w1 {
			t.Errorf("%s: won by both or neither (%v, %v)", l.Key, w0, w1)
			continue
		}
		want := "racer-1"
		if w1 {
			want = "racer-2"
		}
		if l.Owner != want || l.Counter != 1 {
			t.Errorf("%s: stored owner %q counter %d, want %q 1", l.Key, l.Owner, l.Counter, want)
		}
	}
}

// Items exactly as the Java KCL 2.x writes them (DynamoDBLeaseSerializer via the legacy Expected /
// AttributeUpdates API); a Shardwise Manager reads them back exactly, continues from their checkpoints,
// and what it writes stays readable and conditionally updatable the Java way.
func TestLeaseJavaKCLAdoption(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	dc, table := leaseTable(t)
	m := leaseManager(t, dc, table, "shardwise-1")
	if err := m.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	S := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	N := func(v int64) ddbtypes.AttributeValue {
		return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	SS := func(v ...string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberSS{Value: v} }
	const seq = "49590338271490256608559692538361571095921575989136588898"
	javaItems := []map[string]ddbtypes.AttributeValue{
		{ // an owned shard checkpointed inside an aggregated record
			"leaseKey": S("shardId-000000000000"), "leaseOwner": S("java-host-1"), "leaseCounter": N(17),
			"ownerSwitchesSinceCheckpoint": N(0), "checkpoint": S(seq), "checkpointSubSequenceNumber": N(3),
		},
		{ // a finished parent (split)
			"leaseKey": S("shardId-000000000001"), "leaseOwner": S("java-host-2"), "leaseCounter": N(250),
			"ownerSwitchesSinceCheckpoint": N(0), "checkpoint": S("SHARD_END"), "checkpointSubSequenceNumber": N(0),
			"childShardIds": SS("shardId-000000000003", "shardId-000000000004"),
		},
		{ // never taken
			"leaseKey": S("shardId-000000000002"), "leaseCounter": N(0), "ownerSwitchesSinceCheckpoint": N(0),
			"checkpoint": S("TRIM_HORIZON"), "checkpointSubSequenceNumber": N(0),
		},
		{ // a child with one parent and its hash range
			"leaseKey": S("shardId-000000000003"), "leaseOwner": S("java-host-1"), "leaseCounter": N(5),
			"ownerSwitchesSinceCheckpoint": N(2), "checkpoint": S("TRIM_HORIZON"), "checkpointSubSequenceNumber": N(0),
			"parentShardId":   SS("shardId-000000000001"),
			"startingHashKey": S("0"), "endingHashKey": S("170141183460469231731687303715884105727"),
		},
		{ // a merged child with two parents and a prepared checkpoint
			"leaseKey": S("shardId-000000000005"), "leaseOwner": S("java-host-2"), "leaseCounter": N(9),
			"ownerSwitchesSinceCheckpoint": N(1), "checkpoint": S("49590338271490256608559692538361571095921575989136500000"),
			"checkpointSubSequenceNumber":        N(0),
			"pendingCheckpoint":                  S("49590338271490256608559692538361571095921575989136511111"),
			"pendingCheckpointSubSequenceNumber": N(2),
			"pendingCheckpointState":             &ddbtypes.AttributeValueMemberB{Value: []byte("java-state")},
			"parentShardId":                      SS("shardId-000000000003", "shardId-000000000004"),
		},
	}
	for _, it := range javaItems {
		// createLeaseIfNotExists: PutItem expecting leaseKey not to exist.
		if _, err := dc.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(table), Item: it,
			Expected: map[string]ddbtypes.ExpectedAttributeValue{"leaseKey": {Exists: aws.Bool(false)}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	want := []lease.Lease{
		{Key: "shardId-000000000000", Owner: "java-host-1", Counter: 17, Checkpoint: seq, CheckpointSubSequence: 3},
		{Key: "shardId-000000000001", Owner: "java-host-2", Counter: 250, Checkpoint: lease.ShardEnd,
			ChildShardIDs: []string{"shardId-000000000003", "shardId-000000000004"}},
		{Key: "shardId-000000000002", Checkpoint: lease.TrimHorizon},
		{Key: "shardId-000000000003", Owner: "java-host-1", Counter: 5, OwnerSwitchesSinceCheckpoint: 2,
			Checkpoint: lease.TrimHorizon, ParentShardIDs: []string{"shardId-000000000001"},
			StartingHashKey: "0", EndingHashKey: "170141183460469231731687303715884105727"},
		{Key: "shardId-000000000005", Owner: "java-host-2", Counter: 9, OwnerSwitchesSinceCheckpoint: 1,
			Checkpoint:        "49590338271490256608559692538361571095921575989136500000",
			PendingCheckpoint: "49590338271490256608559692538361571095921575989136511111", PendingCheckpointSubSequence: 2,
			PendingCheckpointState: []byte("java-state"),
			ParentShardIDs:         []string{"shardId-000000000003", "shardId-000000000004"}},
	}
	got, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("List returned %d leases, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("lease %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	// A Java worker checkpoints (updateLease: legacy AttributeUpdates, Expected leaseCounter) ...
	if _, err := dc.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"leaseKey": S("shardId-000000000000")},
		Expected: map[string]ddbtypes.ExpectedAttributeValue{"leaseCounter": {Value: N(17)}},
		AttributeUpdates: map[string]ddbtypes.AttributeValueUpdate{
			"leaseCounter":                       {Action: ddbtypes.AttributeActionPut, Value: N(18)},
			"checkpoint":                         {Action: ddbtypes.AttributeActionPut, Value: S(seq)},
			"checkpointSubSequenceNumber":        {Action: ddbtypes.AttributeActionPut, Value: N(9)},
			"ownerSwitchesSinceCheckpoint":       {Action: ddbtypes.AttributeActionPut, Value: N(0)},
			"pendingCheckpoint":                  {Action: ddbtypes.AttributeActionDelete},
			"pendingCheckpointSubSequenceNumber": {Action: ddbtypes.AttributeActionDelete},
		},
	}); err != nil {
		t.Fatal(err)
	}
	// ... then dies; Shardwise takes over from exactly that checkpoint.
	l0, err := m.Get(ctx, "shardId-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if l0.Checkpoint != seq || l0.CheckpointSubSequence != 9 || l0.Counter != 18 {
		t.Fatalf("after the Java checkpoint: %+v", l0)
	}
	l0, err = m.Take(ctx, l0)
	if err != nil {
		t.Fatal(err)
	}
	if l0.OwnerSwitchesSinceCheckpoint != 1 || l0.Checkpoint != seq || l0.CheckpointSubSequence != 9 {
		t.Errorf("taken: %+v", l0)
	}
	if l0, err = m.Checkpoint(ctx, l0, "49590338271490256608559692538361571095921575989136599999", 1); err != nil {
		t.Fatal(err)
	}

	// What Shardwise wrote has the Java types, and a Java worker could take it back with its own
	// conditional write (takeLease: Expected leaseCounter, PUT owner and counter+1, ADD owner switches).
	raw, err := dc.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"leaseKey": S("shardId-000000000000")},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range map[string]string{
		"leaseKey": "S", "leaseOwner": "S", "leaseCounter": "N", "checkpoint": "S",
		"checkpointSubSequenceNumber": "N", "ownerSwitchesSinceCheckpoint": "N",
	} {
		if got := attrType(raw.Item[name]); got != typ {
			t.Errorf("attribute %s has type %s, want %s", name, got, typ)
		}
	}
	if _, ok := raw.Item["pendingCheckpoint"]; ok {
		t.Error("checkpoint left pendingCheckpoint behind")
	}
	if _, err := dc.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(table), Key: map[string]ddbtypes.AttributeValue{"leaseKey": S("shardId-000000000000")},
		Expected: map[string]ddbtypes.ExpectedAttributeValue{"leaseCounter": {Value: N(l0.Counter)}},
		AttributeUpdates: map[string]ddbtypes.AttributeValueUpdate{
			"leaseCounter":                 {Action: ddbtypes.AttributeActionPut, Value: N(l0.Counter + 1)},
			"leaseOwner":                   {Action: ddbtypes.AttributeActionPut, Value: S("java-host-3")},
			"ownerSwitchesSinceCheckpoint": {Action: ddbtypes.AttributeActionAdd, Value: N(1)},
		},
	}); err != nil {
		t.Fatalf("Java-style take of a lease Shardwise wrote: %v", err)
	}
	if _, err := m.Renew(ctx, l0); !errors.Is(err, lease.ErrLeaseLost) {
		t.Errorf("renew after the Java worker took it: %v, want ErrLeaseLost", err)
	}
}

func attrType(v ddbtypes.AttributeValue) string {
	switch v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return "S"
	case *ddbtypes.AttributeValueMemberN:
		return "N"
	case *ddbtypes.AttributeValueMemberSS:
		return "SS"
	case *ddbtypes.AttributeValueMemberB:
		return "B"
	case nil:
		return "missing"
	}
	return fmt.Sprintf("%T", v)
}

// Two Coordinators on a real engine with a short failover: they share the leases, and a graceful release
// hands everything to the other within one take interval.
func TestLeaseCoordinatorsShareAndRelease(t *testing.T) {
	ctx := testenv.Context(t, 2*time.Minute)
	dc, table := leaseTable(t)
	opts := []lease.Option{lease.Failover(2 * time.Second)}
	setup := leaseManager(t, dc, table, "setup", opts...)
	if err := setup.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if err := setup.Create(ctx, lease.Lease{Key: fmt.Sprintf("shardId-%012d", i), Checkpoint: lease.TrimHorizon}); err != nil {
			t.Fatal(err)
		}
	}
	run := func(owner string) (coordinator, func()) {
		c := newCoordinator(t, leaseManager(t, dc, table, owner, opts...), leasecoord.Config{TakeInterval: 500 * time.Millisecond})
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Run(rctx) }()
		var once sync.Once
		stop := func() {
			once.Do(func() {
				cancel()
				if err := <-done; !errors.Is(err, context.Canceled) {
					t.Errorf("Run(%s) = %v", owner, err)
				}
			})
		}
		t.Cleanup(stop)
		return c, stop
	}
	a, stopA := run("a")
	b, _ := run("b")
	waitFor(t, ctx, "3/3", func() bool { return len(a.Held()) == 3 && len(b.Held()) == 3 })

	if err := a.ReleaseAll(ctx); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	stopA()
	waitFor(t, ctx, "b holds all 6", func() bool { return len(b.Held()) == 6 })
	if el := time.Since(released); el > 2*time.Second {
		t.Errorf("released leases were taken after %v; want within a take interval, not the failover time", el)
	}
	all, err := setup.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range all {
		if l.Owner != "b" {
			t.Errorf("%s owned by %q, want b", l.Key, l.Owner)
		}
	}
}

// waitFor polls cond every 50ms until it holds or ctx ends (an engine test cannot use a fake clock).
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}
