package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/shardwise/shardwise/agent"
)

// TestResumeAfterRestart stops the agent gracefully, rotates the file while it is down, and
// starts it again: the renamed file resumes at its checkpoint (found by identity), the new file is
// read from its start, nothing is sent twice.
func TestResumeAfterRestart(t *testing.T) {
	e := newEnv(t, 1)
	live := e.path("app.log")
	writeFile(t, live, lines("a", 0, 20))
	f := e.flow("app.log*")
	f.InitialPosition = agent.StartOfFile
	r := e.start([]agent.Flow{f})
	e.waitRecords(20)
	r.stop(t)
	if got := checkpointOffset(t, e.cp, live); got != int64(len(lines("a", 0, 20))) {
		t.Fatalf("checkpoint after a graceful stop = %d, want the end of the file", got)
	}
	appendFile(t, live, lines("a", 20, 30))
	if err := os.Rename(live, e.path("app.log.1")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, live, lines("b", 0, 10))
	r = e.start([]agent.Flow{f})
	got := e.waitRecords(40)
	r.stop(t)
	expectExactly(t, got, splitLines(lines("a", 0, 30)+lines("b", 0, 10)))
}

func TestRunCorruptCheckpoint(t *testing.T) {
	e := newEnv(t, 1)
	if err := os.MkdirAll(filepath.Dir(e.cp), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.cp, "{torn")
	a, err := agent.New(agent.Config{CheckpointFile: e.cp, Flows: []agent.Flow{e.flow("*.log")}}, e.kc)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(context.Background())
	var ce *agent.CheckpointError
	if !errors.As(err, &ce) || !errors.Is(err, agent.ErrCorruptCheckpoint) {
		t.Errorf("Run = %v, want a *CheckpointError wrapping ErrCorruptCheckpoint", err)
	}
}

// fileEvents records FileTailing events by path.
type fileEvents struct {
	mu sync.Mutex
	at map[string]int64
}

func (h *fileEvents) OnFileEvent(e agent.FileEvent) {
	if e.Kind == agent.FileTailing {
		h.mu.Lock()
		h.at[e.Path] = e.Offset
		h.mu.Unlock()
	}
}

func (h *fileEvents) offset(path string) (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	off, ok := h.at[path]
	return off, ok
}

// TestResumeFileMissedByFirstScan: a checkpointed file that the restarted agent's first scans do
// not see (renamed while a scan ran, here: out of the pattern and back) keeps its checkpoint, so
// it resumes at its offset when it shows up again instead of being sent twice.
func TestResumeFileMissedByFirstScan(t *testing.T) {
	e := newEnv(t, 1)
	live, hidden := e.path("app.log"), e.path("app.hidden")
	writeFile(t, live, lines("a", 0, 10))
	f := e.flow("app.log*")
	f.InitialPosition = agent.StartOfFile
	r := e.start([]agent.Flow{f})
	e.waitRecords(10)
	r.stop(t)
	if err := os.Rename(live, hidden); err != nil {
		t.Fatal(err)
	}
	other := e.path("app.log.other")
	writeFile(t, other, lines("o", 0, 1))
	ev := &fileEvents{at: map[string]int64{}}
	r = e.start([]agent.Flow{f}, agent.WithHooks(ev))
	// The other file being tailed shows that a scan ran without the checkpointed file.
	waitFor(t, "the first scan", func() bool { _, ok := ev.offset(other); return ok })
	rotated := e.path("app.log.1")
	if err := os.Rename(hidden, rotated); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the checkpointed file to be found", func() bool { _, ok := ev.offset(rotated); return ok })
	if off, _ := ev.offset(rotated); off != int64(len(lines("a", 0, 10))) {
		t.Errorf("the file was tailed from offset %d, want its checkpoint %d", off, len(lines("a", 0, 10)))
	}
	got := e.waitRecords(11)
	r.stop(t)
	expectExactly(t, got, splitLines(lines("a", 0, 10)+lines("o", 0, 1)))
}

// TestRunCheckpointDirNotWritable: a checkpoint file that cannot be written (here its directory
// is a regular file) stops Run at start with a *CheckpointError naming the path, before anything is
// read or sent.
func TestRunCheckpointDirNotWritable(t *testing.T) {
	e := newEnv(t, 1)
	blocker := e.path("state")
	writeFile(t, blocker, "not a directory\n")
	cp := filepath.Join(blocker, "checkpoints.json")
	a, err := agent.New(agent.Config{CheckpointFile: cp, Flows: []agent.Flow{e.flow("*.log")}}, e.kc)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(context.Background())
	var ce *agent.CheckpointError
	if !errors.As(err, &ce) || ce.Op != "check" || ce.Path != cp {
		t.Errorf("Run = %v, want a *CheckpointError (check) for %s", err, cp)
	}
}
