package cloudwatch

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
	"github.com/shardwise/shardwise/lease"
	"github.com/shardwise/shardwise/lease/leasetest"
)

// TestProducerToCloudWatch: a real kpl Producer (on kinesistest) with Metrics as its hook; at Close
// CloudWatch receives its records under the KPL's names, per stream and per shard.
func TestProducerToCloudWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ks, err := kinesistest.NewServer(kinesistest.Stream("orders", 2))
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	cw := newFakeCW(t)
	m, err := New(cw.client(), Config{Namespace: "KinesisProducerLibrary", Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p, err := kpl.New(ks.KinesisClient(), "orders", kpl.WithHooks(m))
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var futures []*kpl.Future
	for i := range n {
		futures = append(futures, p.PutAsync(ctx, kpl.Record{PartitionKey: fmt.Sprintf("k%d", i), Data: []byte("0123456789")}))
	}
	shards := map[string]int{}
	for _, f := range futures {
		res, err := f.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		shards[res.ShardID]++
	}
	p.Close()
	closeOK(t, m)
	got := byKey(cw.snapshot())
	if d := got["UserRecordsPut{}"]; d.sum != n || d.sampleCount != n {
		t.Errorf("UserRecordsPut{} sum %v count %v, want %d", d.sum, d.sampleCount, n)
	}
	if d := got["UserRecordsPut{StreamName=orders}"]; d.sum != n {
		t.Errorf("UserRecordsPut{StreamName=orders} sum %v, want %d", d.sum, n)
	}
	for shard, k := range shards {
		key := "UserRecordsPut{ShardId=" + shard + ",StreamName=orders}"
		if d := got[key]; d.sum != float64(k) {
			t.Errorf("%s sum %v, want %d", key, d.sum, k)
		}
	}
	if d := got["UserRecordsReceived{StreamName=orders}"]; d.sum != n {
		t.Errorf("UserRecordsReceived sum %v, want %d", d.sum, n)
	}
}

// checkpointAll checkpoints each batch and sends its size on seen.
type checkpointAll struct {
	seen chan int
}

func (p checkpointAll) Initialize(context.Context, kcl.InitializeInput) error { return nil }
func (p checkpointAll) Shutdown(context.Context, kcl.ShutdownInput) error     { return nil }
func (p checkpointAll) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	if err := in.Checkpointer.Checkpoint(ctx, in.LastDelivered); err != nil {
		return err
	}
	p.seen <- len(in.Records)
	return nil
}

// TestWorkerToCloudWatch: a real lease Manager and kcl Worker (on kinesistest and leasetest) with
// Metrics as their hook and the Manager's owner as Config.WorkerIdentifier: the take and renew
// metrics reach CloudWatch with Operation and WorkerIdentifier, the per-shard ProcessTask ones
// with ShardId and without WorkerIdentifier, as the Java KCL 2.x sends them.
func TestWorkerToCloudWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ks, err := kinesistest.NewServer(kinesistest.Stream("orders", 2))
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	kc := ks.KinesisClient()
	const n = 40
	p, err := kpl.New(kc, "orders")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		p.PutAsync(ctx, kpl.Record{PartitionKey: fmt.Sprintf("k%d", i), Data: []byte("0123456789")})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()

	cw := newFakeCW(t)
	const worker = "worker-7" // the lease owner: one ID for both
	m, err := New(cw.client(), Config{Namespace: "orders-app", Interval: time.Hour, WorkerIdentifier: worker})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := lease.NewManager(leasetest.New(), "orders-app", worker, lease.WithHooks(m), lease.Failover(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := lm.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	seen := make(chan int, 64)
	w, err := kcl.NewWorker(kc, lm, "orders", func(string) kcl.RecordProcessor { return checkpointAll{seen} },
		kcl.StartAt(kcl.TrimHorizon), kcl.WithHooks(m))
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	for got := 0; got < n; {
		select {
		case k := <-seen:
			got += k
		case err := <-ran:
			t.Fatalf("Run ended early: %v", err)
		case <-ctx.Done():
			t.Fatalf("%d of %d records processed", got, n)
		}
	}
	if err := w.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil && !errors.Is(err, kcl.ErrWorkerClosed) {
		t.Fatal(err)
	}
	closeOK(t, m)
	got := byKey(cw.snapshot())
	for _, k := range []string{
		"TakenLeases{Operation=TakeLeases,WorkerIdentifier=worker-7}",
		"NumWorkers{Operation=TakeLeases,WorkerIdentifier=worker-7}",
		"CurrentLeases{Operation=RenewAllLeases,StreamName=orders,WorkerIdentifier=worker-7}",
	} {
		if _, ok := got[k]; !ok {
			t.Errorf("no datum %s", k)
		}
	}
	if d := got["TakenLeases{Operation=TakeLeases,WorkerIdentifier=worker-7}"]; d.sum != 2 {
		t.Errorf("TakenLeases sum %v, want 2 (both shards)", d.sum)
	}
	if d := got["RecordsProcessed{Operation=ProcessTask}"]; d.sum != n {
		t.Errorf("RecordsProcessed{Operation=ProcessTask} sum %v, want %d", d.sum, n)
	}
	for k, d := range got {
		op := d.dims["Operation"]
		if _, has := d.dims["WorkerIdentifier"]; has != (op == "RenewAllLeases" || op == "TakeLeases") {
			t.Errorf("%s: WorkerIdentifier %v for Operation %q", k, has, op)
		}
	}
}
