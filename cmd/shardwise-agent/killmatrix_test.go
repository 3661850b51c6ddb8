//go:build unix

package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// lineLen is the size of every line the kill matrix writes: "line-000042\n".
const lineLen = len("line-000000\n")

// rotWriter is the application of the kill matrix: it appends numbered fixed-size lines to its
// open file (which it keeps across renames, as a logger does until it reopens) and remembers, for
// every file it wrote from offset 0, the number of the line at that offset, so that a checkpoint
// entry (inode, offset) can be turned into the lines it covers.
type rotWriter struct {
	t       *testing.T
	path    string
	f       *os.File
	next    int            // number of the next line to write
	partial int            // bytes of line next already written (a buffered writer's half line)
	first   map[uint64]int // inode -> number of the line at offset 0
}

func newRotWriter(t *testing.T, path string) *rotWriter {
	w := &rotWriter{t: t, path: path, first: map[uint64]int{}}
	w.reopen()
	return w
}

func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// reopen closes the writer's file and opens (creating it if need be) the file at its path, as a
// logger does when logrotate signals it.
func (w *rotWriter) reopen() {
	w.t.Helper()
	if w.partial != 0 {
		w.t.Fatal("reopen with a half-written line")
	}
	if w.f != nil {
		w.f.Close()
	}
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		w.t.Fatal(err)
	}
	w.f = f
	w.noteStart()
}

// noteStart records that the writer's file starts at line next when it is empty.
func (w *rotWriter) noteStart() {
	fi, err := w.f.Stat()
	if err != nil {
		w.t.Fatal(err)
	}
	if fi.Size() == 0 {
		w.first[fi.Sys().(*syscall.Stat_t).Ino] = w.next
	}
}

func (w *rotWriter) line(i int) string { return fmt.Sprintf("line-%06d\n", i) }

// write appends n whole lines (finishing a half-written one first).
func (w *rotWriter) write(n int) {
	w.t.Helper()
	var b strings.Builder
	if w.partial != 0 {
		b.WriteString(w.line(w.next)[w.partial:])
		w.partial = 0
		w.next++
	}
	for range n {
		b.WriteString(w.line(w.next))
		w.next++
	}
	if _, err := w.f.WriteString(b.String()); err != nil {
		w.t.Fatal(err)
	}
}

// writeHalf writes the first half of the next line, as a buffered logger flushing mid-line does.
func (w *rotWriter) writeHalf() {
	w.t.Helper()
	if w.partial != 0 {
		w.t.Fatal("already half a line")
	}
	w.partial = lineLen / 2
	if _, err := w.f.WriteString(w.line(w.next)[:w.partial]); err != nil {
		w.t.Fatal(err)
	}
}

// written is the number of lines written in full.
func (w *rotWriter) written() int { return w.next }

// copyTo copies the file at the writer's path to dst (copytruncate's copy, or cp), which then
// starts at the same line.
func (w *rotWriter) copyTo(dst string) {
	w.t.Helper()
	data, err := os.ReadFile(w.path)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		w.t.Fatal(err)
	}
	w.first[inodeOf(w.t, dst)] = w.first[inodeOf(w.t, w.path)]
}

// truncate empties the file at the writer's path (copytruncate's truncation); the writer, in
// O_APPEND, goes on at the new end.
func (w *rotWriter) truncate() {
	w.t.Helper()
	if err := os.Truncate(w.path, 0); err != nil {
		w.t.Fatal(err)
	}
	w.noteStart()
}

// covered returns the lines the checkpoint file covers: for each entry whose inode the writer
// knows, the lines from that file's first line up to the entry's offset.
func (w *rotWriter) covered(cpPath string) map[int]bool {
	w.t.Helper()
	out := map[int]bool{}
	data, err := os.ReadFile(cpPath)
	if errors.Is(err, os.ErrNotExist) {
		return out
	}
	if err != nil {
		w.t.Fatal(err)
	}
	var cf struct {
		Files []struct {
			Path   string `json:"path"`
			Inode  uint64 `json:"inode"`
			Offset int64  `json:"offset"`
		} `json:"files"`
	}
	if err := json.Unmarshal(data, &cf); err != nil {
		w.t.Fatalf("checkpoint file after SIGKILL: %v", err)
	}
	for _, e := range cf.Files {
		first, ok := w.first[e.Inode]
		if !ok {
			continue
		}
		for i := range int(e.Offset) / lineLen {
			out[first+i] = true
		}
	}
	return out
}

func mustRenameFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// shiftRotated rotates by rename as logrotate does with numbered copies: path.N becomes path.N+1
// (highest first), then path becomes path.1.
func shiftRotated(t *testing.T, path string) {
	t.Helper()
	n := 1
	for {
		if _, err := os.Stat(fmt.Sprintf("%s.%d", path, n)); err != nil {
			break
		}
		n++
	}
	for i := n - 1; i >= 1; i-- {
		mustRenameFile(t, fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1))
	}
	mustRenameFile(t, path, path+".1")
}

// gzipFile compresses src into dst in two writes and removes src, as logrotate's compress does;
// between the two writes it calls mid (the agent is killed while dst is half written).
func gzipFile(t *testing.T, src, dst string, mid func()) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	gz := b.Bytes()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(gz[:len(gz)/2])
	mid()
	f.Write(gz[len(gz)/2:])
	f.Close()
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
}

// killRotation is one row of the kill matrix: during runs with the agent up and must SIGKILL it
// (kill) somewhere inside a rotation; down finishes the rotation while the agent is down.
type killRotation struct {
	name   string
	during func(w *rotWriter, m killMoment)
	down   func(w *rotWriter)
}

// killMoment is what a row's during step can do with the running agent.
type killMoment struct {
	kill      func() // SIGKILL the agent now
	delivered func() // wait until every line written so far is in the stream
}

