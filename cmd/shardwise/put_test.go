package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

// readAllUser returns every user record of the stream (decompressed, deaggregated) by partition key.
func readAllUser(t *testing.T, kc *kinesis.Client, stream string) map[string][]string {
	t.Helper()
	ctx := testCtx(t)
	out, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, sh := range out.Shards {
		it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId,
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs.Records {
			data, _, _ := compression.Decode(r.Data)
			urs, err := aggregation.Deaggregate(data)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range urs {
				pk := u.PartitionKey
				if !aggregation.IsAggregated(data) {
					pk = *r.PartitionKey
				}
				got[pk] = append(got[pk], string(u.Data))
			}
		}
	}
	return got
}

func TestPutCommand(t *testing.T) {
	kc := newTestKinesis(t)
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "p", "--shards", "2")
	in := strings.Repeat(`{"user":"a","n":1}`+"\n"+`{"user":"b","n":2}`+"\n", 50)
	tests := []struct {
		name string
		cfg  putConfig
	}{
		{"key field aggregated", putConfig{keyField: "user"}},
		{"no aggregate zstd strict", putConfig{keyField: "user", noAggregate: true, compress: "zstd", strictOrdering: true}},
	}
	for _, tt := range tests {
		var errOut bytes.Buffer
		if err := putCommand(ctx, kc, "p", tt.cfg, strings.NewReader(in), &errOut); err != nil {
			t.Fatalf("%s: %v\n%s", tt.name, err, errOut.String())
		}
		if !strings.Contains(errOut.String(), "100 records") || !strings.Contains(errOut.String(), "0 failed") {
			t.Errorf("%s: summary %q", tt.name, errOut.String())
		}
	}
	got := readAllUser(t, kc, "p")
	if len(got["a"]) != 100 || len(got["b"]) != 100 {
		t.Fatalf("read a=%d b=%d records, want 100 each", len(got["a"]), len(got["b"]))
	}

	// A bad line fails the command, the others are delivered.
	var errOut bytes.Buffer
	err := putCommand(ctx, kc, "p", putConfig{keyField: "user"}, strings.NewReader("{\"user\":\"c\"}\nnot json\n"), &errOut)
	if err == nil || !strings.Contains(errOut.String(), "1 failed") {
		t.Fatalf("err %v, stderr %q", err, errOut.String())
	}
	// Random keys spread over shards; a fixed key does not.
	errOut.Reset()
	if err := putCommand(context.Background(), kc, "p", putConfig{key: "fixed"}, strings.NewReader("x\ny\n"), &errOut); err != nil {
		t.Fatal(err)
	}
	if got := readAllUser(t, kc, "p")["fixed"]; len(got) != 2 || got[0] != "x" || got[1] != "y" {
		t.Fatalf("fixed key records %q", got)
	}
}

func TestPutUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"s", "--key", "a", "--key-field", "b"}, {"s", "--compress", "gzip"}} {
		if err := runPut(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); err != errCLIUsage {
			t.Errorf("put %v = %v, want errCLIUsage", args, err)
		}
	}
}

func TestLineRanges(t *testing.T) {
	many := make([]int64, 0, 2*(maxShownRanges+3))
	for i := range int64(maxShownRanges + 3) {
		many = append(many, 10*i+1, 10*i+2)
	}
	tests := []struct {
		name  string
		lines []int64
		want  string
	}{
		{"one", []int64{7}, "7"},
		{"singles and runs", []int64{1, 2, 3, 5, 9, 10, 12}, "1-3, 5, 9-10, 12"},
		{"capped", many, "1-2, 11-12, 21-22, 31-32, 41-42, 51-52, 61-62, 71-72, 81-82, 91-92, 101-102, 111-112, 121-122, 131-132, 141-142, 151-152, 161-162, 171-172, 181-182, 191-192 and 3 more ranges"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l lineRanges
			for _, n := range tt.lines {
				l.add(n)
			}
			if got := l.String(); got != tt.want {
				t.Errorf("lineRanges%v = %q, want %q", tt.lines, got, tt.want)
			}
		})
	}
}

