package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
	"github.com/shardwise/shardwise/kinesisrecord"
	"github.com/shardwise/shardwise/kinesistest"
)

// newTestKinesis starts an in-process kinesistest server and returns a stock SDK client for it.
func newTestKinesis(t *testing.T) *kinesis.Client {
	t.Helper()
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.KinesisClient()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustStream(t *testing.T, ctx context.Context, kc streamAPI, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := streamCommand(ctx, kc, args, &out, &errOut); err != nil {
		t.Fatalf("stream %v: %v\n%s", args, err, errOut.String())
	}
	return out.String()
}

func TestStreamCommands(t *testing.T) {
	kc := newTestKinesis(t)
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "s1", "--shards", "2")
	desc := mustStream(t, ctx, kc, "describe", "s1")
	for _, want := range []string{"status:     ACTIVE", "open shards: 2 of 2", "shardId-000000000000", "170141183460469231731687303715884105727"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe output lacks %q:\n%s", want, desc)
		}
	}
	out := mustStream(t, ctx, kc, "split", "s1", "shardId-000000000000")
	if !strings.Contains(out, "at 85070591730234615865843651857942052864") {
		t.Errorf("split output = %q, want the midpoint 2^126", out)
	}
	// After the split: shard 0 closed, children 2 and 3 with parent 0.
	desc = mustStream(t, ctx, kc, "describe", "s1")
	for _, want := range []string{"open shards: 3 of 4", "shardId-000000000002  open    shardId-000000000000"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe after split lacks %q:\n%s", want, desc)
		}
	}
	mustStream(t, ctx, kc, "merge", "s1", "shardId-000000000002", "shardId-000000000003")
	desc = mustStream(t, ctx, kc, "describe", "s1")
	if !strings.Contains(desc, "shardId-000000000004  open    shardId-000000000002,shardId-000000000003") {
		t.Errorf("describe after merge lacks the merged child:\n%s", desc)
	}
	mustStream(t, ctx, kc, "delete", "s1")
	if err := streamCommand(ctx, kc, []string{"describe", "s1"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Errorf("describe of a deleted stream succeeded")
	}

	// Usage errors are typed.
	for _, args := range [][]string{{"create", "x"}, {"bogus", "x"}, {"merge", "x", "y"}} {
		if err := streamCommand(ctx, kc, args, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errCLIUsage) {
			t.Errorf("stream %v error = %v, want errCLIUsage", args, err)
		}
	}
}

// TestTailLineageAndDecoding puts plain, aggregated (one sub-record outside the shard's range) and
// compressed records, reshards, and checks that tail prints them parents first, decoded and filtered.
func TestTailLineageAndDecoding(t *testing.T) {
	kc := newTestKinesis(t)
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "t1", "--shards", "1")
	put := func(pk, ehk string, data []byte) {
		t.Helper()
		in := &kinesis.PutRecordInput{StreamName: aws.String("t1"), PartitionKey: aws.String(pk), Data: data}
		if ehk != "" {
			in.ExplicitHashKey = aws.String(ehk)
		}
		if _, err := kc.PutRecord(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	put("k", "", []byte("parent-1"))
	mustStream(t, ctx, kc, "split", "t1", "shardId-000000000000")

	// Aggregate routed to the lower child (keys below 2^127), carrying one user record whose own
	// hash key lies in the upper child: a consumer must drop exactly that one.
	lowKey, highKey := keyInHalf(t, false), keyInHalf(t, true)
	agg := aggregation.NewAggregator(aggregation.DefaultMaxSize)
	for _, r := range []aggregation.Record{
		{PartitionKey: lowKey, Data: []byte("child-a")},
		{PartitionKey: highKey, Data: []byte("stray")},
		{PartitionKey: lowKey, Data: []byte("child-b")},
	} {
		if err := agg.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	rec, _, _ := agg.Flush()
	put(rec.PartitionKey, rec.ExplicitHashKey, rec.Data)

	enc, err := compression.NewEncoder(compression.LevelFastest)
	if err != nil {
		t.Fatal(err)
	}
	big := []byte(strings.Repeat("compressible ", 100))
	framed, ok := enc.Compress(big)
	if !ok {
		t.Fatal("the encoder did not compress a repetitive payload")
	}
	put(highKey, "", framed)

	var out bytes.Buffer
	n, err := tailStream(ctx, kc, "t1", tailConfig{from: "trim-horizon", max: 4, idleTimeout: 5 * time.Second,
		format: "jsonl", pollInterval: minPollInterval}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("tail printed %d records, want 4:\n%s", n, out.String())
	}
	var lines []jsonlRecord
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r jsonlRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad jsonl line %q: %v", l, err)
		}
		lines = append(lines, r)
	}
	data := func(r jsonlRecord) string {
		b, _ := base64.StdEncoding.DecodeString(r.Data)
		return string(b)
	}
	if lines[0].ShardID != "shardId-000000000000" || data(lines[0]) != "parent-1" {
		t.Errorf("first line = %+v, want the parent's record first", lines[0])
	}
	got := map[string]jsonlRecord{}
	for _, l := range lines[1:] {
		got[data(l)] = l
	}
	if _, ok := got["stray"]; ok {
		t.Errorf("the sub-record outside the shard's hash range was printed")
	}
	if a, b := got["child-a"], got["child-b"]; a.SubSequenceNumber != 0 || b.SubSequenceNumber != 2 || a.PartitionKey != lowKey {
		t.Errorf("aggregated sub-records = %+v %+v, want sub-sequence 0 and 2 with their own keys", a, b)
	}
	if c, ok := got[string(big)]; !ok || c.ShardID != "shardId-000000000002" {
		t.Errorf("compressed record not printed decompressed from the upper child: %v", got)
	}
	if _, err := time.Parse(time.RFC3339Nano, lines[0].ApproximateArrivalTimestamp); err != nil {
		t.Errorf("approximateArrivalTimestamp %q: %v", lines[0].ApproximateArrivalTimestamp, err)
	}
}

