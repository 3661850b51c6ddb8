package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/compression"
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
