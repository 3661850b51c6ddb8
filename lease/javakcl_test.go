package lease_test

// Tables written by the Java KCL. The fixtures use the attribute names of the Java serializers
// (DynamoDBLeaseSerializer, DynamoDBMultiStreamLeaseSerializer, WorkerMetricStats, MigrationState,
// LeaderLock with the DynamoDB lock client's attributes), as Java KCL 3.5 writes them.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/lease"
)

type item = map[string]types.AttributeValue

func avS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func avN(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
func avL(v ...types.AttributeValue) types.AttributeValue {
	return &types.AttributeValueMemberL{Value: v}
}
func avM(v item) types.AttributeValue { return &types.AttributeValueMemberM{Value: v} }

// javaLease is a lease as Java KCL 3.5 writes it.
func javaLease(key, owner string, counter int, checkpoint string) item {
	it := item{
		"leaseKey": avS(key), "leaseCounter": avN(fmt.Sprint(counter)),
		"checkpoint": avS(checkpoint), "checkpointSubSequenceNumber": avN("0"),
		"ownerSwitchesSinceCheckpoint": avN("0"),
		"startingHashKey":              avS("0"), "endingHashKey": avS("340282366920938463463374607431768211455"),
		"throughputKBps": avN("12.5"),
		"entityType":     avS("LEASE"),
	}
	if owner != "" {
		it["leaseOwner"] = avS(owner)
	}
	return it
}

// javaTable seeds the lease table "app" of a Java KCL 3.5 application: four leases owned by two Java
// workers (checkpoints 1001..1004), their worker metrics, the leader lock and the migration state in mode
// cv. It returns the non-lease items as seeded.
func javaTable(t *testing.T, db *fakeaws.DynamoDB, cv string) []item {
	t.Helper()
	ctx := t.Context()
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("leaseKey"), AttributeType: types.ScalarAttributeTypeS}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	var others []item
	for i, w := range []string{"java-worker-1", "java-worker-2"} {
		others = append(others, item{
			"leaseKey": avS(w), "entityType": avS("WORKER_METRIC_STATS"), "lut": avN("1733300000"),
			"sts":        avM(item{"CPU": avL(avN("41.5"), avN("40.0"))}),
			"opr":        avM(item{"CPU": avL(avN("100"))}),
			"properties": avM(item{"kclVersion": avS("3.5.1")}),
			"sup":        avN(fmt.Sprint(i)), "slu": avN("1733300000"),
		})
	}
	others = append(others,
		item{
			"leaseKey": avS("Leader"), "entityType": avS("LEADER"), "ownerName": avS("java-worker-1"),
			"leaseDuration": avS("600000"), "recordVersionNumber": avS("8f1d7c2e-4b1a-4c55-9a9e-0e6d2d6f1b11"),
		},
		item{
			"leaseKey": avS("Migration3.0"), "entityType": avS("CLIENT_VERSION_MIGRATION"), "cv": avS(cv),
			"mb": avS("java-worker-1"), "mts": avN("1733300000000"),
			"h": avL(avM(item{"cv": avS("CLIENT_VERSION_INIT"), "mb": avS("java-worker-1"), "mts": avN("1733200000000")})),
		},
	)
	items := append([]item{}, others...)
	for i := range 4 {
		items = append(items, javaLease(fmt.Sprintf("shardId-%012d", i), fmt.Sprintf("java-worker-%d", i%2+1), 40+i, fmt.Sprint(1001+i)))
	}
	for _, it := range items {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	return others
}

func checkUntouched(t *testing.T, db *fakeaws.DynamoDB, others []item) {
	t.Helper()
	for _, want := range others {
		key := want["leaseKey"].(*types.AttributeValueMemberS).Value
		if got := db.Item(table, key); !reflect.DeepEqual(got, want) {
			t.Errorf("non-lease item %s changed:\n got %v\nwant %v", key, got, want)
		}
	}
}

// writes counts the calls that change a table.
func writes(db *fakeaws.DynamoDB) int {
	return db.Calls("PutItem") + db.Calls("UpdateItem") + db.Calls("DeleteItem") + db.Calls("CreateTable")
}

// TestAdoptJavaKCL35Table: a table a Java KCL 3.5 application wrote, its Java workers stopped, is adopted
// at its checkpoints, in 2.x-compatible mode and in 3.x mode alike; List returns only the leases and
// the worker metrics, leader lock and migration state are left untouched.
func TestAdoptJavaKCL35Table(t *testing.T) {
	for _, cv := range []string{"CLIENT_VERSION_UPGRADE_FROM_2X", "CLIENT_VERSION_2X", "CLIENT_VERSION_3X"} {
		t.Run(cv, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := fakeaws.NewDynamoDB()
				others := javaTable(t, db, cv)
				m := newManager(t, db, "observer")
				if err := m.EnsureTable(t.Context()); err != nil {
					t.Fatalf("EnsureTable on a stopped Java application's table: %v", err)
				}
				ls, err := m.List(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if len(ls) != 4 {
					t.Fatalf("List returned %d items, want the 4 leases: %v", len(ls), ls)
				}
				for i, l := range ls {
					if l.OwnedByShardwise() || l.Checkpoint != fmt.Sprint(1001+i) {
						t.Errorf("lease %+v", l)
					}
				}
				if _, err := m.Get(t.Context(), "Leader"); !errors.Is(err, lease.ErrNotFound) {
					t.Errorf("Get(Leader) = %v, want ErrNotFound: it is not a lease", err)
				}

				w := startWorker(t, db, "sw-1")
				time.Sleep(2*takeEvery + failover + afterRounds)
				held := w.c.Held()
				if len(held) != 4 {
					t.Fatalf("held %v, want the 4 expired Java leases", heldKeys(w))
				}
				for i, l := range held {
					if l.Checkpoint != fmt.Sprint(1001+i) || !l.OwnedByShardwise() {
						t.Errorf("adopted %+v, want checkpoint %d", l, 1001+i)
					}
				}
				checkUntouched(t, db, others)
				w.kill()
				if rounds := w.rec.rounds; len(rounds) == 0 || rounds[len(rounds)-1].Leases != 4 {
					t.Errorf("take rounds %v, want the last to count 4 leases", rounds)
				}
			})
		})
	}
}

