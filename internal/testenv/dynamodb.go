package testenv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// CreateTable creates a DynamoDB table, waits until it is ACTIVE and deletes it when the test ends. When
// in.TableName is empty a UniqueName is used; when in.BillingMode is unset it is PAY_PER_REQUEST. It
// returns the table name. in is not modified.
func CreateTable(t testing.TB, ctx context.Context, in *dynamodb.CreateTableInput) string {
	t.Helper()
	dc := DynamoDB(t)
	req := *in
	if aws.ToString(req.TableName) == "" {
		req.TableName = aws.String(UniqueName(t, "sw"))
	}
	if req.BillingMode == "" && req.ProvisionedThroughput == nil {
		req.BillingMode = types.BillingModePayPerRequest
	}
	name := aws.ToString(req.TableName)
	if _, err := dc.CreateTable(ctx, &req); err != nil {
		t.Fatalf("CreateTable(%s): %v", name, err)
	}
	DeleteTableOnCleanup(t, dc, name)
	WaitTableActive(t, ctx, dc, name)
	return name
}

// DeleteTableOnCleanup deletes table name when the test ends; use it for tables that the code under test
// creates itself (a lease table, for example). A table that does not exist is fine.
func DeleteTableOnCleanup(t testing.TB, dc *dynamodb.Client, name string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		_, err := dc.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		var nf *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &nf) {
			t.Errorf("cleanup: DeleteTable(%s): %v", name, err)
		}
	})
}

// WaitTableActive polls DescribeTable until the table is ACTIVE. It fails the test when ctx ends first.
func WaitTableActive(t testing.TB, ctx context.Context, dc *dynamodb.Client, name string) {
	t.Helper()
	var last error
	var status types.TableStatus
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		out, err := dc.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err == nil {
			status = out.Table.TableStatus
			if status == types.TableStatusActive {
				return
			}
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("table %s not ACTIVE before the deadline (status %q, last error %v)", name, status, last)
		case <-tick.C:
		}
	}
}
