package agent_test

import (
	"bytes"
	"compress/gzip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kinesistest"
)

// eventLog records every file event.
type eventLog struct {
	mu  sync.Mutex
	evs []agent.FileEvent
}

func (l *eventLog) OnFileEvent(e agent.FileEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, e)
}

// has reports an event of kind for path.
func (l *eventLog) has(path string, kind agent.FileEventKind) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.evs, func(e agent.FileEvent) bool { return e.Path == path && e.Kind == kind })
}

// rotationCase is one way logs rotate. run writes the log through rotations while the agent
// tails app.log*, and returns the lines that must arrive, each exactly once, and the files that
// must end up checkpointed at their size (everything in them read and delivered).
type rotationCase struct {
	name string
	run  func(t *testing.T, e *env, r *running, ev *eventLog) (want []string, done []string)
}

// TestRotationMatrix rotates app.log in every common way while the agent tails the usual app.log*
// glob: no line lost, none sent twice, no junk (binary data of compressed rotations, halves of
// lines).
func TestRotationMatrix(t *testing.T) {
	cases := []rotationCase{
		{"rename", func(t *testing.T, e *env, r *running, ev *eventLog) ([]string, []string) {
			live := e.path("app.log")
			appendFile(t, live, lines("a", 0, 50))
			waitFor(t, "50 lines read", func() bool { return r.a.Stats().RecordsRead >= 50 })
			mustRename(t, live, e.path("app.log.1"))
			appendFile(t, e.path("app.log.1"), lines("a", 50, 60)) // still written after the rename
			writeFile(t, live, lines("b", 0, 50))
			return splitLines(lines("a", 0, 60) + lines("b", 0, 50)), []string{live, e.path("app.log.1")}
		}},
		{"create", func(t *testing.T, e *env, r *running, ev *eventLog) ([]string, []string) {
			live := e.path("app.log")
			appendFile(t, live, lines("a", 0, 50))
			waitFor(t, "50 lines read", func() bool { return r.a.Stats().RecordsRead >= 50 })
			mustRename(t, live, e.path("app.log.1"))
			writeFile(t, live, "") // logrotate's create: a new empty file, written later
			waitFor(t, "the agent to see the rotation", func() bool { return ev.has(e.path("app.log.1"), agent.FileRotated) })
			appendFile(t, live, lines("b", 0, 50))
			return splitLines(lines("a", 0, 50) + lines("b", 0, 50)), []string{live, e.path("app.log.1")}
		}},
		{"copytruncate", func(t *testing.T, e *env, r *running, ev *eventLog) ([]string, []string) {
			live, copied := e.path("app.log"), e.path("app.log.1")
			appendFile(t, live, lines("a", 0, 50))
			waitFor(t, "app.log delivered", func() bool { return checkpointOffset(t, e.cp, live) == fileSize(t, live) })
			copyTruncate(t, live, copied)
			waitFor(t, "the agent to see the copy", func() bool {
				return ev.has(copied, agent.FileCopy) || ev.has(copied, agent.FileTailing)
			})
			appendFile(t, live, lines("b", 0, 50))
			return splitLines(lines("a", 0, 50) + lines("b", 0, 50)), []string{live}
		}},
		{"copytruncate faster than the poll", func(t *testing.T, e *env, r *running, ev *eventLog) ([]string, []string) {
			live, copied := e.path("app.log"), e.path("app.log.1")
			appendFile(t, live, lines("a", 0, 50))
			waitFor(t, "app.log delivered", func() bool { return checkpointOffset(t, e.cp, live) == fileSize(t, live) })
			// Lines written, copied, truncated and new lines written, all between two polls: the
			// copy holds 50 lines the agent has not read yet.
			appendFile(t, live, lines("a", 50, 100))
			copyTruncate(t, live, copied)
			appendFile(t, live, lines("b", 0, 50))
			return splitLines(lines("a", 0, 100) + lines("b", 0, 50)), []string{live, copied}
		}},
		{"compress", func(t *testing.T, e *env, r *running, ev *eventLog) ([]string, []string) {
			live, old := e.path("app.log"), e.path("app.log.1")
			appendFile(t, live, lines("a", 0, 50))
			waitFor(t, "50 lines read", func() bool { return r.a.Stats().RecordsRead >= 50 })
			mustRename(t, live, old)
			writeFile(t, live, lines("b", 0, 50))
			waitFor(t, "app.log.1 delivered", func() bool { return checkpointOffset(t, e.cp, old) == fileSize(t, old) })
			// gzip app.log.1: app.log.1.gz appears, app.log.1 goes. A compressed file without a
			// compression suffix is recognised by its magic bytes.
			data, err := os.ReadFile(old)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, old+".gz", gzipped(t, data))
			writeFile(t, e.path("app.log.2"), gzipped(t, data))
			if err := os.Remove(old); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "app.log.1 finished", func() bool { return ev.has(old, agent.FileFinished) })
			waitFor(t, "app.log.2 skipped", func() bool { return ev.has(e.path("app.log.2"), agent.FileSkipped) })
			if ev.has(old+".gz", agent.FileTailing) || ev.has(e.path("app.log.2"), agent.FileTailing) {
				t.Error("a compressed file was tailed")
			}
			return splitLines(lines("a", 0, 50) + lines("b", 0, 50)), []string{live}
		}},
		{"rename faster than the poll", func(t *testing.T, e *env, r *running, ev *eventLog) ([]string, []string) {
			live := e.path("app.log")
			// Three rotations (rename, create) between two polls.
			appendFile(t, live, lines("a", 0, 20))
			mustRename(t, live, e.path("app.log.1"))
			writeFile(t, live, lines("b", 0, 20))
			mustRename(t, e.path("app.log.1"), e.path("app.log.2"))
			mustRename(t, live, e.path("app.log.1"))
			writeFile(t, live, lines("c", 0, 20))
			mustRename(t, e.path("app.log.2"), e.path("app.log.3"))
			mustRename(t, e.path("app.log.1"), e.path("app.log.2"))
			mustRename(t, live, e.path("app.log.1"))
			writeFile(t, live, lines("d", 0, 20))
			return splitLines(lines("a", 0, 20) + lines("b", 0, 20) + lines("c", 0, 20) + lines("d", 0, 20)),
				[]string{live, e.path("app.log.1"), e.path("app.log.2"), e.path("app.log.3")}
		}},
		{"buffered writer across a rename", func(t *testing.T, e *env, r *running, ev *eventLog) ([]string, []string) {
			live, old := e.path("app.log"), e.path("app.log.1")
			w, err := os.OpenFile(live, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			mustWrite(t, w, lines("a", 0, 20)+"a-half-")
			waitFor(t, "20 lines read", func() bool { return r.a.Stats().RecordsRead >= 20 })
			mustRename(t, live, old)
			waitFor(t, "the agent to see the rename", func() bool { return ev.has(old, agent.FileRotated) })
			// The logger flushes its buffer to the file it has open (now app.log.1), then reopens.
			mustWrite(t, w, "line\n"+lines("a", 20, 30))
			writeFile(t, live, lines("b", 0, 20))
			return splitLines(lines("a", 0, 20) + "a-half-line\n" + lines("a", 20, 30) + lines("b", 0, 20)), []string{live, old}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, 1)
			live := e.path("app.log")
			writeFile(t, live, "")
			ev := &eventLog{}
			// A long IdleFlush: a rotated file's partial line must wait for the rest of it.
			r := e.start([]agent.Flow{e.flow("app.log*")}, agent.WithHooks(ev), agent.IdleFlush(30*time.Second))
			e.waitTracked(live)
			want, done := c.run(t, e, r, ev)
			e.waitRecords(len(want))
			for _, p := range done {
				waitFor(t, p+" delivered", func() bool { return checkpointOffset(t, e.cp, p) == fileSize(t, p) })
			}
			r.stop(t)
			got := e.readData()
			slices.Sort(got)
			slices.Sort(want)
			expectExactly(t, got, want)
		})
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// copyTruncate does what logrotate's copytruncate does: copy the file, then truncate it in place.
func copyTruncate(t *testing.T, live, copied string) {
	t.Helper()
	data, err := os.ReadFile(live)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, copied, string(data))
	if err := os.Truncate(live, 0); err != nil {
		t.Fatal(err)
	}
}

