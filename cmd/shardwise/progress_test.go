package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/lease"
)

func TestFormatProgress(t *testing.T) {
	t0 := time.Unix(1000, 0)
	prev := progressSample{at: t0, records: 1000, bytes: 100_000, failed: 1, buffered: 50}
	cur := progressSample{at: t0.Add(500 * time.Millisecond), records: 6000, bytes: 1_600_000, failed: 3, buffered: 300}
	if got, want := formatProgress("", prev, cur), "6000 records, 10000 records/s, 3.00 MB/s, 3 failed, 300 buffered"; got != want {
		t.Errorf("put line = %q, want %q", got, want)
	}
	cur.buffered = -1 // reading
	if got, want := formatProgress("read: ", prev, cur), "read: 6000 records, 10000 records/s, 3.00 MB/s"; got != want {
		t.Errorf("read line = %q, want %q", got, want)
	}
	if got, want := formatProgress("", prev, prev), "1000 records, 0 records/s, 0.00 MB/s, 1 failed, 50 buffered"; got != want {
		t.Errorf("no time passed: %q, want %q", got, want)
	}
}

func TestFormatShardStats(t *testing.T) {
	prev := map[string]shardCount{"shardId-000000000001": {records: 100, bytes: 10_000, behindMs: 0}}
	cur := map[string]shardCount{
		"shardId-000000000001": {records: 600, bytes: 60_000, behindMs: 1500},
		"shardId-000000000000": {records: 250, bytes: 2_000_000, behindMs: -1},
	}
	got := formatShardStats("shardwise consume: ", prev, cur, 5*time.Second)
	want := "shardwise consume: 850 records, 150 records/s, 0.41 MB/s; shardId-000000000000 50 records/s, lag -; shardId-000000000001 100 records/s, lag 1.5s"
	if got != want {
		t.Errorf("stats line =\n%q, want\n%q", got, want)
	}
	var nilStats *shardStats
	nilStats.printed("s", 1, 1) // --stats off: no-ops
	nilStats.behind("s", 1)
}

// TestTailStats: tail's --stats counters hold every printed record under its shard, with the lag
// the shard's GetRecords answers reported.
func TestTailStats(t *testing.T) {
	kc := newTestKinesis(t)
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "st", "--shards", "2")
	for i := range 20 {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("st"),
			PartitionKey: aws.String(fmt.Sprint("k", i)), Data: []byte("0123456789")}); err != nil {
			t.Fatal(err)
		}
	}
	stats := newShardStats()
	var out bytes.Buffer
	n, err := tailStream(ctx, kc, "st", tailConfig{from: "trim-horizon", max: 20, format: "raw",
		pollInterval: minPollInterval, stats: stats}, &out)
	if err != nil || n != 20 {
		t.Fatalf("tail = %d, %v", n, err)
	}
	snap := stats.snapshot()
	var recs, bytes int64
	for id, c := range snap {
		if !strings.HasPrefix(id, "shardId-") || c.behindMs < 0 {
			t.Errorf("shard %q: %+v, want a shard id and a reported lag", id, c)
		}
		recs, bytes = recs+c.records, bytes+c.bytes
	}
	if recs != 20 || bytes != 200 {
		t.Errorf("stats count %d records, %d bytes over %d shards; want 20 and 200", recs, bytes, len(snap))
	}
}

// TestConsumeStats: consume's --stats counters hold every printed record under its shard, with the
// lag of the kcl batches.
func TestConsumeStats(t *testing.T) {
	ctx := testCtx(t)
	kc := newTestKinesis(t)
	mustStream(t, ctx, kc, "create", "cs", "--shards", "2")
	for i := range 30 {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("cs"),
			PartitionKey: aws.String(fmt.Sprint("k", i)), Data: []byte("0123456789")}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := lease.NewManager(fakeaws.NewDynamoDB(), "cs-app", "w", lease.Failover(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	stats := newShardStats()
	c := consumeConfig{max: 30, format: "raw", pollInterval: 200 * time.Millisecond, syncInterval: time.Minute,
		grace: 10 * time.Second, stats: stats}
	n, err := consume(ctx, kc, m, "cs", kcl.TrimHorizon, c, io.Discard, slog.New(slog.DiscardHandler))
	if err != nil || n != 30 {
		t.Fatalf("consume = %d, %v", n, err)
	}
	var recs, bytes int64
	for id, sc := range stats.snapshot() {
		if sc.behindMs < 0 {
			t.Errorf("shard %s: no lag noted", id)
		}
		recs, bytes = recs+sc.records, bytes+sc.bytes
	}
	if recs != 30 || bytes != 300 {
		t.Errorf("stats count %d records, %d bytes; want 30 and 300", recs, bytes)
	}
}
