package agent_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kpl"
)

type recorder struct {
	mu          sync.Mutex
	files       []string // "kind path"
	failed      []agent.RecordFailedEvent
	checkpoints int
	// per-flow counters, from HookFlowSend and HookFlowDelivered
	attempts, sendErrors, serviceErrors, sent, bytesSent int64
	streams                                              map[string]bool // "pattern stream" of every flow event
}

func (r *recorder) OnFlowSend(e agent.FlowSendEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streams[e.FilePattern+" "+e.Stream] = true
	r.attempts += int64(e.Records)
	r.sendErrors += int64(e.Failed)
	if e.ServiceError {
		r.serviceErrors++
	}
}

func (r *recorder) OnFlowDelivered(e agent.FlowDeliveredEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streams[e.FilePattern+" "+e.Stream] = true
	r.sent++
	r.bytesSent += int64(e.Bytes)
}

func (r *recorder) OnFileEvent(e agent.FileEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files = append(r.files, e.Kind.String()+" "+e.Path)
}

func (r *recorder) OnRecordFailed(e agent.RecordFailedEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed = append(r.failed, e)
}

func (r *recorder) OnCheckpointWritten(e agent.CheckpointEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Err == nil {
		r.checkpoints++
	}
}

// TestHooksAndPermanentFailure lets a record through that the stream cannot take (the agent is
// told records may have 2 MiB, the stream takes 1 MiB): the producer rejects it for good, the
// agent reports it through the hook, the log and Stats, and moves on; file events follow the file
// from tailing to rotated to finished.
func TestHooksAndPermanentFailure(t *testing.T) {
	e := newEnv(t, 1)
	path := e.path("app.log")
	writeFile(t, path, "")
	rec := &recorder{streams: map[string]bool{}}
	flow := e.flow("app.log")
	r := e.start([]agent.Flow{flow}, agent.MaxRecordSize(2<<20), agent.WithHooks(rec))
	e.waitTracked(path)
	huge := strings.Repeat("h", 1536<<10) + "\n"
	appendFile(t, path, "before\n"+huge+"after\n")
	got := e.waitRecords(2)
	size := int64(len("before\n" + huge + "after\n"))
	waitFor(t, "the checkpoint past the rejected record", func() bool { return checkpointOffset(t, e.cp, path) == size })
	if err := os.Rename(path, e.path("app.log.1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the file to be finished", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.Contains(rec.files, "finished "+path) // its last path in the pattern
	})
	r.stop(t)
	expectExactly(t, got, []string{"before\n", "after\n"})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	wantFiles := []string{"tailing " + path, "rotated " + path, "finished " + path}
	if !slices.Equal(rec.files, wantFiles) {
		t.Errorf("file events %q, want %q", rec.files, wantFiles)
	}
	if len(rec.failed) != 1 || !errors.Is(rec.failed[0].Err, kpl.ErrRecordTooLarge) || rec.failed[0].Offset != size-int64(len("after\n")) {
		t.Errorf("failed records %+v, want the huge one (ErrRecordTooLarge)", rec.failed)
	}
	if rec.checkpoints == 0 {
		t.Error("no checkpoint event")
	}
	s := r.a.Stats()
	if s.RecordsFailed != 1 || s.RecordsSent != 2 {
		t.Errorf("stats %+v, want 1 failed, 2 sent", s)
	}
	// The flow hooks add up to the flow's counters.
	f := s.Flows[0]
	if rec.attempts != f.RecordSendAttempts || rec.sendErrors != f.RecordSendErrors || rec.serviceErrors != f.ServiceErrors ||
		rec.sent != f.RecordsSent || rec.bytesSent != f.BytesSent || rec.sent != 2 {
		t.Errorf("flow hooks: attempts %d, send errors %d, service errors %d, sent %d, bytes %d; flow stats %+v",
			rec.attempts, rec.sendErrors, rec.serviceErrors, rec.sent, rec.bytesSent, f)
	}
	if want := flow.FilePattern + " " + flow.KinesisStream; len(rec.streams) != 1 || !rec.streams[want] {
		t.Errorf("flow events named %v, want only %q", rec.streams, want)
	}
}

func TestWithHooksRejectsNonHooks(t *testing.T) {
	cfg := agent.Config{Flows: []agent.Flow{{FilePattern: "/tmp/x", KinesisStream: "s"}}}
	if _, err := agent.New(cfg, newEnv(t, 1).kc, agent.WithHooks(42)); !errors.Is(err, agent.ErrInvalidConfig) {
		t.Errorf("New(WithHooks(42)) = %v, want ErrInvalidConfig", err)
	}
}
