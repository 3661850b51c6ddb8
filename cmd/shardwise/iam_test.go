package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/internal/fakeaws"
	"github.com/shardwise/shardwise/kcl"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/lease"
)

// The IAM policies README's "Running on AWS" documents live in packaging/iam. These tests run each
// component against kinesistest and the DynamoDB fake, list the API operations it called, and compare
// them with its policy: an operation called but missing from the policy fails (the component would
// be denied on AWS), and so does an action in the policy that nothing called, unless it is one of
// notExercised (actions the local fakes cannot show, each with its reason). README must show every
// policy file verbatim.

const iamDir = "../../packaging/iam"

// notExercised lists policy actions no local run calls, and why they are in the policy.
var notExercised = map[string]string{
	"kms:GenerateDataKey":      "producers writing to a KMS-encrypted stream (Kinesis calls KMS with the caller's credentials)",
	"kms:Decrypt":              "consumers reading a KMS-encrypted stream",
	"cloudwatch:PutMetricData": "CloudWatch metrics (agent: on by default; tested against internal/cwtest)",
	"firehose:PutRecordBatch":  "agent flows with deliveryStream (tested against firehosetest)",
	"ec2:DescribeTags":         "ADDEC2METADATA on instances without tags in the instance metadata (tested against internal/ec2tags' fake)",
}

// policyActions reads a policy document and returns its actions.
func policyActions(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(iamDir, file))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version   string
		Statement []struct {
			Sid      string
			Effect   string
			Action   json.RawMessage
			Resource json.RawMessage
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
		t.Fatalf("%s: want Version 2012-10-17 and statements", file)
	}
	acts := map[string]bool{}
	for _, s := range doc.Statement {
		if s.Effect != "Allow" || len(s.Resource) == 0 {
			t.Fatalf("%s: every statement must Allow named resources", file)
		}
		var one string
		var many []string
		if json.Unmarshal(s.Action, &one) == nil {
			many = []string{one}
		} else if err := json.Unmarshal(s.Action, &many); err != nil {
			t.Fatalf("%s: Action: %v", file, err)
		}
		for _, a := range many {
			if strings.Contains(a, "*") {
				t.Fatalf("%s: %s: wildcard actions are not minimal", file, a)
			}
			acts[a] = true
		}
	}
	return acts
}

// checkPolicy compares what a component called with its policy.
func checkPolicy(t *testing.T, file string, called map[string]bool) {
	t.Helper()
	allowed := policyActions(t, file)
	for _, a := range slices.Sorted(maps.Keys(called)) {
		if !allowed[a] {
			t.Errorf("%s lacks %s, which the code called", file, a)
		}
	}
	for _, a := range slices.Sorted(maps.Keys(allowed)) {
		if !called[a] && notExercised[a] == "" {
			t.Errorf("%s allows %s, which nothing called: not minimal", file, a)
		}
	}
}

// kinesisCalls records the Kinesis operations a kinesistest server answered since the last call.
type kinesisCalls struct {
	srv  *kinesistest.Server
	seen map[string]int64
}

func newKinesisCalls(srv *kinesistest.Server) *kinesisCalls {
	return &kinesisCalls{srv: srv, seen: srv.CallCounts()}
}

// since returns the operations called since the previous since (or newKinesisCalls), as IAM actions.
func (k *kinesisCalls) since() map[string]bool {
	now := k.srv.CallCounts()
	out := map[string]bool{}
	for op, n := range now {
		if n > k.seen[op] {
			out["kinesis:"+op] = true
		}
	}
	k.seen = now
	return out
}

// dynamoOps are the operations the DynamoDB fake implements (every one the lease package can call).
var dynamoOps = []string{"CreateTable", "DescribeTable", "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Scan"}

func dynamoCalls(db *fakeaws.DynamoDB, into map[string]bool) {
	for _, op := range dynamoOps {
		if db.Calls(op) > 0 {
			into["dynamodb:"+op] = true
		}
	}
}

func iamServer(t *testing.T, opts ...kinesistest.Option) (*kinesistest.Server, *kinesis.Client) {
	t.Helper()
	srv, err := kinesistest.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, srv.KinesisClient()
}

func iamStream(t *testing.T, ctx context.Context, kc *kinesis.Client, name string, shards int32) {
	t.Helper()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
}

func TestIAMPolicyProducer(t *testing.T) {
	ctx := testCtx(t)
	srv, kc := iamServer(t)
	iamStream(t, ctx, kc, "clicks", 4)
	calls := newKinesisCalls(srv)
	var lines strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&lines, "{\"k\":\"user-%d\",\"n\":%d}\n", i%97, i)
	}
	for _, c := range []putConfig{
		{keyField: "k", linger: 10 * time.Millisecond},
		{keyField: "k", linger: 10 * time.Millisecond, noAggregate: true},
		{keyField: "k", linger: 10 * time.Millisecond, strictOrdering: true, compress: "zstd"},
	} {
		if err := putCommand(ctx, kc, "clicks", c, strings.NewReader(lines.String()), io.Discard); err != nil {
			t.Fatalf("put %+v: %v", c, err)
		}
	}
	checkPolicy(t, "producer.json", calls.since())
}

