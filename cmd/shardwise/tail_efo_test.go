package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/internal/fanout"
	"github.com/shardwise/shardwise/kinesistest"
)

var _ efoAPI = (*kinesis.Client)(nil)

// newTestKinesisTLS starts a kinesistest server over TLS and returns an SDK client speaking HTTP/2 to it
// (the transport enhanced fan-out needs).
func newTestKinesisTLS(t *testing.T, opts ...kinesistest.Option) *kinesis.Client {
	t.Helper()
	srv, err := kinesistest.NewServer(append([]kinesistest.Option{kinesistest.TLS()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL()),
		Credentials:  aws.AnonymousCredentials{},
		HTTPClient:   srv.HTTP2Client(),
	})
}

func decodeLines(t *testing.T, out string) []jsonlRecord {
	t.Helper()
	var lines []jsonlRecord
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r jsonlRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bad jsonl line %q: %v", l, err)
		}
		lines = append(lines, r)
	}
	return lines
}

func lineData(r jsonlRecord) string {
	b, _ := base64.StdEncoding.DecodeString(r.Data)
	return string(b)
}

// TestTailEFOLineageAndDecoding: a record in the parent, a split, then an aggregate (one sub-record
// outside its child's range) and a plain record in the children: tail --efo prints the parent's record
// first, the children's after its shard end, deaggregated and filtered.
func TestTailEFOLineageAndDecoding(t *testing.T) {
	kc := newTestKinesisTLS(t)
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "e1", "--shards", "1")
	put := func(pk, ehk string, data []byte) {
		t.Helper()
		in := &kinesis.PutRecordInput{StreamName: aws.String("e1"), PartitionKey: aws.String(pk), Data: data}
		if ehk != "" {
			in.ExplicitHashKey = aws.String(ehk)
		}
		if _, err := kc.PutRecord(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	put("k", "", []byte("parent-1"))
	mustStream(t, ctx, kc, "split", "e1", "shardId-000000000000")
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
	put(highKey, "", []byte("child-c"))

	var out bytes.Buffer
	n, err := tailEFO(ctx, kc, "e1", "tailer", tailConfig{from: "trim-horizon", max: 4, idleTimeout: 10 * time.Second,
		format: "jsonl", pollInterval: minPollInterval}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("tail --efo printed %d records, want 4:\n%s", n, out.String())
	}
	lines := decodeLines(t, out.String())
	if lines[0].ShardID != "shardId-000000000000" || lineData(lines[0]) != "parent-1" {
		t.Errorf("first line = %+v, want the parent's record first", lines[0])
	}
	got := map[string]jsonlRecord{}
	for _, l := range lines[1:] {
		got[lineData(l)] = l
	}
	if _, ok := got["stray"]; ok {
		t.Errorf("the sub-record outside the shard's hash range was printed")
	}
	if a, b := got["child-a"], got["child-b"]; a.SubSequenceNumber != 0 || b.SubSequenceNumber != 2 || a.ShardID != "shardId-000000000001" {
		t.Errorf("aggregated sub-records = %+v %+v, want sub-sequence 0 and 2 from the lower child", a, b)
	}
	if c := got["child-c"]; c.ShardID != "shardId-000000000002" {
		t.Errorf("child-c = %+v, want it from the upper child", c)
	}
}

// TestTailEFOLatestLiveAndIdle: from latest, tail --efo prints only records put after it subscribed,
// as they arrive, across subscriptions that expire every second, and --idle-timeout ends it.
func TestTailEFOLatestLiveAndIdle(t *testing.T) {
	kc := newTestKinesisTLS(t, kinesistest.SubscriptionDuration(time.Second))
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "e2", "--shards", "2")
	if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("e2"), PartitionKey: aws.String("p"), Data: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	subscribed := make(chan struct{}, 16)
	hook := fanout.OnAttempt(func(a fanout.Attempt) {
		if a.Err == nil {
			select {
			case subscribed <- struct{}{}:
			default:
			}
		}
	})
	var out bytes.Buffer
	var n int
	var tailErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		n, tailErr = tailEFO(ctx, kc, "e2", "live", tailConfig{from: "latest", idleTimeout: 2500 * time.Millisecond,
			format: "raw", pollInterval: minPollInterval}, &out, hook)
	})
	for range 2 { // both shards subscribed
		select {
		case <-subscribed:
		case <-ctx.Done():
			t.Fatal("no subscriptions")
		}
	}
	var want []string
	for i := range 6 {
		for j := range 5 {
			data := fmt.Sprintf("live-%d-%d", i, j)
			want = append(want, data)
			if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("e2"), PartitionKey: aws.String("p"), Data: []byte(data)}); err != nil {
				t.Fatal(err)
			}
		}
		<-subscribed // spread the writes over resubscriptions
	}
	wg.Wait()
	if tailErr != nil {
		t.Fatal(tailErr)
	}
	if got := strings.Join(strings.Fields(out.String()), " "); n != len(want) || got != strings.Join(want, " ") {
		t.Errorf("tail --efo printed %d: %s\nwant %d: %s", n, got, len(want), strings.Join(want, " "))
	}
}

// TestTailEFOCommandH2C runs `shardwise tail --efo` through run() against a plain-HTTP kinesistest
// from the standard environment variables: the command must subscribe over h2c.
func TestTailEFOCommandH2C(t *testing.T) {
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_ENDPOINT_URL_KINESIS", srv.URL())
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	kc := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL()), Credentials: aws.AnonymousCredentials{}})
	ctx := testCtx(t)
	mustStream(t, ctx, kc, "create", "e3", "--shards", "1")
	for i := range 3 {
		if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("e3"), PartitionKey: aws.String("p"),
			Data: []byte(fmt.Sprint("line ", i))}); err != nil {
			t.Fatal(err)
		}
	}
	fc, err := newFanOutKinesisClient(ctx, awsSettings{})
	if err != nil {
		t.Fatal(err)
	}
	hc, ok := fc.Options().HTTPClient.(*http.Client)
	if !ok {
		t.Fatalf("fan-out client for %s has HTTP client %T, want the h2c *http.Client", srv.URL(), fc.Options().HTTPClient)
	}
	if tr, ok := hc.Transport.(*http.Transport); !ok || tr.Protocols == nil || !tr.Protocols.UnencryptedHTTP2() {
		t.Errorf("fan-out client transport %T does not speak h2c", hc.Transport)
	}
	var stdout, stderr bytes.Buffer
	runCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := run(runCtx, []string{"tail", "e3", "--efo", "cli", "--from", "trim-horizon", "--max", "3"}, &stdout, &stderr); err != nil {
		t.Fatalf("tail --efo: %v\n%s", err, stderr.String())
	}
	if want := "line 0\nline 1\nline 2\n"; stdout.String() != want {
		t.Errorf("stdout = %q, want %q", stdout.String(), want)
	}
	if !strings.Contains(stderr.String(), "3 records") {
		t.Errorf("stderr = %q, want the record count", stderr.String())
	}
}
