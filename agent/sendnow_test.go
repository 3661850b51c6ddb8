package agent_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kinesistest"
)

// backlogLines is more than two full PutRecords calls (500 records) and not a multiple of 500:
// the last call is a partial one, which maxBufferAgeMillis would hold back.
const backlogLines = 1234

// runInBubble starts a on a goroutine of the bubble; the returned function stops it and checks
// Run's error.
func runInBubble(t *testing.T, a *agent.Agent) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}
}

// waitSent waits (fake time) until the agent has delivered n records and returns how long that
// took from start; it fails the test after limit.
func waitSent(t *testing.T, a *agent.Agent, n int64, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for a.Stats().RecordsSent < n {
		if time.Since(start) > limit {
			t.Fatalf("%d of %d records delivered after %v", a.Stats().RecordsSent, n, limit)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

// TestBacklogSentAtOnce: a flow that reads a backlog (START_OF_FILE on a file of 1,234 lines)
// hands the records left over after the full calls to Kinesis as soon as it has read the file to
// its end, instead of letting them wait maxBufferAgeMillis (DefaultMaxBufferAge, 1s) for lines
// that are not coming: in fake time every line is delivered well within that second. Before, the
// last partial call (and, with shardwise.aggregation, each shard's last aggregate) waited the
// whole second. Every line arrives once, in file order within its shard (in the default wire
// format up to the two calls in flight at once, which Kinesis may apply in either order), and the
// checkpoint reaches the end of the file.
func TestBacklogSentAtOnce(t *testing.T) {
	for _, aggregate := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "aggregation"}[aggregate], func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, 4, kinesistest.VirtualNetwork())
				path := e.path("app.log")
				writeFile(t, path, lines("line", 0, backlogLines))
				fl := e.flow("*.log")
				fl.InitialPosition, fl.Aggregation = agent.StartOfFile, aggregate
				a, err := agent.New(agent.Config{CheckpointFile: e.cp, Flows: []agent.Flow{fl}}, e.kc, debugOpts...)
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				stop := runInBubble(t, a)
				took := waitSent(t, a, backlogLines, start, 10*time.Second)
				calls := a.Stats().Flows[0].SendCalls
				t.Logf("%d lines delivered %v after the start (fake time), %d calls", backlogLines, took, calls)
				if took >= agent.DefaultMaxBufferAge/2 {
					t.Errorf("the backlog took %v to be delivered: its last records waited for maxBufferAgeMillis (%v)", took, agent.DefaultMaxBufferAge)
				}
				time.Sleep(3 * agent.DefaultCheckpointInterval) // the final offsets checkpointed
				synctest.Wait()
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if off := checkpointOffset(t, e.cp, path); off != fi.Size() {
					t.Errorf("checkpoint at %d before shutdown, want the file's size %d", off, fi.Size())
				}
				stop()
				passing := 0 // aggregation: StrictOrdering with a shard map, one call per shard
				if !aggregate {
					passing = twoCalls
				}
				checkInShardOrder(t, e, backlogLines, passing)
			})
		})
	}
}

// twoCalls is how far apart two lines of a shard may be stored out of file order in the default
// wire format: the agent has two PutRecords calls of at most maxBufferSizeRecords (500) lines in
// flight, and Kinesis may apply the later one first, so a line may follow lines of the next call,
// fewer than two calls' worth later, never later ones (when no entry fails).
const twoCalls = 2 * 500

// checkInShardOrder checks that the stream holds lines 0..n-1 once each, in file order within
// each shard, except that a line may be stored after lines fewer than passing lines later (0: in
// file order).
func checkInShardOrder(t *testing.T, e *env, n, passing int) {
	t.Helper()
	seen := make([]bool, n)
	last := map[string]int{} // the highest line of each shard so far
	for _, r := range e.read() {
		i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.data, "line-"), "\n"))
		if err != nil || i < 0 || i >= n {
			t.Fatalf("unexpected record %q", r.data)
		}
		if seen[i] {
			t.Errorf("line %d delivered twice", i)
		}
		seen[i] = true
		if prev, ok := last[r.shard]; ok && i < prev && (passing == 0 || prev-i >= passing) {
			t.Errorf("%s: line %d after line %d", r.shard, i, prev)
		}
		if prev, ok := last[r.shard]; !ok || i > prev {
			last[r.shard] = i
		}
	}
	for i, ok := range seen {
		if !ok {
			t.Errorf("line %d not delivered", i)
		}
	}
}