// javaFleet simulates live Java workers: every RenewInterval each renews its leases (counter + 1, leaseOwner
// unchanged, nothing else touched: the Java renewer's update). It returns how many writes it made.
func javaFleet(ctx context.Context, t *testing.T, db *fakeaws.DynamoDB, keys ...string) *atomic.Int64 {
	var n atomic.Int64
	go func() {
		tick := time.NewTicker(renewEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, k := range keys {
				_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName: aws.String(table), Key: item{"leaseKey": avS(k)},
					UpdateExpression:          aws.String("SET leaseCounter = leaseCounter + :one"),
					ExpressionAttributeValues: item{":one": avN("1")},
				})
				n.Add(1)
				if err != nil && ctx.Err() == nil {
					t.Errorf("Java renewal: %v", err)
				}
			}
		}
	}()
	return &n
}

func checkRefused(t *testing.T, err, reason error, advice ...string) {
	t.Helper()
	var re *lease.RefusedError
	if !errors.As(err, &re) || !errors.Is(err, lease.ErrTableRefused) || !errors.Is(err, reason) {
		t.Fatalf("got %v, want a RefusedError for %v", err, reason)
	}
	for _, a := range advice {
		if !strings.Contains(err.Error(), a) {
			t.Errorf("refusal %q does not say %q", err, a)
		}
	}
}

// TestRefuseJava3xFleet: a table whose migration state says CLIENT_VERSION_3X(_WITH_ROLLBACK) (in the
// lease table, or in <app>-CoordinatorState for Java KCL 3.0 to 3.4) while Java workers renew their leases
// is refused with what to do, and nothing is written to it: not by EnsureTable, Create, Run.
func TestRefuseJava3xFleet(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprintf("coordinator_state_table=%v", legacy), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := fakeaws.NewDynamoDB()
				cv := "CLIENT_VERSION_3X_WITH_ROLLBACK"
				others := javaTable(t, db, cv)
				if legacy { // 3.0-3.4: the migration state lives in <app>-CoordinatorState
					if _, err := db.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: item{"leaseKey": avS("Migration3.0")}}); err != nil {
						t.Fatal(err)
					}
					others = others[:len(others)-1]
					if _, err := db.CreateTable(t.Context(), &dynamodb.CreateTableInput{
						TableName:            aws.String(table + "-CoordinatorState"),
						KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("key"), KeyType: types.KeyTypeHash}},
						AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("key"), AttributeType: types.ScalarAttributeTypeS}},
						BillingMode:          types.BillingModePayPerRequest,
					}); err != nil {
						t.Fatal(err)
					}
					if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table + "-CoordinatorState"), Item: item{
						"key": avS("Migration3.0"), "cv": avS("CLIENT_VERSION_3X"), "mb": avS("java-worker-1"), "mts": avN("1733300000000"),
					}}); err != nil {
						t.Fatal(err)
					}
				}
				ctx, stop := context.WithCancel(t.Context())
				defer stop()
				javaWrites := javaFleet(ctx, t, db, "shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000003")
				base := writes(db)

				m := newManager(t, db, "sw-1")
				checkRefused(t, m.EnsureTable(t.Context()), lease.ErrJava3xFleetActive, "stop the Java fleet", "migration tool", "java-worker-1")
				checkRefused(t, m.Create(t.Context(), lease.Lease{Key: "shardId-000000000009", Checkpoint: lease.TrimHorizon}), lease.ErrJava3xFleetActive)
				m2 := newManager(t, db, "sw-2")
				checkRefused(t, lease.NewCoordinator(m2).Run(t.Context()), lease.ErrJava3xFleetActive)
				stop()
				synctest.Wait()
				if got := writes(db) - base; got != int(javaWrites.Load()) {
					t.Errorf("%d writes, of which %d by the Java fleet: Shardwise wrote to a refused table", got, javaWrites.Load())
				}
				checkUntouched(t, db, others)
			})
		})
	}
}

