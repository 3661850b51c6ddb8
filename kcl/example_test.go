package kcl_test

import (
	"context"
	"errors"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/lease"
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

// The whole life cycle of a worker: lease table, NewWorker, Run, graceful Shutdown on SIGINT.
func Example() {
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
