package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/aggregation"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

// waitDeadline bounds every wait on real file I/O and delivery: generous, since the machine may
// be loaded; the conditions usually hold within a few polls.
const waitDeadline = 20 * time.Second

// env is a kinesistest server, a stream and a temporary directory for log files and checkpoints.
type env struct {
	t      *testing.T
	srv    *kinesistest.Server
	kc     *kinesis.Client
	stream string
	dir    string
	cp     string
}

func newEnv(t *testing.T, shards int32, opts ...kinesistest.Option) *env {
	t.Helper()
	srv, err := kinesistest.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	kc := srv.KinesisClient()
	e := &env{t: t, srv: srv, kc: kc, stream: "logs", dir: t.TempDir()}
	e.cp = filepath.Join(e.dir, "state", "checkpoints.json")
	if _, err := kc.CreateStream(context.Background(), &kinesis.CreateStreamInput{StreamName: aws.String(e.stream), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) path(name string) string { return filepath.Join(e.dir, name) }

// flow returns a flow for the pattern (relative to the directory) into the stream.
func (e *env) flow(pattern string) agent.Flow {
	return agent.Flow{FilePattern: e.path(pattern), KinesisStream: e.stream}
}

// fastOptions make the agent react within milliseconds.
func fastOptions(extra ...agent.Option) []agent.Option {
	return append([]agent.Option{
		agent.PollInterval(10 * time.Millisecond),
		agent.CheckpointInterval(20 * time.Millisecond),
		agent.IdleFlush(150 * time.Millisecond),
		agent.ProducerOptions(kpl.Linger(5 * time.Millisecond)),
	}, extra...)
}

// running is an agent running in a goroutine.
type running struct {
	a      *agent.Agent
	cancel context.CancelFunc
	done   chan error
}

// start runs an agent on flows; the test's cleanup stops it if the test did not.
func (e *env) start(flows []agent.Flow, opts ...agent.Option) *running {
	e.t.Helper()
	cfg := agent.Config{CheckpointFile: e.cp, Flows: flows}
	a, err := agent.New(cfg, e.kc, fastOptions(append(opts, debugOpts...)...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

// stop cancels the agent and waits for Run; it is idempotent.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(waitDeadline):
		t.Errorf("Run did not return within %v of cancellation", waitDeadline)
	}
	r.done = nil
	checkNoGoroutines(t)
}

// checkNoGoroutines fails the test if a goroutine of the agent or of its producers outlived Run.
func checkNoGoroutines(t *testing.T) {
	t.Helper()
	var left string
	buf := make([]byte, 1<<20)
	for range 50 { // goroutines that were told to stop may need a moment to be gone
		left = ""
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "shardwise/shardwise/agent.") || strings.Contains(g, "shardwise/shardwise/kpl.") {
				left += g + "\n\n"
			}
		}
		if left == "" {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("goroutines left after Run returned:\n%s", left)
}

// rec is a user record read back from the stream.
type rec struct {
	shard string
	key   string
	data  string
}

// read returns every user record of the stream: shards in ListShards order, records in stream
// order within each shard, aggregates expanded.
func (e *env) read() []rec {
	e.t.Helper()
	ctx := context.Background()
	// Reading back is not under test: with the server's injected faults (5% of the calls in
	// TestAgentEndToEnd), the SDK's default 3 attempts fail one GetRecords in ~8,000, which the
	// polling of waitRecords reached now and then.
	patient := func(o *kinesis.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts, so.MaxBackoff, so.RateLimiter = 20, 100*time.Millisecond, ratelimit.None
		})
	}
	shards, err := e.kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(e.stream)}, patient)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []rec
	for _, sh := range shards.Shards {
		it, err := e.kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(e.stream),
			ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon}, patient)
		if err != nil {
			e.t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			got, err := e.kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter}, patient)
			if err != nil {
				e.t.Fatal(err)
			}
			for _, r := range got.Records {
				users, err := aggregation.Deaggregate(r.Data)
				if err != nil {
					e.t.Fatalf("deaggregating: %v", err)
				}
				for _, u := range users {
					key := u.PartitionKey
					if key == "" { // not an aggregate: the Kinesis record's own key
						key = aws.ToString(r.PartitionKey)
					}
					out = append(out, rec{shard: aws.ToString(sh.ShardId), key: key, data: string(u.Data)})
				}
			}
			if len(got.Records) == 0 {
				break
			}
			iter = got.NextShardIterator
		}
	}
	return out
}

// readData returns the data of every user record, in read order.
func (e *env) readData() []string {
	var out []string
	for _, r := range e.read() {
		out = append(out, r.data)
	}
	return out
}

// waitFor polls cond until it holds, failing the test after waitDeadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitDeadline, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitRecords waits until the stream holds at least n user records and returns their data.
func (e *env) waitRecords(n int) []string {
	e.t.Helper()
	var got []string
	waitFor(e.t, fmt.Sprintf("%d records in the stream", n), func() bool {
		got = e.readData()
		return len(got) >= n
	})
	return got
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// lines returns "<prefix>-<i>\n" for i in [from, to).
func lines(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s-%d\n", prefix, i)
	}
	return b.String()
}

// splitLines returns the lines of s, each with its newline.
func splitLines(s string) []string {
	parts := strings.SplitAfter(s, "\n")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

func expectExactly(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("stream holds %d records, want %d; first difference at %d\n got %q\nwant %q",
		len(got), len(want), i, clip(got[i:]), clip(want[i:]))
}

// waitTracked waits until the agent checkpoints path (it found the file).
func (e *env) waitTracked(path string) {
	e.t.Helper()
	waitFor(e.t, "the agent to track "+path, func() bool { return checkpointOffset(e.t, e.cp, path) >= 0 })
}

func clip(s []string) []string {
	if len(s) > 40 {
		return append(slices.Clip(s[:40]), "...")
	}
	return s
}
