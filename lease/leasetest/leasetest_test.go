package leasetest_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/shardwise/shardwise/lease"
	"github.com/shardwise/shardwise/lease/leasetest"
)

func manager(t *testing.T, db *leasetest.DB, owner string) *lease.Manager {
	t.Helper()
	m, err := lease.NewManager(db, "app", owner)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The lease protocol's conditional writes hold against the double as against DynamoDB: a second
// Create fails with ErrExists, of two workers taking the same lease copy exactly one wins (the other
// gets ErrConflict), the loser's renewals and checkpoints fail with ErrLeaseLost, and a checkpoint by
// the owner is stored.
func TestConditionalWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		db := leasetest.New()
		a, b := manager(t, db, "a"), manager(t, db, "b")
		if err := a.EnsureTable(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.EnsureTable(ctx); err != nil { // exists already: accepted
			t.Fatal(err)
		}
		l := lease.Lease{Key: "shardId-000000000000", Checkpoint: lease.TrimHorizon}
		if err := a.Create(ctx, l); err != nil {
			t.Fatal(err)
		}
		if err := b.Create(ctx, l); !errors.Is(err, lease.ErrExists) {
			t.Fatalf("second Create = %v, want ErrExists", err)
		}
		cur, err := a.Get(ctx, l.Key)
		if err != nil {
			t.Fatal(err)
		}
		// Both take the same copy at once: one wins.
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, conflicts := map[string]lease.Lease{}, 0
		for _, m := range []*lease.Manager{a, b} {
			wg.Go(func() {
				nl, err := m.Take(ctx, cur)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won[m.Owner()] = nl
				case errors.Is(err, lease.ErrConflict):
					conflicts++
				default:
					t.Errorf("Take by %s = %v", m.Owner(), err)
				}
			})
		}
		wg.Wait()
		if len(won) != 1 || conflicts != 1 {
			t.Fatalf("%d takes won, %d conflicts; want 1 and 1", len(won), conflicts)
		}
		winner, loser := a, b
		if _, ok := won["b"]; ok {
			winner, loser = b, a
		}
		held := won[winner.Owner()]
		if _, err := loser.Renew(ctx, cur); !errors.Is(err, lease.ErrLeaseLost) {
			t.Errorf("loser's Renew = %v, want ErrLeaseLost", err)
		}
		if _, err := loser.Checkpoint(ctx, cur, "49590000000000000000000000000000000000000000000000000001", 0); !errors.Is(err, lease.ErrLeaseLost) {
			t.Errorf("loser's Checkpoint = %v, want ErrLeaseLost", err)
		}
		if _, err := winner.Checkpoint(ctx, held, "49590000000000000000000000000000000000000000000000000001", 2); err != nil {
			t.Fatalf("winner's Checkpoint = %v", err)
		}
		got, err := loser.Get(ctx, l.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got.Owner != winner.Owner() || got.Checkpoint != "49590000000000000000000000000000000000000000000000000001" || got.CheckpointSubSequence != 2 {
			t.Errorf("stored lease %+v", got)
		}
	})
}

// A failed condition is DynamoDB's modeled exception inside the SDK's operation error, so code that
// classifies errors with errors.As sees what it sees against DynamoDB.
func TestConditionalCheckFailedIsModeled(t *testing.T) {
	ctx := context.Background()
	db := leasetest.New()
	m := manager(t, db, "a")
	if err := m.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String("app"),
		Item:                map[string]types.AttributeValue{"leaseKey": &types.AttributeValueMemberS{Value: "k"}},
		ConditionExpression: aws.String("attribute_exists(leaseKey)"),
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("PutItem on a missing item with attribute_exists = %v, want ConditionalCheckFailedException", err)
	}
	if _, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("other")}); !errors.As(err, new(*types.ResourceNotFoundException)) {
		t.Errorf("DescribeTable of a missing table = %v, want ResourceNotFoundException", err)
	}
}
