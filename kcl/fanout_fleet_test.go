package kcl_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/kinesistest"
)

// TestEnhancedFanOutFleetScenarios runs the Step 4 fleet scenarios in fan-out mode, in real time on
// kinesistest (subscriptions forced to end every 2 s) while records are written all along: a hard
// kill, a join, a split and a merge, and a graceful shutdown. Every record must be processed (duplicates
// are allowed only from batches not yet checkpointed when a lease moved), and per partition key the
// first deliveries must be in write order.
func TestEnhancedFanOutFleetScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time fleet scenario (about 30 s)")
	}
	e := newEFOEnv(t, kinesistest.SubscriptionDuration(2*time.Second))
	e.createStream("fleet", 4)
	l := newLedger()
	w1, w2 := e.start("w1", "fleet", l.factory), e.start("w2", "fleet", l.factory)
	held := func(ws ...*efoWorker) []string {
		var all []string
		for _, w := range ws {
			all = append(all, w.w.Shards()...)
		}
		slices.Sort(all)
		return all
	}
	waitUntil(t, 30*time.Second, "w1 and w2 balanced", func() bool {
		return len(w1.w.Shards()) == 2 && len(w2.w.Shards()) == 2
	})

	// Producer: a round of 8 keys every 20 ms until stopped.
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	var pmu sync.Mutex
	written := 0
	stopProducer := make(chan struct{})
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		ticker := time.NewTicker(20 * time.Millisecond)
		defer ticker.Stop()
		for round := 0; ; round++ {
			entries := make([]types.PutRecordsRequestEntry, len(keys))
			for i, k := range keys {
				entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(k), Data: []byte(fmt.Sprintf("%s-%06d", k, round))}
			}
			if _, err := e.kc.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String("fleet"), Records: entries}); err != nil {
				t.Errorf("PutRecords: %v", err)
				return
			}
			pmu.Lock()
			written += len(entries)
			pmu.Unlock()
			select {
			case <-stopProducer:
				return
			case <-ticker.C:
			}
		}
	}()

	// Hard kill: w2's shards move to w1 after the failover time.
	w2.kill()
	<-w2.done
	w2.done <- nil // for the cleanup
	waitUntil(t, 30*time.Second, "w1 holding all 4 shards after the kill", func() bool { return len(w1.w.Shards()) == 4 })

	// Join: w3 gets its fair share.
	w3 := e.start("w3", "fleet", l.factory)
	waitUntil(t, 30*time.Second, "w1 and w3 balanced", func() bool {
		return len(w1.w.Shards()) == 2 && len(w3.w.Shards()) == 2
	})

	// Split shard 1, merge shards 2 and 3: the children (4, 5 and 6) are processed after their parents.
	ctx := context.Background()
	if _, err := e.kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("fleet"), ShardToSplit: aws.String("shardId-000000000001"),
		NewStartingHashKey: aws.String("127605887595351923798765477786913079296")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("fleet"), ShardToMerge: aws.String("shardId-000000000002"),
		AdjacentShardToMerge: aws.String("shardId-000000000003")}); err != nil {
		t.Fatal(err)
	}
	open := []string{"shardId-000000000000", "shardId-000000000004", "shardId-000000000005", "shardId-000000000006"}
	// (Finished parent leases may stay held until the lease cleanup removes them: only the children
	// are checked.)
	children := []string{"shardId-000000000004", "shardId-000000000005", "shardId-000000000006"}
	holdsAll := func(got []string, want []string) bool {
		for _, id := range want {
			if !slices.Contains(got, id) {
				return false
			}
		}
		return true
	}
	waitUntil(t, 30*time.Second, "the children held after the reshard", func() bool { return holdsAll(held(w1, w3), children) })

	// Graceful shutdown: w1's leases are released and w3 takes them at once.
	w1.shutdown(t)
	waitUntil(t, 30*time.Second, "w3 holding every open shard", func() bool { return holdsAll(held(w3), open) })

	close(stopProducer)
	<-producerDone
	pmu.Lock()
	total := written
	pmu.Unlock()
	waitUntil(t, 30*time.Second, fmt.Sprintf("all %d records", total), func() bool { return l.distinct() == total })

	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	last := map[string]string{}
	for _, d := range l.order {
		if seen[d] {
			continue
		}
		seen[d] = true
		k := d[:1]
		if d < last[k] {
			t.Errorf("key %s: %s first delivered after %s", k, d, last[k])
		}
		last[k] = d
	}
	// Duplicates come from steals: the victim delivers until it notices the loss, the thief starts at the
	// last checkpoint. A join right as a dead worker's leases are taken over can duplicate that whole
	// backlog (the same happens with polling).
	dupShards := map[string]int{}
	for _, w := range l.who {
		if len(w) > 1 {
			dupShards[w[0]]++
		}
	}
	if len(dupShards) > 0 {
		t.Logf("duplicates by first deliverer: %v", dupShards)
	}
	t.Logf("%d records, %d deliveries (%d duplicates from moved, un-checkpointed batches)", total, len(l.order), len(l.order)-total)
}
