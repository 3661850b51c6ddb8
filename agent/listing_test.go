package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func listedPaths(ls []listed) []string {
	var out []string
	for _, l := range ls {
		out = append(out, filepath.Base(l.path))
	}
	slices.Sort(out)
	return out
}

// TestListCacheReusedWhileDirUnchanged: the pattern's listing is reused while its directory's
// modification time stays what it was (and is older than dirSettle), and made again as soon as
// the directory changes or fullListEvery passed.
func TestListCacheReusedWhileDirUnchanged(t *testing.T) {
	dir := t.TempDir()
	write := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	write("a.log")
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	g, err := compileGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	f := &flow{pattern: g, listing: newListCache(g)}
	if !f.listing.cacheable {
		t.Fatal("a pattern with a fixed directory is not cacheable")
	}
	now := time.Now()
	if got := listedPaths(f.list(now, listPoll)); !slices.Equal(got, []string{"a.log"}) {
		t.Fatalf("first listing = %v", got)
	}
	// A file created behind the directory's back (its mtime set back): the listing is reused.
	write("b.log")
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	if got := listedPaths(f.list(now, listPoll)); !slices.Equal(got, []string{"a.log"}) {
		t.Fatalf("listing with the directory unchanged = %v, want the cached [a.log]", got)
	}
	// After fullListEvery, a full listing whatever the directory says.
	if got := listedPaths(f.list(now.Add(fullListEvery), listPoll)); !slices.Equal(got, []string{"a.log", "b.log"}) {
		t.Fatalf("listing after fullListEvery = %v", got)
	}
	// A change of the directory (a new file) is seen at once.
	write("c.log")
	if got := listedPaths(f.list(time.Now(), listPoll)); !slices.Equal(got, []string{"a.log", "b.log", "c.log"}) {
		t.Fatalf("listing after a file was created = %v", got)
	}
	// Changed within dirSettle of the listing: not trusted, listed again.
	if err := os.Rename(filepath.Join(dir, "c.log"), filepath.Join(dir, "c.log.1")); err != nil {
		t.Fatal(err)
	}
	if got := listedPaths(f.list(time.Now(), listPoll)); !slices.Equal(got, []string{"a.log", "b.log"}) {
		t.Fatalf("listing after a rename = %v", got)
	}
}

// TestListCacheWildcardDirectory: a pattern with a wildcard in a directory is listed in full at
// every poll (a new directory would not change any directory the cache could watch).
func TestListCacheWildcardDirectory(t *testing.T) {
	for _, p := range []string{"/var/log/*/app.log", "/var/log/app-[0-9]/x.log", "/var/log/{a,b?}/x.log"} {
		g, err := compileGlob(p)
		if err != nil {
			t.Fatal(err)
		}
		if newListCache(g).cacheable {
			t.Errorf("%s: cacheable", p)
		}
	}
	g, _ := compileGlob("/var/log/{a,b}/x*.log")
	if c := newListCache(g); !c.cacheable || len(c.dirs) != 2 {
		t.Errorf("/var/log/{a,b}/x*.log: cacheable %v, dirs %v; want true and two directories", c.cacheable, c.dirs)
	}
}

// TestListSymlinks: the listing follows symbolic links: a link to a regular file elsewhere is
// listed with the target's identity, links to a directory or to nothing are left out.
func TestListSymlinks(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.log"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(other, "target")
	if err := os.WriteFile(target, []byte("target\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, to := range map[string]string{"b.log": target, "c.log": other, "d.log": filepath.Join(other, "missing")} {
		if err := os.Symlink(to, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	g, err := compileGlob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	f := &flow{pattern: g, listing: newListCache(g)}
	ls := f.list(time.Now(), listRefresh)
	if got := listedPaths(ls); !slices.Equal(got, []string{"a.log", "b.log"}) {
		t.Fatalf("listed %v, want [a.log b.log]", got)
	}
	fi, err := os.Stat(target)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if filepath.Base(l.path) == "b.log" && (l.id != idOf(fi) || l.size != fi.Size()) {
			t.Fatalf("b.log listed as %+v, want the target's identity %+v and size %d", l, idOf(fi), fi.Size())
		}
	}
}
