package agent

import (
	"os"
	"path/filepath"
	"strings"
	"time"
)

// listed is a regular file the pattern matched, as the last listing found it.
type listed struct {
	path  string
	id    fileID
	mtime time.Time
	size  int64
}

// listCache keeps a flow's last listing of its pattern (glob, then stat of every match) and the
// modification times its directories had just before: while no directory changed, nothing was
// created, renamed or deleted in them, and the listing is reused instead of making a stat call
// per matching file at every poll. A directory changed within dirSettle of the listing is not
// trusted (its next change could fall in the same clock tick), patterns with wildcards in their
// directories are never cached, and a full listing is made at least every fullListEvery.
type listCache struct {
	cacheable bool                 // every pattern's directory is fixed
	dirs      []string             // the patterns' directories
	mtimes    map[string]time.Time // their modification times before the last listing
	at        time.Time            // when the last full listing was made
	files     []listed
	bases     map[string][]string // each directory's name patterns (see watchesName)
}

// listMode says how list may reuse the last listing.
type listMode uint8

const (
	listPoll    listMode = iota // reused while the directories' modification times say nothing changed
	listReuse                   // reused: the directories are watched and reported no change
	listRefresh                 // made again: a watched directory reported a change, or the safety poll
)

const (
	dirSettle     = time.Second
	fullListEvery = 5 * time.Second
)

func newListCache(g glob) listCache {
	c := listCache{cacheable: len(g.patterns) > 0, bases: map[string][]string{}}
	seen := map[string]bool{}
	for _, p := range g.patterns {
		dir := filepath.Dir(p)
		if strings.ContainsAny(dir, `*?[\`) {
			c.cacheable = false
		}
		c.bases[dir] = append(c.bases[dir], filepath.Base(p))
		if !seen[dir] {
			seen[dir] = true
			c.dirs = append(c.dirs, dir)
		}
	}
	return c
}

// watchesName reports whether a change of name in directory dir concerns the pattern: the name
// matches one of the directory's name patterns.
func (c *listCache) watchesName(dir, name string) bool {
	for _, b := range c.bases[dir] {
		if ok, _ := filepath.Match(b, name); ok {
			return true
		}
	}
	return false
}

// list returns the regular files the pattern matches, compressed names and excluded paths left
// out.
func (f *flow) list(now time.Time, mode listMode) []listed {
	c := &f.listing
	if mode == listReuse && !c.at.IsZero() {
		return c.files
	}
	var mtimes map[string]time.Time
	if c.cacheable && mode == listPoll {
		mtimes = make(map[string]time.Time, len(c.dirs))
		same := c.mtimes != nil && now.Sub(c.at) < fullListEvery
		for _, d := range c.dirs {
			fi, err := os.Stat(d)
			if err != nil {
				mtimes = nil
				same = false
				break
			}
			m := fi.ModTime()
			mtimes[d] = m
			if old, ok := c.mtimes[d]; !ok || !old.Equal(m) || !m.Before(c.at.Add(-dirSettle)) {
				same = false
			}
		}
		if same {
			return c.files
		}
	}
	var out []listed
	for _, p := range f.pattern.files() {
		if compressedName(p) || f.exclude.match(p) {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, listed{path: p, id: idOf(fi), mtime: fi.ModTime(), size: fi.Size()})
	}
	c.mtimes, c.at, c.files = mtimes, now, out
	return out
}
