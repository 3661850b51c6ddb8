package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/lease"
)

// TestLeasesListsOnlyLeasesOfJavaKCL35Table: `shardwise leases` on a table a Java KCL 3.5 application
// wrote lists its leases only, not the worker metrics, leader lock or migration state kept beside them.
func TestLeasesListsOnlyLeasesOfJavaKCL35Table(t *testing.T) {
	db := fakeaws.NewDynamoDB()
	if _, err := db.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String("app"),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("leaseKey"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("leaseKey"), AttributeType: types.ScalarAttributeTypeS}},
		BillingMode:          types.BillingModePayPerRequest,
	}); err != nil {
		t.Fatal(err)
	}
	S := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	N := func(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }
	for _, it := range []map[string]types.AttributeValue{
		{"leaseKey": S("shardId-000000000000"), "leaseOwner": S("java-worker-1"), "leaseCounter": N("41"), "checkpoint": S("1001"),
			"checkpointSubSequenceNumber": N("0"), "ownerSwitchesSinceCheckpoint": N("0"), "entityType": S("LEASE")},
		{"leaseKey": S("java-worker-1"), "entityType": S("WORKER_METRIC_STATS"), "lut": N("1733300000")},
		{"leaseKey": S("Leader"), "entityType": S("LEADER"), "ownerName": S("java-worker-1"), "leaseDuration": S("600000")},
		{"leaseKey": S("Migration3.0"), "entityType": S("CLIENT_VERSION_MIGRATION"), "cv": S("CLIENT_VERSION_UPGRADE_FROM_2X"),
			"mb": S("java-worker-1"), "mts": N("1733300000000")},
	} {
		if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("app"), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := lease.NewManager(db, "app", "shardwise-leases-cli")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := printLeases(t.Context(), m, "table", &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "shardId-000000000000  java-worker-1  41") {
		t.Errorf("listing:\n%s\nwant the header and the one lease", out.String())
	}
}
