package kcl_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/lease"
)

// limitProc is a processor made of its ProcessRecords function.
type limitProc func(context.Context, kcl.ProcessRecordsInput) error

func (p limitProc) Initialize(context.Context, kcl.InitializeInput) error { return nil }
func (p limitProc) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	return p(ctx, in)
}
func (p limitProc) Shutdown(context.Context, kcl.ShutdownInput) error { return nil }

type limitHooks struct{ expired, throttled atomic.Int64 }

func (h *limitHooks) OnExpiredIterator(kcl.ShardEvent)         { h.expired.Add(1) }
func (h *limitHooks) OnGetRecordsThrottled(kcl.ThrottledEvent) { h.throttled.Add(1) }

// Against kinesistest with Kinesis's limits enforced, iterators that expire after 300 ms (so every idle
// 1 s poll finds its iterator expired) and one GetRecords in four refused with
// ProvisionedThroughputExceededException, a worker still delivers every record once, in order. In a
// synctest bubble on kinesistest's virtual network: the limits and the iterator TTL read the fake clock.
func TestThrottledGetRecordsAndExpiredIteratorsLoseNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, err := kinesistest.NewServer(kinesistest.VirtualNetwork(), kinesistest.EnforceLimits(), kinesistest.IteratorTTL(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		var gets atomic.Int64
		srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
			if req.Op == "GetRecords" && gets.Add(1)%4 == 0 {
				return kinesistest.Action{Err: &kinesistest.Error{Code: kinesistest.CodeThroughputExceeded, Message: "Rate exceeded for shard"}}, true
			}
			return kinesistest.Action{}, false
		})
		kc := srv.KinesisClient()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("lim"), ShardCount: aws.Int32(2)}); err != nil {
			t.Fatal(err)
		}
		m, err := lease.NewManager(fakeaws.NewDynamoDB(), "app", "w1", lease.Failover(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.EnsureTable(ctx); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		got := map[string][]int{} // partition key -> numbers in delivery order
		total := 0
		proc := limitProc(func(ctx context.Context, in kcl.ProcessRecordsInput) error {
			mu.Lock()
			for _, r := range in.Records {
				var n int
				fmt.Sscanf(string(r.Data), "%d", &n)
				got[r.PartitionKey] = append(got[r.PartitionKey], n)
				total++
			}
			mu.Unlock()
			return in.Checkpointer.Checkpoint(ctx, in.Records[len(in.Records)-1].Position)
		})
		h := &limitHooks{}
		w, err := kcl.NewWorker(kc, m, "lim", func(string) kcl.RecordProcessor { return proc }, kcl.WithHooks(h))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()

		const rounds, keys = 12, 20
		for round := range rounds {
			var entries []types.PutRecordsRequestEntry
			for k := range keys {
				entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("k%d", k)), Data: fmt.Appendf(nil, "%d", round)})
			}
			out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("lim"), Records: entries})
			if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
				t.Fatalf("PutRecords: %v %v", err, out)
			}
			time.Sleep(400 * time.Millisecond) // let idle polls find expired iterators between rounds
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := total
			mu.Unlock()
			if n >= rounds*keys || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := w.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, kcl.ErrWorkerClosed) {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		for k := range keys {
			seq := got[fmt.Sprintf("k%d", k)]
			if len(seq) != rounds {
				t.Errorf("key k%d: %d records delivered, want %d: %v", k, len(seq), rounds, seq)
				continue
			}
			for i, n := range seq {
				if n != i {
					t.Errorf("key k%d delivered %v, want 0..%d in order", k, seq, rounds-1)
					break
				}
			}
		}
		if h.expired.Load() == 0 || h.throttled.Load() == 0 {
			t.Errorf("expired iterators %d, throttled calls %d: both paths should have run", h.expired.Load(), h.throttled.Load())
		}
		t.Logf("%d expired iterators, %d throttled GetRecords survived", h.expired.Load(), h.throttled.Load())

	})
}
