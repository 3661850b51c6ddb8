package lease_test

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/shardwise/shardwise/lease"
)

// The life cycle of one worker's leases, as a KCL scheduler drives it. (Compiles only: it needs AWS.)
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	host, _ := os.Hostname()
	m, err := lease.NewManager(dynamodb.NewFromConfig(cfg), "my-app", host+"-1234",
		lease.Failover(10*time.Second),
		lease.WithLogger(slog.Default()),
	)
	if err != nil {
		log.Fatal(err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		log.Fatal(err)
	}
	// Shard sync: every worker may try; each lease is created once.
	for _, shard := range []string{"shardId-000000000000", "shardId-000000000001"} {
		err := m.Create(ctx, lease.Lease{Key: shard, Checkpoint: lease.TrimHorizon})
		if err != nil && !errors.Is(err, lease.ErrExists) {
			log.Fatal(err)
		}
	}

	c := lease.NewCoordinator(m)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()

	<-c.Changed()
	for _, l := range c.Held() {
		// start a shard consumer at l.Checkpoint / l.CheckpointSubSequence, which checkpoints with:
		if _, err := c.Checkpoint(ctx, l.Key, "49590338271490256608559692538361571095921575989136588898", 0); errors.Is(err, lease.ErrLeaseLost) {
			// another worker has the shard now: stop processing it
		}
	}

	// Graceful shutdown: stop taking, let consumers checkpoint, hand the leases over, stop renewing.
	c.StopTaking()
	if err := c.ReleaseAll(ctx); err != nil {
		log.Print(err)
	}
	stop()
	<-done
}