// TestKillDuringRotation is the rotation matrix of issue Step 8 across kill -9, with the agent as a
// separate process and the Kinesis Agent's usual app.log* glob: the agent is SIGKILLed in the
// middle of each kind of rotation (rename, create, copytruncate, a gzip of a rotated file,
// rotations faster than the poll, a buffered writer whose half-written line crosses a rename),
// the rotation is finished while it is down, and a restarted agent must deliver every line: none
// lost, no record that is not one whole line, and no line twice unless the checkpoint file at the
// kill did not cover it.
func TestKillDuringRotation(t *testing.T) {
	rows := []killRotation{
		{
			name: "rename",
			during: func(w *rotWriter, m killMoment) {
				w.f.Close()
				w.f = nil
				mustRenameFile(t, w.path, w.path+".1")
				m.kill()
			},
			down: func(w *rotWriter) { w.reopen(); w.write(300) },
		},
		{
			name: "create",
			during: func(w *rotWriter, m killMoment) {
				mustRenameFile(t, w.path, w.path+".1")
				w.write(50) // still into the renamed file
				if err := os.WriteFile(w.path, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				m.kill()
			},
			down: func(w *rotWriter) {
				w.write(100) // the logger has not reopened yet
				w.reopen()   // now it writes to the new app.log
				w.write(300)
			},
		},
		{
			name: "copytruncate",
			during: func(w *rotWriter, m killMoment) {
				w.copyTo(w.path + ".1")
				m.kill()
			},
			down: func(w *rotWriter) { w.truncate(); w.write(300) },
		},
		{
			name: "compress",
			during: func(w *rotWriter, m killMoment) {
				// The first rotation is delivered in full before logrotate compresses it
				// (delaycompress): nothing of app.log.1 is lost when it goes.
				mustRenameFile(t, w.path, w.path+".1")
				w.reopen()
				w.write(40)
				m.delivered()
				gzipFile(t, w.path+".1", w.path+".1.gz", m.kill)
			},
			down: func(w *rotWriter) {
				mustRenameFile(t, w.path, w.path+".1")
				w.reopen()
				w.write(300)
			},
		},
		{
			name: "faster-than-poll",
			during: func(w *rotWriter, m killMoment) {
				for range 3 {
					shiftRotated(t, w.path)
					w.reopen()
					w.write(20)
				}
				m.kill()
			},
			down: func(w *rotWriter) {
				shiftRotated(t, w.path)
				w.reopen()
				w.write(300)
			},
		},
		{
			name: "buffered-writer-across-rename",
			during: func(w *rotWriter, m killMoment) {
				w.writeHalf()
				mustRenameFile(t, w.path, w.path+".1")
				m.kill()
			},
			down: func(w *rotWriter) {
				w.write(100) // the rest of the half line, then more, into app.log.1
				w.reopen()
				w.write(300)
			},
		},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) { testKillDuringRotation(t, row) })
	}
}

func testKillDuringRotation(t *testing.T, row killRotation) {
	srv, kc := logsServer(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	cpPath := filepath.Join(dir, "checkpoints.json")
	cfgPath := filepath.Join(dir, "agent.json")
	cfg := fmt.Sprintf(`{"checkpointFile": %q, "flows": [{"filePattern": %q, "kinesisStream": "logs", "initialPosition": "START_OF_FILE"}]}`,
		cpPath, logPath+"*")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	w := newRotWriter(t, logPath)
	defer func() {
		if w.f != nil {
			w.f.Close()
		}
	}()

	child := startChild(t, srv.URL(), cfgPath, filepath.Join(dir, "child1.log"))
	w.write(500)
	waitFor(t, "the first agent to deliver 1000 lines and checkpoint some", func() bool {
		w.write(20)
		return countRecords(t, kc) >= 1000 && len(w.covered(cpPath)) > 0
	})
	var writtenAtKill int
	var covered map[int]bool
	kill := func() {
		if err := child.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		child.Wait()
		writtenAtKill = w.written()
		if w.partial != 0 {
			writtenAtKill++ // the half line may have been read (it must not be sent as a record)
		}
		covered = w.covered(cpPath)
	}
	delivered := func() {
		waitFor(t, "every line written so far in the stream", func() bool {
			return len(distinct(readLines(t, kc))) == w.written()
		})
	}
	w.write(100)
	row.during(w, killMoment{kill: kill, delivered: delivered})
	if covered == nil {
		t.Fatal("the row did not kill the agent")
	}
	t.Logf("killed: %d lines written, checkpoint covers %d", writtenAtKill, len(covered))

	row.down(w)
	child = startChild(t, srv.URL(), cfgPath, filepath.Join(dir, "child2.log"))
	w.write(500)
	total := w.written()
	waitFor(t, "every line in the stream", func() bool { return len(distinct(readLines(t, kc))) == total })
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Errorf("agent after SIGTERM: %v, want exit code 0", err)
	}

	got := readLines(t, kc)
	seen := map[int]int{}
	dups := 0
	for _, l := range got {
		num, ok := strings.CutPrefix(l, "line-")
		i, err := strconv.Atoi(strings.TrimSuffix(num, "\n"))
		if !ok || err != nil || len(l) != lineLen || !strings.HasSuffix(l, "\n") {
			t.Errorf("junk record %q", l)
			continue
		}
		seen[i]++
		if seen[i] == 2 {
			dups++
			if covered[i] || i >= writtenAtKill {
				t.Errorf("line %d arrived twice; only lines read before the kill and not covered by the checkpoint may", i)
			}
		}
	}
	for i := range total {
		if seen[i] == 0 {
			t.Errorf("line %d lost", i)
		}
	}
	t.Logf("%d lines, %d records, %d duplicates", total, len(got), dups)
}
