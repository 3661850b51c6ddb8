package main

import (
	"bytes"
	"crypto/md5"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/lease"
)

// TestCLILogsCarryNoRecordData: put (--key-field, aggregated) and consume at Debug, against a
// stream with 10 % injected faults and a corrupt aggregate among the records, write no payload and
// no partition key to the log or to put's stderr.
func TestCLILogsCarryNoRecordData(t *testing.T) {
	srv, err := kinesistest.NewServer(kinesistest.Faults(kinesistest.FaultConfig{Rate: 0.1, Seed: 3}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	kc := srv.KinesisClient()
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "sec", "--shards", "2")
	token := fmt.Sprintf("PAYLOAD%016x", rand.Uint64())
	var in strings.Builder
	var keys []string
	for i := range 60 {
		k := fmt.Sprintf("KEY%016x", rand.Uint64())
		keys = append(keys, k)
		fmt.Fprintf(&in, `{"user":%q,"secret":"%s-%d"}`+"\n", k, token, i)
	}
	var putErr bytes.Buffer
	if err := putCommand(ctx, kc, "sec", putConfig{keyField: "user", linger: 5 * time.Millisecond}, strings.NewReader(in.String()), &putErr); err != nil {
		t.Fatalf("put: %v\n%s", err, putErr.String())
	}
	// A corrupt aggregate (right MD5 over a body that does not parse): consume logs it at Warn.
	body := []byte("\x0a\xff" + token)
	sum := md5.Sum(body)
	corrupt := append(append([]byte(aggregation.Magic), body...), sum[:]...)
	if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("sec"), PartitionKey: aws.String(keys[0]), Data: corrupt}); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m, err := lease.NewManager(fakeaws.NewDynamoDB(), "sec-app", "owner", lease.Failover(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	c := consumeConfig{max: 61, format: "jsonl", pollInterval: 200 * time.Millisecond, syncInterval: time.Minute,
		grace: 10 * time.Second, idleTimeout: 5 * time.Second}
	n, err := consume(ctx, kc, m, "sec", kcl.TrimHorizon, c, &out, log)
	if err != nil {
		t.Fatal(err)
	}
	if n != 61 {
		t.Fatalf("consumed %d records, want 61", n)
	}
	got := logs.String()
	if !strings.Contains(got, `"level":"WARN"`) || !strings.Contains(got, "corrupt") {
		t.Fatalf("the log lacks the corrupt record's Warn: the check would prove little\n%s", got)
	}
	for name, text := range map[string]string{"consume's log": got, "put's stderr": putErr.String()} {
		if strings.Contains(text, token) {
			t.Errorf("a payload reached %s:\n%s", name, text)
		}
		for _, k := range keys {
			if strings.Contains(text, k) {
				t.Errorf("partition key %s reached %s:\n%s", k, name, text)
				break
			}
		}
	}
}
