package agent_test

import (
	"os"
	"testing"

	"github.com/shardwise/shardwise/agent"
)

// TestTailFileFooter: a line matching fileFooterPattern as a whole (blanks aside) ends its file,
// as in the Kinesis Agent: neither it nor the lines after it are sent, even lines appended later,
// and they are checkpointed; a new file under the name (rotation) is read again.
func TestTailFileFooter(t *testing.T) {
	e := newEnv(t, 1)
	path := e.path("app.log")
	writeFile(t, path, "")
	f := e.flow("app.log*")
	f.FileFooterPattern = `-- END OF LOG \d+ --`
	r := e.start([]agent.Flow{f})
	e.waitTracked(path)
	appendFile(t, path, "a\n-- END OF LOG x --\nb\n  -- END OF LOG 42 --  \nc\n")
	e.waitRecords(3)
	size := func() int64 { fi, _ := os.Stat(path); return fi.Size() }
	waitFor(t, "the footer and the line after it to be checkpointed", func() bool { return checkpointOffset(t, e.cp, path) == size() })
	appendFile(t, path, "d\n")
	waitFor(t, "the line appended after the footer to be checkpointed", func() bool { return checkpointOffset(t, e.cp, path) == size() })
	if err := os.Rename(path, e.path("app.log.1")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "e\n")
	e.waitRecords(4)
	r.stop(t)
	expectExactly(t, e.readData(), []string{"a\n", "-- END OF LOG x --\n", "b\n", "e\n"})
	if s := r.a.Stats(); s.RecordsFiltered != 1 {
		t.Errorf("RecordsFiltered = %d, want 1 (the footer)", s.RecordsFiltered)
	}
}
