package kcl

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// A shard stops polling while PrefetchBytes wait for its processor, whatever Prefetch allows: with a
// processor stuck on its first batch of 512 KiB, two more 512 KiB answers are fetched (1 MiB waiting)
// and then none.
func TestPrefetchBoundedInBytesPerShard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1)
		rec := make([]byte, 256<<10)
		for range 12 {
			e.kc.put(shardName(0), "k", rec)
		}
		release := make(chan struct{})
		proc := procFunc(func(ctx context.Context, in ProcessRecordsInput) error {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		})
		w := e.start("w1", func(string) RecordProcessor { return proc }, MaxRecordsPerPoll(2), Prefetch(10),
			PrefetchBytes(1<<20), ShardReadRate(0))
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := len(e.kc.getCalls(shardName(0))); n != 3 {
			t.Errorf("%d GetRecords calls with the processor stuck, want 3 (one processing, 1 MiB waiting)", n)
		}
		close(release)
		w.stop()
	})
}

// The worker holds at most WorkerPrefetchBytes of fetched records across its shards, answers in flight
// (24 MiB reserved each) included, and still delivers everything.
func TestPrefetchBoundedInBytesPerWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 28 MiB against the smallest bound, 24 MiB: every shard's answers wait on slow processors at
		// once. (Through kinesistest's wire each MiB costs JSON, base64 and HTTP: keep it small.)
		const shards, perShard = 14, 2
		e := newEnv(t, shards)
		mib := make([]byte, 1<<20)
		for s := range shards {
			for range perShard {
				e.kc.put(shardName(s), "k", mib)
			}
		}
		rec := newRecorder()
		slow := func(shardID string) RecordProcessor {
			return procFunc(func(ctx context.Context, in ProcessRecordsInput) error {
				time.Sleep(100 * time.Millisecond)
				rec.mu.Lock()
				rec.records[shardID] = append(rec.records[shardID], in.Records...)
				rec.mu.Unlock()
				return nil
			})
		}
		const limit = 24 << 20
		w := e.start("w1", slow, MaxRecordsPerPoll(3), WorkerPrefetchBytes(limit), ShardReadRate(0))
		waitFor(t, 5*time.Minute, "every record", func() bool { return rec.total() == shards*perShard })
		if peak := w.w.budget.peakUsed(); peak > limit || peak < limit/2 {
			t.Errorf("peak bytes held %d MiB, want at most %d MiB (and the bound reached)", peak>>20, limit>>20)
		}
		w.stop()
	})
}
