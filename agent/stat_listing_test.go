package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStatIgnoresOlderListing: a full poll lists the pattern (size and time of every file) and
// then opens the files it does not track yet; a file that grew in between is opened with its new
// size and a fingerprint of all its first bytes. stat must not then take the listing's smaller
// size: tail would see a fingerprint longer than the file and read it again from offset 0 as if
// truncated (at a restart, the lines appended while the agent was down re-sent the checkpointed
// ones: TestAgentEndToEnd failed so in about half of its runs). With the old stat t.size becomes
// the listing's.
func TestStatIgnoresOlderListing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	if err := os.WriteFile(path, []byte("line-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	l := listed{path: path, id: idOf(fi), size: fi.Size(), mtime: fi.ModTime()} // the listing
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString("line-2\nline-3\n"); err != nil { // written after the listing
		t.Fatal(err)
	}
	fh.Close()
	f := bareFlow(t, dir, filepath.Join(dir, "*.log"))
	now := time.Now()
	f.open(path, now, false)
	tr := f.files[l.id]
	if tr == nil {
		t.Fatal("file not tracked")
	}
	defer tr.close()
	if tr.fp.N != 21 {
		t.Fatalf("opened with a fingerprint of %d bytes, want 21", tr.fp.N)
	}
	if !f.stat(tr, now, &l) {
		t.Fatal("stat: not to be tailed")
	}
	if tr.size != 21 {
		t.Errorf("size %d after stat with the older listing (%d bytes), want the file's 21", tr.size, l.size)
	}
	if ok, err := tr.fp.matches(tr.f, tr.size); err != nil || !ok {
		t.Errorf("the fingerprint does not match the file at the size stat gave (%v): tail takes it for truncated", err)
	}
}

// bareFlow makes the flow of an agent with one flow of pattern (checkpoints in dir), not running:
// a test calls its scan steps (open, stat) itself.
func bareFlow(t *testing.T, dir, pattern string) *flow {
	t.Helper()
	a, err := New(Config{CheckpointFile: filepath.Join(dir, "cp.json"), Flows: []Flow{{FilePattern: pattern, KinesisStream: "s"}}}, nopClient{})
	if err != nil {
		t.Fatal(err)
	}
	f := newFlow(a, a.cfg.Flows[0], nil, nil, time.Time{})
	f.m = a.fm[0]
	return f
}
