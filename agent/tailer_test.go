package agent_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shardwise/shardwise/agent"
)

func TestTailRenameRotation(t *testing.T) {
	e := newEnv(t, 1)
	live := e.path("app.log")
	writeFile(t, live, lines("a", 0, 50))
	f := e.flow("app.log*")
	f.InitialPosition = agent.StartOfFile
	r := e.start([]agent.Flow{f})
	e.waitRecords(50)

	appendFile(t, live, lines("a", 50, 100))
	if err := os.Rename(live, e.path("app.log.1")); err != nil {
		t.Fatal(err)
	}
	// The application writes once more to the renamed file before reopening, then to a new file.
	appendFile(t, e.path("app.log.1"), "a-late\n")
	writeFile(t, live, lines("b", 0, 50))
	want := splitLines(lines("a", 0, 100) + "a-late\n" + lines("b", 0, 50))
	got := e.waitRecords(len(want))
	r.stop(t)
	expectExactly(t, got, want)
}

func TestTailRotationLeavingPattern(t *testing.T) {
	e := newEnv(t, 1)
	live := e.path("app.log")
	writeFile(t, live, "")
	r := e.start([]agent.Flow{e.flow("app.log")})
	e.waitTracked(live)
	appendFile(t, live, lines("a", 0, 30)+"a-partial")
	waitFor(t, "the agent reading the file", func() bool { return r.a.Stats().RecordsRead >= 30 })
	// Renamed out of the pattern: read to its end, partial last line included once the file has
	// stayed unchanged for IdleFlush (the new file's lines may go first).
	if err := os.Rename(live, e.path("app.log.old")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, live, lines("b", 0, 10))
	want := append(splitLines(lines("a", 0, 30)+lines("b", 0, 10)), "a-partial")
	got := e.waitRecords(len(want))
	r.stop(t)
	slices.Sort(got)
	slices.Sort(want)
	expectExactly(t, got, want)
}

func TestTailCopyTruncate(t *testing.T) {
	for _, name := range []string{"shorter", "longer"} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, 1)
			live := e.path("app.log")
			writeFile(t, live, lines("old", 0, 40))
			f := e.flow("app.log")
			f.InitialPosition = agent.StartOfFile
			r := e.start([]agent.Flow{f})
			e.waitRecords(40)
			waitFor(t, "the checkpoint to reach the end", func() bool { return checkpointOffset(t, e.cp, live) == int64(len(lines("old", 0, 40))) })

			// copytruncate: copy (not watched), truncate in place, go on writing.
			data, _ := os.ReadFile(live)
			writeFile(t, e.path("app.log.1"), string(data))
			fh, err := os.OpenFile(live, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := fh.Truncate(0); err != nil {
				t.Fatal(err)
			}
			n := 5 // fewer bytes than before: seen as size < offset
			if name == "longer" {
				n = 200 // more bytes than before: seen by the changed first bytes
			}
			if _, err := fh.WriteAt([]byte(lines("new", 0, n)), 0); err != nil {
				t.Fatal(err)
			}
			fh.Close()
			want := splitLines(lines("old", 0, 40) + lines("new", 0, n))
			got := e.waitRecords(len(want))
			r.stop(t)
			expectExactly(t, got, want)
		})
	}
}

func TestTailDeletedFile(t *testing.T) {
	e := newEnv(t, 1)
	path := e.path("job.log")
	writeFile(t, path, "")
	r := e.start([]agent.Flow{e.flow("*.log")})
	e.waitTracked(path)
	appendFile(t, path, lines("j", 0, 10))
	e.waitRecords(10)
	// More lines and a partial one, then the file is deleted: the open handle still reads them.
	appendFile(t, path, lines("j", 10, 20)+"j-end")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	want := append(splitLines(lines("j", 0, 20)), "j-end")
	got := e.waitRecords(len(want))
	waitFor(t, "the finished file to leave the checkpoint", func() bool { return len(readCheckpoint(t, e.cp)) == 0 })
	r.stop(t)
	expectExactly(t, got, want)
}

func TestTailNewFileAndInitialPosition(t *testing.T) {
	e := newEnv(t, 1)
	old := e.path("a.log")
	writeFile(t, old, lines("before-start", 0, 5)+"a-")
	r := e.start([]agent.Flow{e.flow("*.log")}) // END_OF_FILE by default: complete lines are skipped
	waitFor(t, "the first checkpoint", func() bool { return checkpointOffset(t, e.cp, old) > 0 })
	appendFile(t, old, "0\n"+lines("a", 1, 5))
	e.waitRecords(5)
	writeFile(t, e.path("b.log"), lines("b", 0, 5)) // a file appearing later is read from its start
	got := e.waitRecords(10)
	r.stop(t)
	slices.Sort(got)
	expectExactly(t, got, splitLines(lines("a", 0, 5)+lines("b", 0, 5)))
}

