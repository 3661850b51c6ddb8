package localstack_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shardwise/shardwise/internal/leasecoord"
	"github.com/shardwise/shardwise/internal/testenv"
	"github.com/shardwise/shardwise/lease"
)

// A table a Java KCL 3.5 application wrote, on dynalite: the items keep DynamoDB's own shapes (maps,
// lists, number sets read back as stored), so what the in-memory fake shows holds on a real engine.

type ddbItem = map[string]ddbtypes.AttributeValue

func javaLeaseTable(t *testing.T, dc *dynamodb.Client, cv string, extra ...ddbItem) (string, []ddbItem) {
	t.Helper()
	ctx := testenv.Context(t, time.Minute)
	name := testenv.CreateTable(t, ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(testenv.UniqueName(t, "javakcl")),
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("leaseKey"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
	})
	S := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	N := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberN{Value: v} }
	L := func(v ...ddbtypes.AttributeValue) ddbtypes.AttributeValue {
		return &ddbtypes.AttributeValueMemberL{Value: v}
	}
	M := func(v ddbItem) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberM{Value: v} }
	others := []ddbItem{
		{"leaseKey": S("java-worker-1"), "entityType": S("WORKER_METRIC_STATS"), "lut": N("1733300000"),
			"sts": M(ddbItem{"CPU": L(N("41.5"), N("40"))}), "opr": M(ddbItem{"CPU": L(N("100"))}),
			"properties": M(ddbItem{"kclVersion": S("3.5.1")}), "sup": N("1"), "slu": N("1733300000")},
		{"leaseKey": S("Leader"), "entityType": S("LEADER"), "ownerName": S("java-worker-1"),
			"leaseDuration": S("600000"), "recordVersionNumber": S("8f1d7c2e-4b1a-4c55-9a9e-0e6d2d6f1b11")},
		{"leaseKey": S("Migration3.0"), "entityType": S("CLIENT_VERSION_MIGRATION"), "cv": S(cv), "mb": S("java-worker-1"),
			"mts": N("1733300000000"), "h": L(M(ddbItem{"cv": S("CLIENT_VERSION_INIT"), "mb": S("java-worker-1"), "mts": N("1733200000000")}))},
	}
	items := append(append([]ddbItem{}, others...), extra...)
	for i := range 3 {
		items = append(items, ddbItem{
			"leaseKey": S(fmt.Sprintf("shardId-%012d", i)), "leaseOwner": S("java-worker-1"), "leaseCounter": N(fmt.Sprint(40 + i)),
			"checkpoint": S(fmt.Sprint(1001 + i)), "checkpointSubSequenceNumber": N("0"), "ownerSwitchesSinceCheckpoint": N("0"),
			"startingHashKey": S("0"), "endingHashKey": S("340282366920938463463374607431768211455"),
			"throughputKBps": N("12.5"), "entityType": S("LEASE"),
		})
	}
	for _, it := range items {
		if _, err := dc.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(name), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	return name, others
}

func checkItemsUntouched(t *testing.T, dc *dynamodb.Client, table string, want []ddbItem) {
	t.Helper()
	ctx := testenv.Context(t, time.Minute)
	for _, it := range want {
		out, err := dc.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: ddbItem{"leaseKey": it["leaseKey"]}, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out.Item, it) {
			t.Errorf("item %v changed:\n got %v\nwant %v", it["leaseKey"], out.Item, it)
		}
	}
}

// TestLeaseAdoptsJavaKCL35Table: a stopped Java KCL 3.5 application's table in 2.x-compatible mode is
// adopted at its checkpoints; List returns the leases only; the other items are untouched.
func TestLeaseAdoptsJavaKCL35Table(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	dc := testenv.DynamoDB(t)
	table, others := javaLeaseTable(t, dc, "CLIENT_VERSION_UPGRADE_FROM_2X")
	m := leaseManager(t, dc, table, "sw-1", lease.Failover(time.Second))
	if err := m.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	ls, err := m.List(ctx)
	if err != nil || len(ls) != 3 {
		t.Fatalf("List = %v, %v; want the 3 leases", ls, err)
	}
	c := newCoordinator(t, m, leasecoord.Config{TakeInterval: 300 * time.Millisecond})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() { stop(); <-done }()
	waitFor(t, ctx, "the 3 expired Java leases adopted", func() bool { return len(c.Held()) == 3 })
	for i, l := range c.Held() {
		if l.Checkpoint != fmt.Sprint(1001+i) || !l.OwnedByShardwise() {
			t.Errorf("adopted %+v, want checkpoint %d", l, 1001+i)
		}
	}
	checkItemsUntouched(t, dc, table, others)
}

// TestLeaseRefusesMultiStreamTable: a Java KCL multi-stream table is refused, nothing written.
func TestLeaseRefusesMultiStreamTable(t *testing.T) {
	ctx := testenv.Context(t, time.Minute)
	dc := testenv.DynamoDB(t)
	ms := ddbItem{
		"leaseKey":     &ddbtypes.AttributeValueMemberS{Value: "123456789012:orders:1700000000:shardId-000000000009"},
		"leaseCounter": &ddbtypes.AttributeValueMemberN{Value: "3"}, "checkpoint": &ddbtypes.AttributeValueMemberS{Value: "TRIM_HORIZON"},
		"streamName": &ddbtypes.AttributeValueMemberS{Value: "123456789012:orders:1700000000"},
		"shardId":    &ddbtypes.AttributeValueMemberS{Value: "shardId-000000000009"},
		"entityType": &ddbtypes.AttributeValueMemberS{Value: "LEASE"},
	}
	table, others := javaLeaseTable(t, dc, "CLIENT_VERSION_2X", ms)
	m := leaseManager(t, dc, table, "sw-1")
	err := m.EnsureTable(ctx)
	var re *lease.RefusedError
	if !errors.As(err, &re) || !errors.Is(err, lease.ErrMultiStreamTable) {
		t.Fatalf("EnsureTable = %v, want a RefusedError for a multi-stream table", err)
	}
	if err := m.Create(ctx, lease.Lease{Key: "shardId-000000000005", Checkpoint: lease.TrimHorizon}); !errors.Is(err, lease.ErrTableRefused) {
		t.Errorf("Create on a refused table: %v", err)
	}
	checkItemsUntouched(t, dc, table, append(others, ms))
	out, err := dc.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: ddbItem{"leaseKey": &ddbtypes.AttributeValueMemberS{Value: "shardId-000000000005"}}})
	if err != nil || len(out.Item) != 0 {
		t.Errorf("a lease was created in a refused table: %v, %v", out.Item, err)
	}
}
