package agent_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kinesistest"
)

// TestAgentEndToEnd writes two logs that rotate (rename) every 250 lines while the agent runs,
// stops the agent gracefully halfway and starts it again, with random server faults (failed
// entries, 500 and 503 answers) all along. Every line must arrive exactly once; in order per log
// with shardwise.aggregation (StrictOrdering). In the Kinesis Agent's wire format (the default) a
// line whose PutRecords entry failed is sent again after the lines that followed it in its call, as
// the Kinesis Agent does, so only the set of lines is checked.
func TestAgentEndToEnd(t *testing.T) {
	t.Run("default", func(t *testing.T) { testAgentEndToEnd(t, false) })
	t.Run("aggregation", func(t *testing.T) { testAgentEndToEnd(t, true) })
}

func testAgentEndToEnd(t *testing.T, aggregate bool) {
	e := newEnv(t, 1, kinesistest.Faults(kinesistest.FaultConfig{
		Rate:  0.05,
		Kinds: []kinesistest.FaultKind{kinesistest.FaultEntryFailure, kinesistest.FaultInternalError, kinesistest.FaultUnavailable},
	}))
	const total, rotateEvery = 2000, 250
	logs := []string{"web", "db"}
	for _, name := range logs {
		writeFile(t, e.path(name+".log"), "")
	}
	f := e.flow("*.log*")
	f.InitialPosition = agent.StartOfFile
	f.Aggregation = aggregate
	r := e.start([]agent.Flow{f})
	for _, name := range logs {
		e.waitTracked(e.path(name + ".log"))
	}
	for i := range total {
		for _, name := range logs {
			live := e.path(name + ".log")
			if i > 0 && i%rotateEvery == 0 {
				rotated := fmt.Sprintf("%s.%d", live, i/rotateEvery)
				if err := os.Rename(live, rotated); err != nil {
					t.Fatal(err)
				}
				// Modification times are too coarse to order files created within the same
				// clock tick, so let the agent see each rotation before the next one (real logs
				// rotate hours apart).
				waitFor(t, "the agent to see "+rotated, func() bool { return checkpointOffset(t, e.cp, rotated) >= 0 })
			}
			appendFile(t, live, fmt.Sprintf("%s-%d\n", name, i))
		}
		if i == total/2 {
			e.waitRecords(len(logs) * total / 4)
			r.stop(t) // graceful: everything read is delivered and checkpointed
			r = e.start([]agent.Flow{f})
		}
	}
	got := e.waitRecords(len(logs) * total)
	r.stop(t)
	for _, name := range logs {
		var seq []string
		for _, d := range got {
			if strings.HasPrefix(d, name+"-") {
				seq = append(seq, d)
			}
		}
		want := splitLines(lines(name, 0, total))
		if !aggregate {
			slices.SortFunc(seq, byLineNumber)
			slices.SortFunc(want, byLineNumber)
		}
		expectExactly(t, seq, want)
	}
	if len(got) != len(logs)*total {
		t.Errorf("stream holds %d records, want %d", len(got), len(logs)*total)
	}
}

// TestAgentRetriesRejectedRecords makes the stream refuse PutRecords with a non-retryable error
// for a while (as a missing stream or denied access would): the producer gives up on the records,
// the agent keeps them and sends them again until they are delivered, and the checkpoint waits.
func TestAgentRetriesRejectedRecords(t *testing.T) {
	e := newEnv(t, 1)
	var refuse atomic.Int32
	refuse.Store(3)
	e.srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
		if req.Op != "PutRecords" || refuse.Add(-1) < 0 {
			return kinesistest.Action{}, false
		}
		return kinesistest.Action{Err: &kinesistest.Error{Code: "AccessDeniedException", Message: "not now"}}, true
	})
	path := e.path("app.log")
	writeFile(t, path, "")
	r := e.start([]agent.Flow{e.flow("app.log")}, agent.RetryBackoff(50*time.Millisecond, 200*time.Millisecond))
	e.waitTracked(path)
	appendFile(t, path, lines("x", 0, 20))
	got := e.waitRecords(20)
	waitFor(t, "the checkpoint to reach the end", func() bool { return checkpointOffset(t, e.cp, path) == int64(len(lines("x", 0, 20))) })
	r.stop(t)
	expectExactly(t, got, splitLines(lines("x", 0, 20)))
	if s := r.a.Stats(); s.RecordsRetried == 0 || s.RecordsSent != 20 || s.RecordsFailed != 0 {
		t.Errorf("stats %+v, want retries, 20 sent, none failed", s)
	}
}

// TestAgentTwoFlows sends two patterns to two streams; each stream gets its own lines, and the
// checkpoint file holds both flows' files.
func TestAgentTwoFlows(t *testing.T) {
	e := newEnv(t, 2)
	other := &env{t: t, srv: e.srv, kc: e.kc, stream: "audit", dir: e.dir, cp: e.cp}
	if _, err := e.kc.CreateStream(context.Background(), &kinesis.CreateStreamInput{StreamName: aws.String("audit"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.path("app.log"), lines("app", 0, 30))
	writeFile(t, e.path("audit.txt"), lines("audit", 0, 20))
	appFlow := e.flow("*.log")
	appFlow.InitialPosition = agent.StartOfFile
	auditFlow := other.flow("*.txt")
	auditFlow.InitialPosition = agent.StartOfFile
	r := e.start([]agent.Flow{appFlow, auditFlow})
	gotApp := e.waitRecords(30)
	gotAudit := other.waitRecords(20)
	waitFor(t, "both files checkpointed at their end", func() bool {
		return checkpointOffset(t, e.cp, e.path("app.log")) == int64(len(lines("app", 0, 30))) &&
			checkpointOffset(t, e.cp, e.path("audit.txt")) == int64(len(lines("audit", 0, 20)))
	})
	r.stop(t)
	slices.Sort(gotApp) // two shards, random keys: no order across shards
	want := splitLines(lines("app", 0, 30))
	slices.Sort(want)
	expectExactly(t, gotApp, want)
	expectExactly(t, gotAudit, splitLines(lines("audit", 0, 20)))
}

// byLineNumber orders "<name>-<n>\n" lines by n.
func byLineNumber(x, y string) int {
	var a, b int
	fmt.Sscanf(x[strings.LastIndexByte(x, '-')+1:], "%d", &a)
	fmt.Sscanf(y[strings.LastIndexByte(y, '-')+1:], "%d", &b)
	return a - b
}
