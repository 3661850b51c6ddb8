package lease_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/shardwise/shardwise/lease"
	"github.com/shardwise/shardwise/lease/leasetest"
)

// A lease table read and written through a Manager, here on the in-memory table of leasetest (pass
// a *dynamodb.Client in production). A kcl worker takes, renews and checkpoints the leases itself;
// the Manager's own calls serve status tools, metrics and tests. Every write is conditional: a
// second worker's write with an outdated copy fails.
func Example() {
	ctx := context.Background()
	db := leasetest.New()
	m, err := lease.NewManager(db, "order-processor", "worker-1")
	if err != nil {
		log.Fatal(err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		log.Fatal(err)
	}
	for _, shard := range []string{"shardId-000000000000", "shardId-000000000001"} {
		if err := m.Create(ctx, lease.Lease{Key: shard, Checkpoint: lease.TrimHorizon}); err != nil {
			log.Fatal(err)
		}
	}
	l, err := m.Get(ctx, "shardId-000000000000")
	if err != nil {
		log.Fatal(err)
	}
	held, err := m.Take(ctx, l)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.Checkpoint(ctx, held, "49590338271490256608559692538361571095921575989136588898", 0); err != nil {
		log.Fatal(err)
	}

	other, err := lease.NewManager(db, "order-processor", "worker-2")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := other.Take(ctx, l); errors.Is(err, lease.ErrConflict) { // l is the copy before worker-1's take
		fmt.Println("worker-2: conflict")
	}

	leases, err := m.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range leases {
		fmt.Printf("%s owner=%q counter=%d checkpoint=%.12s\n", l.Key, l.Owner, l.Counter, l.Checkpoint)
	}
	// Output:
	// worker-2: conflict
	// shardId-000000000000 owner="worker-1" counter=2 checkpoint=495903382714
	// shardId-000000000001 owner="" counter=0 checkpoint=TRIM_HORIZON
}