// TestSlowWriterAfterBacklogBatched: once a backlog is delivered at once, the flow goes back to
// batching: a line every 100 ms afterwards still waits up to maxBufferAgeMillis for the next
// ones, one PutRecords call a second (not ten), and each line is delivered within about a second.
// It fails when the send-now is made at every read to the end of the file (every poll here), or
// is left on after the backlog.
func TestSlowWriterAfterBacklogBatched(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1, kinesistest.VirtualNetwork())
		path := e.path("app.log")
		writeFile(t, path, lines("line", 0, backlogLines))
		fl := e.flow("*.log")
		fl.InitialPosition = agent.StartOfFile
		a, err := agent.New(agent.Config{CheckpointFile: e.cp, Flows: []agent.Flow{fl}}, e.kc, debugOpts...)
		if err != nil {
			t.Fatal(err)
		}
		stop := runInBubble(t, a)
		waitSent(t, a, backlogLines, time.Now(), 10*time.Second)
		c0 := a.Stats().Flows[0].SendCalls
		const slow = 30
		for i := range slow {
			appendFile(t, path, lines("line", backlogLines+i, backlogLines+i+1))
			time.Sleep(100 * time.Millisecond)
		}
		last := time.Now()
		took := waitSent(t, a, backlogLines+slow, last, 10*time.Second)
		calls := a.Stats().Flows[0].SendCalls - c0
		t.Logf("%d lines 100 ms apart: %d PutRecords calls; the last delivered %v after the writes ended", slow, calls, took)
		if calls > 4 {
			t.Errorf("%d PutRecords calls for %d lines written over 3s, want at most 4 (one a second)", calls, slow)
		}
		if took > agent.DefaultMaxBufferAge+200*time.Millisecond {
			t.Errorf("the last line took %v to be delivered, want at most about %v", took, agent.DefaultMaxBufferAge)
		}
		stop()
		checkInShardOrder(t, e, backlogLines+slow, twoCalls)
	})
}

// fhAccept is a Firehose client that accepts every record and counts calls.
type fhAccept struct {
	mu      sync.Mutex
	calls   int
	records []string
}

func (c *fhAccept) PutRecordBatch(_ context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	out := &firehose.PutRecordBatchOutput{FailedPutCount: aws.Int32(0)}
	for i, r := range in.Records {
		c.records = append(c.records, string(r.Data))
		out.RequestResponses = append(out.RequestResponses, fhtypes.PutRecordBatchResponseEntry{RecordId: aws.String(fmt.Sprint(c.calls, "-", i))})
	}
	return out, nil
}

// TestFirehoseBacklogSentAtOnce: the same for a deliveryStream flow (PutRecordBatch).
func TestFirehoseBacklogSentAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, 1, kinesistest.VirtualNetwork()) // New wants a Kinesis client
		path := e.path("app.log")
		writeFile(t, path, lines("line", 0, backlogLines))
		fh := &fhAccept{}
		cfg := agent.Config{CheckpointFile: e.cp, Flows: []agent.Flow{{FilePattern: e.path("*.log"), DeliveryStream: "d", InitialPosition: agent.StartOfFile}}}
		a, err := agent.New(cfg, e.kc, append([]agent.Option{agent.WithFirehose(fh)}, debugOpts...)...)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		stop := runInBubble(t, a)
		took := waitSent(t, a, backlogLines, start, 10*time.Second)
		if took >= agent.DefaultMaxBufferAge/2 {
			t.Errorf("the backlog took %v to be delivered: its last records waited for maxBufferAgeMillis (%v)", took, agent.DefaultMaxBufferAge)
		}
		stop()
		fh.mu.Lock()
		defer fh.mu.Unlock()
		if got, want := strings.Join(fh.records, ""), lines("line", 0, backlogLines); got != want {
			t.Errorf("Firehose got %d records, want the %d lines in order", len(fh.records), backlogLines)
		}
	})
}