func gzipped(t *testing.T, data []byte) string {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	if _, err := z.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestCopyTruncateWhileStopped rotates with copytruncate while the agent is stopped: the copy
// resumes at the checkpoint of the content it copies, the truncated file is read from its start.
func TestCopyTruncateWhileStopped(t *testing.T) {
	e := newEnv(t, 1)
	live, copied := e.path("app.log"), e.path("app.log.1")
	writeFile(t, live, "")
	flows := []agent.Flow{e.flow("app.log*")}
	r := e.start(flows)
	e.waitTracked(live)
	appendFile(t, live, lines("a", 0, 50))
	waitFor(t, "app.log delivered", func() bool { return checkpointOffset(t, e.cp, live) == fileSize(t, live) })
	r.stop(t)

	appendFile(t, live, lines("a", 50, 60)) // written while the agent is down
	copyTruncate(t, live, copied)
	appendFile(t, live, lines("b", 0, 30))
	r = e.start(flows)
	want := splitLines(lines("a", 0, 60) + lines("b", 0, 30))
	e.waitRecords(len(want))
	for _, p := range []string{live, copied} {
		waitFor(t, p+" delivered", func() bool { return checkpointOffset(t, e.cp, p) == fileSize(t, p) })
	}
	r.stop(t)
	got := e.readData()
	slices.Sort(got)
	slices.Sort(want)
	expectExactly(t, got, want)
}

// TestFileLikeATrackedOne starts a new file with the same first bytes as a tracked file (a CSV
// header, say): taken for a copy at first, it is read from its start once it gets lines of its
// own, and nothing of it is lost.
func TestFileLikeATrackedOne(t *testing.T) {
	e := newEnv(t, 1)
	header := "id," + strings.Repeat("column,", 60) + "end\n" // longer than the 256-byte fingerprint
	a, b := e.path("a.csv"), e.path("b.csv")
	writeFile(t, a, "")
	ev := &eventLog{}
	r := e.start([]agent.Flow{e.flow("*.csv")}, agent.WithHooks(ev))
	e.waitTracked(a)
	appendFile(t, a, header)
	waitFor(t, "a.csv delivered", func() bool { return checkpointOffset(t, e.cp, a) == fileSize(t, a) })
	writeFile(t, b, header)
	waitFor(t, "the agent to see b.csv", func() bool { return ev.has(b, agent.FileCopy) || ev.has(b, agent.FileTailing) })
	appendFile(t, b, lines("b", 0, 10))
	want := append([]string{header, header}, splitLines(lines("b", 0, 10))...)
	e.waitRecords(len(want))
	waitFor(t, "b.csv delivered", func() bool { return checkpointOffset(t, e.cp, b) == fileSize(t, b) })
	r.stop(t)
	got := e.readData()
	slices.Sort(got)
	slices.Sort(want)
	expectExactly(t, got, want)
}

// TestGlobAndExclude tails the files of a brace glob, minus excludePattern.
func TestGlobAndExclude(t *testing.T) {
	e := newEnv(t, 1)
	for _, n := range []string{"a.log", "b.txt", "c.csv", "d.log.tmp", "e.txt.1"} {
		writeFile(t, e.path(n), n+"-line\n")
	}
	f := e.flow("*.{log,txt}*")
	f.ExcludePattern = "*.{tmp,1}"
	f.InitialPosition = agent.StartOfFile
	r := e.start([]agent.Flow{f})
	e.waitRecords(2)
	waitFor(t, "both files delivered", func() bool {
		return checkpointOffset(t, e.cp, e.path("a.log")) == fileSize(t, e.path("a.log")) &&
			checkpointOffset(t, e.cp, e.path("b.txt")) == fileSize(t, e.path("b.txt"))
	})
	r.stop(t)
	got := e.readData()
	slices.Sort(got)
	expectExactly(t, got, []string{"a.log-line\n", "b.txt-line\n"})
	if n := len(readCheckpoint(t, e.cp)); n != 2 {
		t.Errorf("%d files checkpointed, want 2", n)
	}
}

// TestTruncateWhileRecordsFail truncates (copytruncate, or a plain truncation) a file whose
// records the stream is refusing: the refused records are still sent again once the stream takes
// them (from the copy, or from memory), and the checkpoint moves on.
func TestTruncateWhileRecordsFail(t *testing.T) {
	for _, withCopy := range []bool{true, false} {
		name := map[bool]string{true: "copytruncate", false: "truncate"}[withCopy]
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, 1)
			allow := e.srv.Control(func(req kinesistest.Request) (kinesistest.Action, bool) {
				if req.Op != "PutRecords" {
					return kinesistest.Action{}, false
				}
				return kinesistest.Action{Err: kinesistest.NewError(kinesistest.CodeAccessDenied)}, true
			})
			live := e.path("app.log")
			writeFile(t, live, "")
			ev := &eventLog{}
			r := e.start([]agent.Flow{e.flow("app.log*")}, agent.WithHooks(ev), agent.RetryBackoff(20*time.Millisecond, 50*time.Millisecond))
			e.waitTracked(live)
			appendFile(t, live, lines("a", 0, 20))
			waitFor(t, "the records refused and sent again", func() bool { return r.a.Stats().RecordsRetried > 0 })
			if withCopy {
				copyTruncate(t, live, e.path("app.log.1"))
			} else if err := os.Truncate(live, 0); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the truncation seen", func() bool { return ev.has(live, agent.FileTruncated) })
			// The stream takes records again; no new record fails, so only the refused ones'
			// own retry sends them.
			allow()
			appendFile(t, live, lines("b", 0, 20))
			want := splitLines(lines("a", 0, 20) + lines("b", 0, 20))
			e.waitRecords(len(want))
			waitFor(t, "app.log delivered", func() bool { return checkpointOffset(t, e.cp, live) == fileSize(t, live) })
			if withCopy {
				waitFor(t, "app.log.1 delivered", func() bool {
					return checkpointOffset(t, e.cp, e.path("app.log.1")) == fileSize(t, e.path("app.log.1"))
				})
			}
			r.stop(t)
			got := e.readData()
			slices.Sort(got)
			slices.Sort(want)
			expectExactly(t, got, want)
		})
	}
}
