package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/shardwise/shardwise/agent"
)

// TestDefaultMaxBufferAge: a flow without maxBufferAgeMillis lets a record wait up to
// DefaultMaxBufferAge (1s, the least the Kinesis Agent accepts) for the ones after it: three
// lines written 150 ms apart go out in one PutRecords call (with the 100 ms linger the agent had
// before, three calls), and within about a second of the first.
func TestDefaultMaxBufferAge(t *testing.T) {
	e := newEnv(t, 1)
	path := e.path("app.log")
	writeFile(t, path, "")
	a, err := agent.New(agent.Config{CheckpointFile: e.cp, Flows: []agent.Flow{e.flow("*.log")}}, e.kc,
		append([]agent.Option{agent.PollInterval(10 * time.Millisecond), agent.CheckpointInterval(20 * time.Millisecond)}, debugOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	e.waitTracked(path)
	first := time.Now()
	for i := range 3 {
		if i > 0 {
			time.Sleep(150 * time.Millisecond)
		}
		appendFile(t, path, lines("line", i, i+1))
	}
	got := e.waitRecords(3)
	took := time.Since(first)
	expectExactly(t, got, splitLines(lines("line", 0, 3)))
	if calls := a.Stats().Flows[0].SendCalls; calls != 1 {
		t.Errorf("%d PutRecords calls for three lines 150 ms apart, want 1 (maxBufferAgeMillis unset: %v)", calls, agent.DefaultMaxBufferAge)
	}
	if took > agent.DefaultMaxBufferAge+2*time.Second {
		t.Errorf("the first line took %v to arrive, want about %v", took, agent.DefaultMaxBufferAge)
	}
}
