package agent_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
