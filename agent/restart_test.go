package agent_test

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/shardwise/shardwise/agent"
)

// TestInitialPositionAppliesOnce: a flow whose pattern matched nothing at its first start is
// marked started in the checkpoint file, so after a restart the file written meanwhile is read
// from its start; END_OF_FILE does not skip the lines written while the agent was down.
func TestInitialPositionAppliesOnce(t *testing.T) {
	e := newEnv(t, 1)
	f := e.flow("app.log*") // END_OF_FILE by default
	ev := &fileEvents{at: map[string]int64{}}
	r := e.start([]agent.Flow{f}, agent.WithHooks(ev))
	waitFor(t, "the started marker to be written", func() bool {
		data, err := os.ReadFile(e.cp)
		return err == nil && len(data) > 0
	})
	r.stop(t)
	live := e.path("app.log")
	writeFile(t, live, lines("a", 0, 5)) // written while the agent restarts
	r = e.start([]agent.Flow{f}, agent.WithHooks(ev))
	got := e.waitRecords(5)
	r.stop(t)
	expectExactly(t, got, splitLines(lines("a", 0, 5)))
	if off, ok := ev.offset(live); !ok || off != 0 {
		t.Errorf("the file was tailed from offset %d (%v), want 0", off, ok)
	}
}

// TestStartOfFileNewestOfFamily: START_OF_FILE at a flow's first start reads only the newest file
// of each rotation family from its start (app.log of app.log, app.log.1, app.log.2; web.log of
// web.log-20261203, web.log); older ones are taken as sent. Lines added to them later are sent.
func TestStartOfFileNewestOfFamily(t *testing.T) {
	e := newEnv(t, 1)
	base := time.Now().Add(-time.Hour)
	files := []struct {
		name, content string
		age           time.Duration
	}{
		{"app.log.2", lines("old2-", 0, 3), 30 * time.Minute},
		{"app.log.1", lines("old1-", 0, 3), 20 * time.Minute},
		{"app.log", lines("app-", 0, 4), 10 * time.Minute},
		{"web.log-20261203", lines("webold-", 0, 3), 20 * time.Minute},
		{"web.log", lines("web-", 0, 2), 10 * time.Minute},
	}
	for _, fl := range files {
		p := e.path(fl.name)
		writeFile(t, p, fl.content)
		mt := base.Add(-fl.age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	f1, f2 := e.flow("app.log*"), e.flow("web.log*")
	f1.InitialPosition, f2.InitialPosition = agent.StartOfFile, agent.StartOfFile
	r := e.start([]agent.Flow{f1, f2})
	e.waitRecords(6)
	appendFile(t, e.path("app.log.1"), lines("late1-", 0, 1)) // a buffered writer finishing in the rotated file
	got := e.waitRecords(7)
	r.stop(t)
	want := splitLines(lines("app-", 0, 4) + lines("web-", 0, 2) + lines("late1-", 0, 1))
	slices.Sort(got) // two flows: no order between them
	slices.Sort(want)
	expectExactly(t, got, want)
}
