package cloudwatch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
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