// TestRefuseMultiStreamTable: a Java KCL multi-stream table is refused at once, nothing written.
func TestRefuseMultiStreamTable(t *testing.T) {
	db := fakeaws.NewDynamoDB()
	others := javaTable(t, db, "CLIENT_VERSION_2X")
	ms := javaLease("123456789012:orders:1700000000:shardId-000000000007", "", 3, "TRIM_HORIZON")
	ms["streamName"], ms["shardId"] = avS("123456789012:orders:1700000000"), avS("shardId-000000000007")
	if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: ms}); err != nil {
		t.Fatal(err)
	}
	base := writes(db)
	m := newManager(t, db, "sw-1")
	checkRefused(t, m.EnsureTable(t.Context()), lease.ErrMultiStreamTable, "multi-stream", "single-stream")
	checkRefused(t, m.Create(t.Context(), lease.Lease{Key: "shardId-000000000009"}), lease.ErrMultiStreamTable)
	l := mustGet(t, m, "shardId-000000000000")
	if _, err := m.Take(t.Context(), l); !errors.Is(err, lease.ErrMultiStreamTable) {
		t.Errorf("Take on a refused table: %v", err)
	}
	checkRefused(t, lease.NewCoordinator(newManager(t, db, "sw-2")).Run(t.Context()), lease.ErrMultiStreamTable)
	if got := writes(db) - base; got != 0 {
		t.Errorf("%d writes to a refused table", got)
	}
	checkUntouched(t, db, others)
	if got := db.Item(table, "123456789012:orders:1700000000:shardId-000000000007"); !reflect.DeepEqual(got, ms) {
		t.Errorf("multi-stream lease changed: %v", got)
	}
}

// TestJavaLeasesNeverRequested: beside live Java workers (a 2.x fleet), a Shardwise worker takes unowned
// and expired leases but never asks a Java worker for a handoff (Java workers ignore pendingLeaseOwner),
// though it is below its fair share (3 of 8 with 3 workers) and a Java worker holds 4.
func TestJavaLeasesNeverRequested(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := newFake(t)   // a table of leases only (Java KCL 2.x): the rule alone, no other items
		for i := range 8 { // six live Java leases (4 on worker 1, 2 on worker 2) and two unowned ones
			owner := fmt.Sprintf("java-worker-%d", i%2+1)
			if i >= 4 {
				owner = "java-worker-1"
			}
			if i >= 6 {
				owner = ""
			}
			if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: javaLease(fmt.Sprintf("shardId-%012d", i), owner, 1, "TRIM_HORIZON")}); err != nil {
				t.Fatal(err)
			}
		}
		ctx, stop := context.WithCancel(t.Context())
		defer stop()
		var live []string
		for i := range 6 {
			live = append(live, fmt.Sprintf("shardId-%012d", i))
		}
		javaFleet(ctx, t, db, live...)
		w := startWorker(t, db, "sw-1")
		time.Sleep(4*takeEvery + afterRounds)
		if got := heldKeys(w); len(got) != 2 {
			t.Errorf("held %v, want the 2 unowned leases only", got)
		}
		for _, k := range live {
			if it := db.Item(table, k); it["pendingLeaseOwner"] != nil || it["leaseOwner"].(*types.AttributeValueMemberS).Value == "sw-1" {
				t.Errorf("live Java lease %s was requested or taken: %v", k, it)
			}
		}
		stop()
		w.kill()
	})
}
