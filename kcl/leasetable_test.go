package kcl

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shardwise/shardwise/lease"
)

// TestRunRefusesMultiStreamTable: a Java KCL multi-stream lease table makes Run return the lease
// package's RefusedError at once, and nothing is written to the table (no lease created by shard sync).
func TestRunRefusesMultiStreamTable(t *testing.T) {
	e := newEnv(t, 2)
	key := "123456789012:orders:1700000000:shardId-000000000000"
	if _, err := e.db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(e.table), Item: map[string]types.AttributeValue{
		"leaseKey": &types.AttributeValueMemberS{Value: key}, "leaseCounter": &types.AttributeValueMemberN{Value: "4"},
		"checkpoint": &types.AttributeValueMemberS{Value: "TRIM_HORIZON"}, "leaseOwner": &types.AttributeValueMemberS{Value: "java-1"},
		"streamName": &types.AttributeValueMemberS{Value: "123456789012:orders:1700000000"},
		"shardId":    &types.AttributeValueMemberS{Value: "shardId-000000000000"},
		"entityType": &types.AttributeValueMemberS{Value: "LEASE"},
	}}); err != nil {
		t.Fatal(err)
	}
	writes := func() int { return e.db.Calls("PutItem") + e.db.Calls("UpdateItem") + e.db.Calls("DeleteItem") }
	before := writes()
	r := e.start("w1", newRecorder().factory)
	select {
	case err := <-r.done:
		var re *lease.RefusedError
		if !errors.As(err, &re) || !errors.Is(err, lease.ErrMultiStreamTable) {
			t.Fatalf("Run = %v, want a lease.RefusedError for a multi-stream table", err)
		}
		r.done <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not refuse the multi-stream table")
	}
	if got := writes() - before; got != 0 {
		t.Errorf("%d writes to a refused table", got)
	}
}
