package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
	"github.com/shardwise/shardwise/lease"
	"github.com/shardwise/shardwise/lease/leasetest"
	promadapter "github.com/shardwise/shardwise/metrics/prometheus"
)

// sum adds up the counter or gauge values of family name in reg.
func sum(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				v += m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				v += m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				v += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return v
}

// countingProcessor checkpoints each batch and closes done at the want-th record.
type countingProcessor struct {
	seen *atomic.Int64
	want int64
	done chan struct{}
}

func (p countingProcessor) Initialize(context.Context, kcl.InitializeInput) error { return nil }
func (p countingProcessor) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	if p.seen.Add(int64(len(in.Records))) >= p.want {
		select {
		case <-p.done:
		default:
			close(p.done)
		}
	}
	return in.Checkpointer.Checkpoint(ctx, in.LastDelivered)
}
func (p countingProcessor) Shutdown(context.Context, kcl.ShutdownInput) error { return nil }

// TestProducerAndWorker: one Metrics given to a real kpl Producer, lease Manager and kcl Worker
// (on kinesistest and leasetest) counts what they did.
func TestProducerAndWorker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := kinesistest.NewServer(kinesistest.Stream("orders", 2))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	kc := srv.KinesisClient()
	reg := prometheus.NewPedanticRegistry()
	m, err := promadapter.New(reg, promadapter.Options{ShardLabels: true})
	if err != nil {
		t.Fatal(err)
	}

	p, err := kpl.New(kc, "orders", kpl.WithHooks(m))
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var futures []*kpl.Future
	for i := range n {
		futures = append(futures, p.PutAsync(ctx, kpl.Record{PartitionKey: fmt.Sprintf("k%d", i), Data: []byte("0123456789")}))
	}
	for _, f := range futures {
		if _, err := f.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	if got := sum(t, reg, "shardwise_kpl_user_records_put_total"); got != n {
		t.Errorf("user_records_put_total = %v, want %d", got, n)
	}
	if got := sum(t, reg, "shardwise_kpl_user_records_received_total"); got != n {
		t.Errorf("user_records_received_total = %v, want %d", got, n)
	}
	if got := sum(t, reg, "shardwise_kpl_kinesis_records_put_total"); got < 2 || got > n {
		t.Errorf("kinesis_records_put_total = %v, want 2..%d (aggregated per shard)", got, n)
	}
	if got := sum(t, reg, "shardwise_kpl_retries_per_record"); got != n {
		t.Errorf("retries_per_record observed %v times, want %d", got, n)
	}

	lm, err := lease.NewManager(leasetest.New(), "orders-app", "w1", lease.WithHooks(m))
	if err != nil {
		t.Fatal(err)
	}
	if err := lm.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	var seen atomic.Int64
	done := make(chan struct{})
	w, err := kcl.NewWorker(kc, lm, "orders", func(string) kcl.RecordProcessor {
		return countingProcessor{seen: &seen, want: n, done: done}
	}, kcl.StartAt(kcl.TrimHorizon), kcl.WithHooks(m))
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	select {
	case <-done:
	case err := <-ran:
		t.Fatalf("Run ended early: %v", err)
	case <-ctx.Done():
		t.Fatalf("%d of %d records processed", seen.Load(), n)
	}
	if got := sum(t, reg, "shardwise_kcl_current_leases"); got != 2 {
		t.Errorf("current_leases = %v while processing, want 2", got)
	}
	if err := w.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil && !errors.Is(err, kcl.ErrWorkerClosed) {
		t.Fatal(err)
	}
	if got := sum(t, reg, "shardwise_kcl_records_processed_total"); got != n {
		t.Errorf("records_processed_total = %v, want %d", got, n)
	}
	if got := sum(t, reg, "shardwise_lease_leases_taken_total"); got != 2 {
		t.Errorf("leases_taken_total = %v, want 2", got)
	}
	if got := sum(t, reg, "shardwise_lease_checkpoints_total"); got < 2 {
		t.Errorf("checkpoints_total = %v, want at least 2", got)
	}
	if got := sum(t, reg, "shardwise_kcl_shards_started_total"); got != 2 {
		t.Errorf("shards_started_total = %v, want 2", got)
	}
}