// keyInHalf returns a partition key whose MD5 hash key lies in the upper (or lower) half of the space.
func keyInHalf(t *testing.T, upper bool) string {
	t.Helper()
	for i := 0; ; i++ {
		k := fmt.Sprintf("key-%d", i)
		if h := aggregation.PartitionKeyHash(k); (h[0] >= 0x80) == upper {
			return k
		}
	}
}

func TestTailIdleTimeoutAndRaw(t *testing.T) {
	kc := newTestKinesis(t)
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "t2", "--shards", "2")
	for i := 0; i < 5; i++ {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("t2"),
			PartitionKey: aws.String("p"), Data: []byte(fmt.Sprintf("line %d", i))}); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	n, err := tailStream(ctx, kc, "t2", tailConfig{from: "trim-horizon", idleTimeout: time.Second, format: "raw",
		pollInterval: minPollInterval}, &out)
	if err != nil || n != 5 {
		t.Fatalf("tail = %d, %v; want 5 records then an idle exit", n, err)
	}
	if want := "line 0\nline 1\nline 2\nline 3\nline 4\n"; out.String() != want {
		t.Errorf("raw output = %q, want %q", out.String(), want)
	}
}

func TestRunUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), nil, &out, &errOut); !errors.Is(err, errCLIUsage) {
		t.Errorf("run() = %v, want errCLIUsage", err)
	}
	if !strings.Contains(errOut.String(), "stream") || !strings.Contains(errOut.String(), "tail") {
		t.Errorf("usage text lacks commands:\n%s", errOut.String())
	}
	if err := run(context.Background(), []string{"nope"}, &out, &errOut); !errors.Is(err, errCLIUsage) {
		t.Errorf("run(nope) = %v, want errCLIUsage", err)
	}
	if err := run(context.Background(), []string{"tail", "s", "--format", "xml"}, &out, &errOut); !errors.Is(err, errCLIUsage) {
		t.Errorf("tail --format xml = %v, want errCLIUsage", err)
	}
}

// TestUserRecordsPlainLookalikes: data that only looks like an aggregate (the magic but too short,
// or a wrong MD5 trailer) is one plain record, never dropped.
func TestUserRecordsPlainLookalikes(t *testing.T) {
	magic := aggregation.Magic
	for _, data := range []string{magic, magic + "short", magic + strings.Repeat("x", 40)} {
		rec := types.Record{Data: []byte(data), PartitionKey: aws.String("pk"), SequenceNumber: aws.String("1")}
		full := aggregation.FullHashRange
		got := userRecords(new(kinesisrecord.Decoder), "shardId-000000000000", &full, rec)
		if len(got) != 1 || string(got[0].Data) != data || got[0].PartitionKey != "pk" {
			t.Errorf("%q: got %+v, want it as one plain record", data, got)
		}
	}
}
