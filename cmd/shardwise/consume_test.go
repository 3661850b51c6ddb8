package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// consume prints jsonl lines with every field, stops after --max, checkpoints the last printed record
// and releases its leases; a second run resumes after that checkpoint.
func TestConsumeMaxCheckpointsAndResumes(t *testing.T) {
	t.Run("polling", func(t *testing.T) { testConsumeMaxCheckpointsAndResumes(t, "") })
	t.Run("efo", func(t *testing.T) { testConsumeMaxCheckpointsAndResumes(t, "consume-test") })
}

func testConsumeMaxCheckpointsAndResumes(t *testing.T, efo string) {
	ctx := testCtx(t)
	kc := newTestKinesis(t)
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("c"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("c"), PartitionKey: aws.String("pk"),
			Data: fmt.Appendf(nil, "r%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	db := fakeaws.NewDynamoDB()
	run := func(max int) []jsonlRecord {
		t.Helper()
		m, err := lease.NewManager(db, "app", "owner-"+fmt.Sprint(max), lease.Failover(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.EnsureTable(ctx); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		idle := 3 * time.Second
		c := consumeConfig{max: max, format: "jsonl", pollInterval: 200 * time.Millisecond, syncInterval: time.Minute,
			grace: 10 * time.Second, idleTimeout: idle, efo: efo}
		n, err := consume(ctx, kc, m, "c", kcl.TrimHorizon, c, &out, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		var recs []jsonlRecord
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if line == "" {
				continue
			}
			var r jsonlRecord
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			recs = append(recs, r)
		}
		if n != len(recs) {
			t.Errorf("consume reported %d records, printed %d", n, len(recs))
		}
		return recs
	}
	first := run(5)
	if len(first) != 5 {
		t.Fatalf("first run printed %d records, want 5", len(first))
	}
	r := first[0]
	if r.ShardID != "shardId-000000000000" || r.PartitionKey != "pk" || r.SequenceNumber == "" ||
		r.Data != base64.StdEncoding.EncodeToString([]byte("r0")) || r.ApproximateArrivalTimestamp == "" {
		t.Errorf("first record %+v", r)
	}
	if efo != "" {
		// Resuming through fan-out right away meets the 5 s ResourceInUse rule and its backoff; the
		// resume path is the same shard consumer as polling (tested above and in package kcl).
		return
	}
	second := run(0) // until idle
	var got []string
	for _, r := range second {
		d, _ := base64.StdEncoding.DecodeString(r.Data)
		got = append(got, string(d))
	}
	if strings.Join(got, ",") != "r5,r6,r7" {
		t.Errorf("second run printed %v, want r5,r6,r7 (resumed after the checkpoint of the first)", got)
	}
}