// TestPutReportsFailedLines: lines that fail for good (refused by Kinesis, too large, not JSON) are
// listed by number on stderr, the others are delivered, and put fails.
func TestPutReportsFailedLines(t *testing.T) {
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	kc := srv.KinesisClient()
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "bad", "--shards", "1")
	// One shard and strict ordering without aggregation: one record per call, so a refused call
	// carries only the poisoned line.
	srv.Control(kinesistest.RejectEntries(func(e kinesistest.PutEntry) bool { return bytes.Contains(e.Data, []byte("poison")) }))
	var in strings.Builder
	bad := map[int]string{4: "poison", 5: "poison", 6: "poison", 10: "poison", 12: "not json", 20: "huge"}
	for i := 1; i <= 30; i++ {
		switch bad[i] {
		case "poison":
			fmt.Fprintf(&in, `{"k":"a","poison":%d}`+"\n", i)
		case "not json":
			in.WriteString("{not json\n")
		case "huge":
			fmt.Fprintf(&in, `{"k":"a","pad":"%s"}`+"\n", strings.Repeat("x", 1<<20))
		default:
			fmt.Fprintf(&in, `{"k":"a","n":%d}`+"\n", i)
		}
	}
	var errOut bytes.Buffer
	err = putCommand(ctx, kc, "bad", putConfig{keyField: "k", noAggregate: true, strictOrdering: true}, strings.NewReader(in.String()), &errOut)
	if err == nil || !strings.Contains(err.Error(), "6 of 30 records failed") {
		t.Fatalf("put = %v, want 6 of 30 failed\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "shardwise put: failed lines: 4-6, 10, 12, 20\n") {
		t.Errorf("stderr lacks the failed lines:\n%s", errOut.String())
	}
	if got := readAllUser(t, kc, "bad")["a"]; len(got) != 24 {
		t.Errorf("%d records delivered, want 24", len(got))
	}
}

// TestPutOutlastsRecordTTL: put never drops a line merely for waiting. Nothing reaches the stream
// for longer than the producer's default RecordTTL, then everything does; no line fails.
func TestPutOutlastsRecordTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kc := newMemKinesis(1, 0, 0)
		until := time.Now().Add(kpl.DefaultRecordTTL + 15*time.Second)
		kc.outage = func() bool { return time.Now().Before(until) }
		var errOut bytes.Buffer
		out, err := putLines(t.Context(), kc, "s", putConfig{keyField: "k", linger: defaultPutLinger}, bytes.NewReader(putTestLines(1000, 100)), &errOut)
		if err != nil || out.failed != 0 || kc.users != 1000 {
			t.Fatalf("put = %v, %d failed, %d delivered\n%s", err, out.failed, kc.users, errOut.String())
		}
		if out.elapsed < kpl.DefaultRecordTTL+15*time.Second {
			t.Fatalf("put took %v, before the outage ended", out.elapsed)
		}
	})
}

// TestPutGivesUpWhenNothingIsDelivered: when no record is delivered for the stall timeout while
// some wait, put fails them, lists their lines and ends.
func TestPutGivesUpWhenNothingIsDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kc := newMemKinesis(1, 0, 0)
		kc.outage = func() bool { return true }
		var errOut bytes.Buffer
		start := time.Now()
		out, err := putLines(t.Context(), kc, "s", putConfig{keyField: "k", linger: defaultPutLinger}, bytes.NewReader(putTestLines(5, 100)), &errOut)
		if err == nil || !strings.Contains(err.Error(), "no record delivered for 1m0s") || out.failed != 5 {
			t.Fatalf("put = %v, %d failed, want a stall error and 5 failed\n%s", err, out.failed, errOut.String())
		}
		if !strings.Contains(errOut.String(), "failed lines: 1-5\n") {
			t.Errorf("stderr lacks the failed lines:\n%s", errOut.String())
		}
		if d := time.Since(start); d < defaultPutStall || d > defaultPutStall+defaultPutStall/4 {
			t.Errorf("gave up after %v, want about %v", d, defaultPutStall)
		}
	})
}

// TestPutInterrupted: when ctx ends (SIGINT) during an outage, put returns at once, listing the lines
// it did not deliver.
func TestPutInterrupted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		kc := newMemKinesis(1, 0, 0)
		kc.outage = func() bool { return true }
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		var errOut bytes.Buffer
		out, err := putLines(ctx, kc, "s", putConfig{keyField: "k", linger: defaultPutLinger}, bytes.NewReader(putTestLines(300, 100)), &errOut)
		if err == nil || out.failed != 300 || !strings.Contains(errOut.String(), "failed lines: 1-300\n") {
			t.Fatalf("put = %v, %d failed\n%s", err, out.failed, errOut.String())
		}
		if out.elapsed > 11*time.Second {
			t.Errorf("put returned %v after the interrupt", out.elapsed-10*time.Second)
		}
	})
}
