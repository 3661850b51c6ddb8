package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEmptyNewFileWaitsToBeToldApart: cp and logrotate's copytruncate create the copy empty and
// then fill it. A scan that finds it still empty cannot tell it from a new log file; taken for
// one, it was read from offset 0 once filled, and every line the original had already sent went
// out again (TestRotationMatrix's "copytruncate faster than the poll" failed so about once in 30
// runs under -race). The empty file waits (up to IdleFlush) until its first bytes tell what it is.
func TestEmptyNewFileWaitsToBeToldApart(t *testing.T) {
	dir := t.TempDir()
	live, copied := filepath.Join(dir, "app.log"), filepath.Join(dir, "app.log.1")
	var content strings.Builder
	for i := range 50 {
		content.WriteString("line-" + string(rune('A'+i%26)) + "\n")
	}
	if err := os.WriteFile(live, []byte(content.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f := bareFlow(t, dir, filepath.Join(dir, "app.log*"))
	now := time.Now()
	f.open(live, now, false) // END_OF_FILE at the first start: everything counts as sent
	f.scanned = true
	orig := fileByPath(f, live)
	if orig == nil || orig.committed != int64(content.Len()) {
		t.Fatalf("original not tracked at its end: %+v", orig)
	}
	defer orig.close()

	// The copy exists, still empty, at one scan...
	if err := os.WriteFile(copied, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.open(copied, now.Add(time.Millisecond), false)
	if c := fileByPath(f, copied); c != nil {
		c.close()
		t.Fatalf("empty file tracked at once (read from %d): a copy being written would be sent again from its start", c.readPos)
	}
	// ...and holds the original's bytes at the next.
	if err := os.WriteFile(copied, []byte(content.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f.open(copied, now.Add(2*time.Millisecond), false)
	c := fileByPath(f, copied)
	if c == nil {
		t.Fatal("copy not tracked once it holds bytes")
	}
	defer c.close()
	if c.shadowOf != orig {
		t.Errorf("the copy is not followed as a copy of %s (shadowOf %v, read from %d): its lines would go out twice", live, c.shadowOf, c.readPos)
	}

	// A file that stays empty is taken as a new file after IdleFlush.
	other := filepath.Join(dir, "app.log.new")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.open(other, now, false)
	if fileByPath(f, other) != nil {
		t.Fatal("empty file tracked at once")
	}
	f.open(other, now.Add(f.a.opts.idleFlush), false)
	o := fileByPath(f, other)
	if o == nil {
		t.Fatal("an empty file is still not tracked after IdleFlush")
	}
	o.close()
}

func fileByPath(f *flow, path string) *tracked {
	for _, t := range f.files {
		if t.path == path {
			return t
		}
	}
	return nil
}