func TestTailPartialLine(t *testing.T) {
	e := newEnv(t, 1)
	path := e.path("p.log")
	writeFile(t, path, "")
	r := e.start([]agent.Flow{e.flow("p.log")})
	e.waitTracked(path)
	appendFile(t, path, "first\nsecond-half")
	e.waitRecords(1)
	// Several idle flush periods (150ms here) pass: the partial line of a live file is not sent.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if got := e.readData(); len(got) != 1 {
			t.Fatalf("stream holds %q, want only the complete line", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	appendFile(t, path, "-completed\n")
	got := e.waitRecords(2)
	r.stop(t)
	expectExactly(t, got, []string{"first\n", "second-half-completed\n"})
}

func TestTailMultiLine(t *testing.T) {
	e := newEnv(t, 1)
	path := e.path("java.log")
	writeFile(t, path, "")
	f := e.flow("java.log")
	f.MultiLineStartPattern = `\d{4}-\d{2}-\d{2} `
	r := e.start([]agent.Flow{f})
	e.waitTracked(path)
	entries := []string{
		"2024-01-01 12:00:00 INFO started\n",
		"2024-01-01 12:00:01 ERROR boom\njava.lang.IllegalStateException: x\n\tat a.B.c(B.java:10)\n\tat a.B.main(B.java:3)\n",
		"2024-01-01 12:00:02 INFO recovered\n  detail line\n",
	}
	appendFile(t, path, strings.Join(entries, ""))
	// The last entry has no successor: it is sent once the file stays idle for IdleFlush.
	got := e.waitRecords(3)
	r.stop(t)
	expectExactly(t, got, entries)
}

func TestTailProcessingHeaderAndTruncation(t *testing.T) {
	e := newEnv(t, 1)
	path := e.path("data.csv")
	writeFile(t, path, "id,name\n# comment\n1,ann\n2,"+strings.Repeat("x", 3000)+"\n3,bob\n1,ann\n")
	term := "<cut>\n"
	f := e.flow("*.csv")
	f.InitialPosition = agent.StartOfFile
	f.SkipHeaderLines = 2
	f.PartitionKeyOption = agent.PartitionKeyDeterministic
	f.TruncatedRecordTerminator = &term
	f.DataProcessingOptions = []agent.ProcessingOption{{OptionName: agent.OptionCSVToJSON, CustomFieldNames: []string{"id", "name"}}}
	r := e.start([]agent.Flow{f}, agent.MaxRecordSize(2048))
	var recs []rec
	waitFor(t, "4 records", func() bool { recs = e.read(); return len(recs) >= 4 })
	r.stop(t)
	if len(recs) != 4 {
		t.Fatalf("got %d records, want 4", len(recs))
	}
	if recs[0].data != `{"id":"1","name":"ann"}`+"\n" || recs[2].data != `{"id":"3","name":"bob"}`+"\n" {
		t.Errorf("records = %q", []string{recs[0].data, recs[2].data})
	}
	long := recs[1]
	if len(long.data)+len(long.key) != 2048 || !strings.HasSuffix(long.data, term) || !strings.HasPrefix(long.data, `{"id":"2","name":"xxx`) {
		t.Errorf("truncated record: %d bytes + key %d, ends %q", len(long.data), len(long.key), long.data[max(0, len(long.data)-20):])
	}
	if recs[0].key != recs[3].key || recs[0].key == recs[2].key {
		t.Errorf("DETERMINISTIC keys: %q %q %q, want equal keys for equal data only", recs[0].key, recs[2].key, recs[3].key)
	}
	if s := r.a.Stats(); s.RecordsTruncated != 1 || s.RecordsSent != 4 {
		t.Errorf("stats %+v, want 1 truncated, 4 sent", s)
	}
}

func TestTailLogToJSONFilters(t *testing.T) {
	e := newEnv(t, 1)
	path := e.path("access.log")
	writeFile(t, path, "")
	f := e.flow("access.log")
	f.DataProcessingOptions = []agent.ProcessingOption{{OptionName: agent.OptionLogToJSON, LogFormat: agent.LogFormatCommonApache}}
	r := e.start([]agent.Flow{f})
	e.waitTracked(path)
	appendFile(t, path, `1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 12`+"\nnot an access log line\n"+
		`5.6.7.8 - bob [10/Oct/2000:13:55:37 -0700] "POST /x HTTP/1.1" 500 -`+"\n")
	got := e.waitRecords(2)
	waitFor(t, "the filtered line to be checkpointed", func() bool {
		fi, _ := os.Stat(path)
		return checkpointOffset(t, e.cp, path) == fi.Size()
	})
	r.stop(t)
	expectExactly(t, got, []string{
		`{"host":"1.2.3.4","ident":null,"authuser":null,"datetime":"10/Oct/2000:13:55:36 -0700","request":"GET / HTTP/1.0","response":"200","bytes":"12"}` + "\n",
		`{"host":"5.6.7.8","ident":null,"authuser":"bob","datetime":"10/Oct/2000:13:55:37 -0700","request":"POST /x HTTP/1.1","response":"500","bytes":null}` + "\n",
	})
	if s := r.a.Stats(); s.RecordsFiltered != 1 {
		t.Errorf("RecordsFiltered = %d, want 1", s.RecordsFiltered)
	}
}