func TestIAMPolicyWorker(t *testing.T) {
	for _, tc := range []struct{ name, efo, policy string }{
		{"polling", "", "worker-polling.json"},
		{"fanout", "iam-test", "worker-fanout.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			srv, kc := iamServer(t)
			iamStream(t, ctx, kc, "orders", 2)
			for i := range 40 {
				if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"),
					PartitionKey: aws.String(fmt.Sprint(i)), Data: []byte("x")}); err != nil {
					t.Fatal(err)
				}
			}
			// A split, so the worker also finishes a parent and takes its children.
			out, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("orders")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("orders"),
				ShardToSplit: out.Shards[0].ShardId, NewStartingHashKey: aws.String("85070591730234615865843651857942052864")}); err != nil {
				t.Fatal(err)
			}
			for i := range 40 {
				if _, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("orders"),
					PartitionKey: aws.String(fmt.Sprint(i)), Data: []byte("y")}); err != nil {
					t.Fatal(err)
				}
			}
			calls := newKinesisCalls(srv)
			db := fakeaws.NewDynamoDB()
			// As runConsume does: the table made if missing, then the worker.
			m, err := lease.NewManager(db, "iam-app", "w1", lease.Failover(3*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.EnsureTable(ctx); err != nil {
				t.Fatal(err)
			}
			// No --max: the worker runs until idle, so shard syncs (every 300 ms) delete the split
			// parent's finished lease once its children have progressed (DeleteItem).
			c := consumeConfig{format: "jsonl", pollInterval: 200 * time.Millisecond, syncInterval: 300 * time.Millisecond,
				grace: 10 * time.Second, idleTimeout: 3 * time.Second, efo: tc.efo}
			n, err := consume(ctx, kc, m, "orders", kcl.TrimHorizon, c, io.Discard, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if n != 80 {
				t.Fatalf("consumed %d records, want 80", n)
			}
			// What `shardwise leases` reads (an operator with the worker's policy can inspect it).
			if _, err := m.List(ctx); err != nil {
				t.Fatal(err)
			}
			got := calls.since()
			dynamoCalls(db, got)
			checkPolicy(t, tc.policy, got)
		})
	}
}

func TestIAMPolicyAgent(t *testing.T) {
	ctx := testCtx(t)
	srv, kc := iamServer(t)
	iamStream(t, ctx, kc, "logs", 2)
	calls := newKinesisCalls(srv)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	var lines strings.Builder
	for i := range 200 {
		fmt.Fprintf(&lines, "line %d\n", i)
	}
	if err := os.WriteFile(logPath, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// One flow in the Kinesis Agent's format, one with our aggregation switch (which needs the
	// stream's shards: ListShards and DescribeStreamSummary).
	for i, extra := range []string{"", `, "shardwise.aggregation": true`} {
		conf := fmt.Sprintf(`{"checkpointFile": %q, "cloudwatch.emitMetrics": false,
  "flows": [{"filePattern": %q, "kinesisStream": "logs", "initialPosition": "START_OF_FILE", "maxBufferAgeMillis": "50"%s}]}`,
			filepath.Join(dir, fmt.Sprintf("cp%d.json", i)), logPath, extra)
		cfg, err := agent.ParseConfig([]byte(conf), nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := agent.New(cfg, kc)
		if err != nil {
			t.Fatal(err)
		}
		actx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- a.Run(actx) }()
		for a.Stats().RecordsSent < 200 {
			select {
			case err := <-done:
				cancel()
				t.Fatalf("agent stopped: %v", err)
			case <-ctx.Done():
				cancel()
				t.Fatalf("agent sent %d of 200 lines", a.Stats().RecordsSent)
			case <-time.After(20 * time.Millisecond):
			}
		}
		cancel()
		<-done
	}
	checkPolicy(t, "agent.json", calls.since())
}

func TestIAMPolicyAdmin(t *testing.T) {
	ctx := testCtx(t)
	srv, kc := iamServer(t)
	calls := newKinesisCalls(srv)
	var out bytes.Buffer
	for _, args := range [][]string{
		{"create", "admin", "--shards", "2"},
		{"describe", "admin"},
		{"split", "admin", "shardId-000000000000"},
		{"merge", "admin", "shardId-000000000003", "shardId-000000000001"},
		{"scale", "admin", "--shards", "4"},
		{"delete", "admin"},
	} {
		if err := streamCommand(ctx, kc, args, &out, &out); err != nil {
			t.Fatalf("stream %v: %v\n%s", args, err, out.String())
		}
	}
	got := calls.since()
	checkPolicy(t, "admin.json", got)
}

// TestIAMPoliciesInREADME: README shows each policy file verbatim, so what users copy is what the tests
// checked.
func TestIAMPoliciesInREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(iamDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no policies in %s: %v", iamDir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(readme, bytes.TrimSpace(b)) {
			t.Errorf("README does not show %s verbatim", filepath.Base(f))
		}
	}
}
