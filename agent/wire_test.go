package agent_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kinesistest"
)

// readRaw returns the Kinesis records of the stream as stored, not deaggregated.
func (e *env) readRaw() []rec {
	e.t.Helper()
	ctx := context.Background()
	shards, err := e.kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(e.stream)})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []rec
	for _, sh := range shards.Shards {
		it, err := e.kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(e.stream),
			ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			e.t.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			got, err := e.kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				e.t.Fatal(err)
			}
			for _, r := range got.Records {
				out = append(out, rec{shard: aws.ToString(sh.ShardId), key: aws.ToString(r.PartitionKey), data: string(r.Data)})
			}
			if len(got.Records) == 0 {
				break
			}
			iter = got.NextShardIterator
		}
	}
	return out
}

// opCounter counts the calls of each operation the server receives, and denies the operations in
// deny with AccessDeniedException, as an IAM policy would.
func opCounter(srv *kinesistest.Server, deny ...string) (count func(op string) int64, remove func()) {
	var mu = map[string]*atomic.Int64{}
	for _, op := range []string{"PutRecords", "ListShards", "DescribeStreamSummary"} {
		mu[op] = new(atomic.Int64)
	}
	remove = srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if c, ok := mu[req.Op]; ok {
			c.Add(1)
		}
		for _, d := range deny {
			if req.Op == d {
				return kinesistest.Action{Err: kinesistest.NewError(kinesistest.CodeAccessDenied)}, true
			}
		}
		return kinesistest.Action{}, false
	})
	return func(op string) int64 { return mu[op].Load() }, remove
}

// checkJavaAgentRecords checks the records are the lines, one per Kinesis record, each with a
// RANDOM key as the Kinesis Agent makes them (a double in [0, 1000000) in Java's notation).
func checkJavaAgentRecords(t *testing.T, recs []rec, want []string) {
	t.Helper()
	if len(recs) != len(want) {
		t.Fatalf("stream holds %d Kinesis records, want %d (one per line)", len(recs), len(want))
	}
	got := make(map[string]int)
	for _, r := range recs {
		got[r.data]++
		v, err := strconv.ParseFloat(r.key, 64)
		if err != nil || v < 0 || v >= 1e6 || !strings.Contains(r.key, ".") {
			t.Fatalf("partition key %q is not a Kinesis Agent RANDOM key", r.key)
		}
	}
	for _, w := range want {
		if got[w] != 1 {
			t.Fatalf("line %q is in %d Kinesis records, want 1", w, got[w])
		}
	}
}

func TestWireOneLinePerRecordByDefault(t *testing.T) {
	e := newEnv(t, 4)
	count, remove := opCounter(e.srv)
	path := e.path("app.log")
	writeFile(t, path, lines("l", 0, 300))
	f := e.flow("app.log")
	f.InitialPosition = agent.StartOfFile
	r := e.start([]agent.Flow{f})
	waitFor(t, "300 records sent", func() bool { return r.a.Stats().RecordsSent >= 300 })
	r.stop(t)
	if n := count("ListShards"); n != 0 {
		t.Errorf("the agent called ListShards %d times, want 0 (PutRecords only)", n)
	}
	remove()
	checkJavaAgentRecords(t, e.readRaw(), splitLines(lines("l", 0, 300)))
}

func TestWirePutRecordsOnlyPolicy(t *testing.T) {
	e := newEnv(t, 2)
	_, remove := opCounter(e.srv, "ListShards", "DescribeStreamSummary", "DescribeStream")
	path := e.path("app.log")
	writeFile(t, path, "")
	r := e.start([]agent.Flow{e.flow("app.log")})
	waitFor(t, "the agent to track the file", func() bool { return len(readCheckpoint(t, e.cp)) == 1 })
	appendFile(t, path, lines("p", 0, 50))
	waitFor(t, "50 records sent", func() bool { return r.a.Stats().RecordsSent >= 50 })
	r.stop(t)
	remove()
	checkJavaAgentRecords(t, e.readRaw(), splitLines(lines("p", 0, 50)))
}

func TestWireDeterministicKey(t *testing.T) {
	e := newEnv(t, 2)
	path := e.path("app.log")
	writeFile(t, path, "same\nother\nsame\n")
	f := e.flow("app.log")
	f.InitialPosition = agent.StartOfFile
	f.PartitionKeyOption = agent.PartitionKeyDeterministic
	r := e.start([]agent.Flow{f})
	waitFor(t, "3 records sent", func() bool { return r.a.Stats().RecordsSent >= 3 })
	r.stop(t)
	recs := e.readRaw()
	keys := map[string]string{}
	for _, x := range recs {
		keys[x.data] = x.key
	}
	// Guava's md5 HashCode.toString: lower-case hex of the line's bytes, newline included.
	if len(recs) != 3 || keys["same\n"] != md5hex("same\n") || keys["other\n"] != md5hex("other\n") {
		t.Errorf("records %+v, want 3 with MD5 keys", recs)
	}
}

func TestAggregationOptIn(t *testing.T) {
	e := newEnv(t, 1)
	path := e.path("app.log")
	writeFile(t, path, lines("g", 0, 200))
	f := e.flow("app.log")
	f.InitialPosition = agent.StartOfFile
	f.Aggregation = true
	r := e.start([]agent.Flow{f})
	waitFor(t, "200 records sent", func() bool { return r.a.Stats().RecordsSent >= 200 })
	r.stop(t)
	if raw := e.readRaw(); len(raw) >= 200 {
		t.Errorf("%d Kinesis records for 200 lines with shardwise.aggregation, want fewer (aggregated)", len(raw))
	}
	got := e.readData()
	expectExactly(t, got, splitLines(lines("g", 0, 200)))
}

func TestAggregationOptInChecksPermissions(t *testing.T) {
	for _, op := range []string{"ListShards", "DescribeStreamSummary"} {
		t.Run(op, func(t *testing.T) {
			e := newEnv(t, 1)
			_, remove := opCounter(e.srv, op)
			defer remove()
			f := e.flow("app.log")
			f.Aggregation = true
			a, err := agent.New(agent.Config{CheckpointFile: e.cp, Flows: []agent.Flow{f}}, e.kc, fastOptions()...)
			if err != nil {
				t.Fatal(err)
			}
			err = a.Run(context.Background())
			var pe *agent.PermissionError
			if !errors.As(err, &pe) || !errors.Is(err, agent.ErrPermission) || pe.Action != "kinesis:"+op || !strings.Contains(err.Error(), "kinesis:"+op) {
				t.Fatalf("Run = %v, want a *PermissionError naming kinesis:%s", err, op)
			}
			checkNoGoroutines(t)
		})
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
