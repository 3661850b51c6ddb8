// Package leasetest provides an in-memory lease table for tests: a DynamoDB double that a
// lease.Manager (and so a kcl.Worker) runs against with no network, in the same process, inside a
// testing/synctest bubble or outside one.
//
//	db := leasetest.New()
//	m, _ := lease.NewManager(db, "my-app", "worker-1")
//	_ = m.EnsureTable(ctx)
//	w, _ := kcl.NewWorker(kinesisClient, m, "orders", newProcessor) // kinesisClient: a kinesistest server's
//
// The double sits below the lease protocol rather than replacing it: the Manager, its renewals, take
// rounds, steals and checkpoints run exactly as they do against DynamoDB, so a test of a record
// processor sees the worker behave as in production (leases taken, checkpoints validated and stored,
// Shutdown(Requested) before a hand-over). Several Managers (workers) may share one DB.
//
// What DynamoDB promises, the double keeps: every call is atomic; conditional writes (the
// ConditionExpression subset the lease package uses: comparisons, attribute_exists,
// attribute_not_exists, begins_with, AND, OR, NOT, parentheses) fail with *types.ConditionalCheckFailedException when their condition
// does not hold, so two workers racing for a lease see exactly one win; ReturnValues, Scan
// pagination, and DynamoDB's validation of unused or undefined expression placeholders. Errors are
// the SDK's modeled exception types inside a *smithy.OperationError, as the real client returns them.
// What it skips: capacity and throttling (nothing is ever throttled), indexes, range keys, streams,
// TTL, and tables other than single-hash-key ones. A new table is ACTIVE at once.
//
// A DB is safe for concurrent use. Read what a test left behind through a lease.Manager (List, Get).
package leasetest

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/lease"
)

// DB is an in-memory DynamoDB holding lease tables. It implements lease.DynamoDBAPI with the SDK
// client's method signatures; the optFns arguments are accepted and ignored.
type DB struct {
	d *fakeaws.DynamoDB
}

var _ lease.DynamoDBAPI = (*DB)(nil)

// New returns a DB without tables (lease.Manager.EnsureTable creates one).
func New() *DB { return &DB{d: fakeaws.NewDynamoDB()} }

// CreateTable creates a table keyed by one string hash key; it is ACTIVE at once.
func (db *DB) CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	return db.d.CreateTable(ctx, in, optFns...)
}

// DescribeTable describes a table, or fails with *types.ResourceNotFoundException.
func (db *DB) DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return db.d.DescribeTable(ctx, in, optFns...)
}

// GetItem reads an item (consistently: every read sees every write before it).
func (db *DB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return db.d.GetItem(ctx, in, optFns...)
}

// PutItem writes an item, if its ConditionExpression holds.
func (db *DB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return db.d.PutItem(ctx, in, optFns...)
}

// UpdateItem applies an UpdateExpression (SET, REMOVE, ADD, DELETE), if its ConditionExpression
// holds; like DynamoDB it creates a missing item when the condition allows it.
func (db *DB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return db.d.UpdateItem(ctx, in, optFns...)
}

// DeleteItem deletes an item, if its ConditionExpression holds.
func (db *DB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return db.d.DeleteItem(ctx, in, optFns...)
}

// Scan reads a table page by page in key order (100 items a page, or Limit), with
// ExclusiveStartKey and LastEvaluatedKey. Filter and projection expressions and parallel scan
// segments are refused with *types.ValidationException (the lease package uses none of them).
func (db *DB) Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return db.d.Scan(ctx, in, optFns...)
}
