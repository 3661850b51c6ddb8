package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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
		if err := runPut(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errCLIUsage) {
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
// for longer than the producer's default RecordTTL, then everything does, once; no line fails.
func TestPutOutlastsRecordTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := bubbleKinesis(t)
		until := time.Now().Add(kpl.DefaultRecordTTL + 15*time.Second)
		srv.Control(failPuts(func() bool { return time.Now().Before(until) }))
		kc := srv.KinesisClient()
		var errOut bytes.Buffer
		out, err := putLines(t.Context(), kc, "s", putConfig{keyField: "k", linger: defaultPutLinger}, bytes.NewReader(putTestLines(1000, 100)), &errOut)
		missing, dup := missingAndDuplicated(readBackLines(t, t.Context(), kc, "s", 1000))
		if err != nil || out.failed != 0 || missing != 0 || dup != 0 {
			t.Fatalf("put = %v, %d failed; %d lines not in the stream, %d more than once\n%s", err, out.failed, missing, dup, errOut.String())
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
		srv := bubbleKinesis(t)
		srv.Control(failPuts(func() bool { return true }))
		kc := srv.KinesisClient()
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
		srv := bubbleKinesis(t)
		srv.Control(failPuts(func() bool { return true }))
		kc := srv.KinesisClient()
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

// TestPutNoSuchStream: put to a stream that does not exist fails before it reads a line, in one line
// naming the stream (it used to print the ResourceNotFound text twice on each of the first lines).
func TestPutNoSuchStream(t *testing.T) {
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	var errOut bytes.Buffer
	out, err := putLines(testCtx(t), srv.KinesisClient(), "nosuch", putConfig{linger: defaultPutLinger},
		strings.NewReader(strings.Repeat("x\n", 1000)), &errOut)
	if err == nil || err.Error() != "stream nosuch does not exist (ResourceNotFoundException)" {
		t.Errorf("put nosuch = %v, want one line saying the stream does not exist", err)
	}
	if errOut.Len() != 0 || out.records != 0 || srv.Calls("PutRecords") != 0 {
		t.Errorf("put nosuch read %d lines, made %d PutRecords calls and printed %q; want nothing", out.records, srv.Calls("PutRecords"), errOut.String())
	}
}

// TestPutDeniedStopsOnce: a PutRecords permission that is missing stops put at the first refused
// record with one line; the lines are not each reported, and put stops reading.
func TestPutDeniedStopsOnce(t *testing.T) {
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	kc := srv.KinesisClient()
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "denied", "--shards", "2")
	srv.Control(func(r kinesistest.Request) (kinesistest.Action, bool) {
		return kinesistest.Action{Err: kinesistest.NewError(kinesistest.CodeAccessDenied)}, r.Op == "PutRecords"
	})
	const lines = 200_000
	var errOut bytes.Buffer
	out, err := putLines(ctx, kc, "denied", putConfig{linger: defaultPutLinger}, bytes.NewReader(putTestLines(lines, 20)), &errOut)
	want := "stopped at line 1: stream denied: Kinesis refused the call: AccessDeniedException: User is not authorized to perform this action."
	if err == nil || err.Error() != want {
		t.Fatalf("put = %v, want %q\n%s", err, want, errOut.String())
	}
	if strings.Contains(errOut.String(), "AccessDenied") || strings.Contains(errOut.String(), "shardwise put: line ") {
		t.Errorf("the refusal is reported per line as well:\n%s", errOut.String())
	}
	if out.records >= lines {
		t.Errorf("put read all %d lines after the first was refused", out.records)
	}
}

// TestPutFiles: put reads its FILE arguments in order as one stream of lines (a file without a last
// newline does not run into the next), and names a failed line by file and number.
func TestPutFiles(t *testing.T) {
	kc := newTestKinesis(t)
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "files", "--shards", "1")
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	os.WriteFile(a, []byte(`{"k":"u","n":1}`+"\n"+`{"k":"u","n":2}`), 0o644) // no last newline
	os.WriteFile(b, []byte(`{"k":"u","n":3}`+"\nnot json\n"+`{"k":"u","n":4}`+"\n"), 0o644)
	in, err := openPutInputs([]string{a, b}, strings.NewReader("unused"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var errOut bytes.Buffer
	err = putCommand(ctx, kc, "files", putConfig{keyField: "k", strictOrdering: true, where: in.where}, in, &errOut)
	if err == nil || !strings.Contains(errOut.String(), "shardwise put: "+b+":2: --key-field k") {
		t.Errorf("put = %v; stderr does not name %s:2 as the bad line:\n%s", err, b, errOut.String())
	}
	got := readAllUser(t, kc, "files")["u"]
	if strings.Join(got, " ") != `{"k":"u","n":1} {"k":"u","n":2} {"k":"u","n":3} {"k":"u","n":4}` {
		t.Errorf("records = %q, want the four good lines in file order", got)
	}
	if _, err := openPutInputs([]string{a, filepath.Join(dir, "missing")}, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want it refused before anything is read", err)
	}
}

// TestPutPreflightHangs: the ListShards put makes before reading its first line gets no answer
// (a hung call, as in the chaos suite's scenario a); put goes on after preflightTimeout and
// delivers every line instead of waiting for ever.
func TestPutPreflightHangs(t *testing.T) {
	defer func(d time.Duration) { preflightTimeout = d }(preflightTimeout)
	preflightTimeout = 200 * time.Millisecond
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	kc := srv.KinesisClient()
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "s", "--shards", "1")
	var hung atomic.Bool
	srv.Control(func(r kinesistest.Request) (kinesistest.Action, bool) {
		// Only the first ListShards (put's pre-flight) hangs.
		return kinesistest.Action{Hang: true}, r.Op == "ListShards" && hung.CompareAndSwap(false, true)
	})
	var errOut bytes.Buffer
	out, err := putLines(ctx, kc, "s", putConfig{linger: defaultPutLinger}, strings.NewReader(strings.Repeat("x\n", 100)), &errOut)
	if err != nil || out.records != 100 || out.failed != 0 {
		t.Fatalf("put = %+v, %v (%s)", out, err, errOut.String())
	}
	if !hung.Load() {
		t.Fatal("the pre-flight ListShards was not held")
	}
}
