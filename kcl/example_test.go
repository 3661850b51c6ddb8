package kcl_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/lease"
	"github.com/shardwise/shardwise/lease/leasetest"
)

// printer is a processor that handles each batch and checkpoints its last record.
type printer struct{}

func (printer) Initialize(context.Context, kcl.InitializeInput) error { return nil }

func (printer) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	for _, r := range in.Records {
		log.Printf("%s %v %s", in.ShardID, r.Position, r.PartitionKey)
	}
	return in.Checkpointer.Checkpoint(ctx, in.LastDelivered)
}

func (printer) Shutdown(ctx context.Context, in kcl.ShutdownInput) error {
	// Requested: checkpoint what was delivered before the lease is handed over.
	if in.Reason == kcl.Requested && in.LastDelivered != (kcl.Position{}) {
		return in.Checkpointer.Checkpoint(ctx, in.LastDelivered)
	}
	return nil
}

// The whole life cycle of a worker against AWS: lease table, NewWorker, Run, graceful Shutdown on
// SIGINT. Compile-only.
func Example_aws() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	host, _ := os.Hostname()
	m, err := lease.NewManager(dynamodb.NewFromConfig(cfg), "my-app", host, lease.Failover(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		log.Fatal(err)
	}
	w, err := kcl.NewWorker(kinesis.NewFromConfig(cfg), m, "my-stream",
		func(shardID string) kcl.RecordProcessor { return printer{} }, kcl.StartAt(kcl.TrimHorizon))
	if err != nil {
		log.Fatal(err)
	}
	sig, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	go func() {
		<-sig.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = w.Shutdown(shutdownCtx)
	}()
	if err := w.Run(ctx); !errors.Is(err, kcl.ErrWorkerClosed) {
		log.Fatal(err)
	}
}

// collector is a processor that keeps what it is given and checkpoints each batch.
type collector struct {
	mu   *sync.Mutex
	seen *[]string
	done chan<- struct{} // closed by the processor that sees the want-th record
	want int
}

func (c collector) Initialize(context.Context, kcl.InitializeInput) error { return nil }

func (c collector) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	c.mu.Lock()
	for _, r := range in.Records {
		*c.seen = append(*c.seen, fmt.Sprintf("%s %s %s", in.ShardID, r.PartitionKey, r.Data))
		if len(*c.seen) == c.want {
			close(c.done)
		}
	}
	c.mu.Unlock()
	return in.Checkpointer.Checkpoint(ctx, in.LastDelivered)
}

func (c collector) Shutdown(ctx context.Context, in kcl.ShutdownInput) error {
	if in.Reason == kcl.Requested && in.LastDelivered != (kcl.Position{}) {
		return in.Checkpointer.Checkpoint(ctx, in.LastDelivered)
	}
	return nil
}

// A worker runs against an in-process Kinesis (kinesistest) and an in-memory lease table
// (leasetest), as a test of a record processor does: no network, no AWS account. It processes
// every record of the stream's two shards, then shuts down gracefully, leaving the checkpoints in
// the lease table.
func Example() {
	ctx := context.Background()
	srv, err := kinesistest.NewServer(kinesistest.Stream("orders", 2))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	kc := srv.KinesisClient()
	for i := range 6 {
		_, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"),
			PartitionKey: aws.String(fmt.Sprintf("customer-%d", 3+i%3)), Data: fmt.Appendf(nil, "order-%d", i)})
		if err != nil {
			log.Fatal(err)
		}
	}

	m, err := lease.NewManager(leasetest.New(), "order-processor", "worker-1")
	if err != nil {
		log.Fatal(err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	done := make(chan struct{})
	w, err := kcl.NewWorker(kc, m, "orders", func(string) kcl.RecordProcessor {
		return collector{mu: &mu, seen: &seen, done: done, want: 6}
	})
	if err != nil {
		log.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	<-done
	if err := w.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	if err := <-ran; !errors.Is(err, kcl.ErrWorkerClosed) {
		log.Fatal(err)
	}

	mu.Lock()
	slices.Sort(seen) // shards are processed concurrently; each shard's records arrive in order
	for _, s := range seen {
		fmt.Println(s)
	}
	mu.Unlock()
	leases, err := m.List(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range leases {
		fmt.Printf("%s checkpointed: %t, owner %q\n", l.Key, l.Checkpoint != lease.TrimHorizon, l.Owner)
	}
	// Output:
	// shardId-000000000000 customer-4 order-1
	// shardId-000000000000 customer-4 order-4
	// shardId-000000000001 customer-3 order-0
	// shardId-000000000001 customer-3 order-3
	// shardId-000000000001 customer-5 order-2
	// shardId-000000000001 customer-5 order-5
	// shardId-000000000000 checkpointed: true, owner ""
	// shardId-000000000001 checkpointed: true, owner ""
}
