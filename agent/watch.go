package agent

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// A flow whose pattern's directories are all watched (inotify on Linux) learns from the kernel
// which files were written and when files were created, deleted or renamed: at a poll it looks
// only at the files named by a notification and at the files still busy (see quiet), and lists
// its pattern only when a matching name was created, deleted or renamed. Every safetyPollEvery it
// lists the pattern and looks at every file anyway, and it falls back to polling everything
// (see idle) when a directory cannot be watched: it does not exist yet, it is on a network or
// FUSE file system (whose files other hosts may change without a notification), its pattern has
// wildcards in its directories, inotify is not available (or out of instances), or the
// notification queue overflowed (then once, for that poll).
const safetyPollEvery = 10 * time.Second

// watchRetryEvery is how often a polling flow tries again to watch its directories.
const watchRetryEvery = time.Second

// notifier is the operating system's directory change notification: watch directories, read
// what changed without waiting.
type notifier interface {
	add(dir string) (wd int, id fileID, err error)
	remove(wd int)
	read(fn func(notifyEvent)) (overflow bool, err error)
	close() error
}

type eventKind uint8

const (
	evWritten   eventKind = iota // a file was written or truncated
	evListed                     // a file was created or deleted, or its attributes or links changed
	evMovedFrom                  // a file was renamed from this name
	evMovedTo                    // a file was renamed to this name
	evDirGone                    // the watched directory was deleted, renamed or unmounted: the watch is gone
)

type notifyEvent struct {
	wd     int
	kind   eventKind
	cookie uint32 // pairs a rename's two events
	name   string
}

var errRemoteFS = errors.New("not watched")

// maxWrittenPaths bounds the written paths kept for a flow between two polls; past it the flow
// looks at every file.
const maxWrittenPaths = 4096

// changeSet is what a flow's watched directories reported since its last poll.
type changeSet struct {
	all     bool              // notifications were lost, or a watch went away: look at everything
	relist  bool              // a name the pattern matches was created, deleted, renamed or changed
	written map[string]bool   // paths written or truncated
	moved   map[string]string // renamed within watched directories: old path → new path
}

// watchHub shares one notifier among an Agent's flows (inotify instances are few per user: 128 by
// default). It has no goroutine: a flow reads the notifier at its poll, without waiting, and the
// hub keeps what concerns the other flows for their next poll.
type watchHub struct {
	mu      sync.Mutex
	off     bool // never watch: every flow polls (tests of the polling path)
	n       notifier
	err     error // why there is no notifier
	users   int
	dirs    map[string]*watchDir // by path
	byWD    map[int]*watchDir
	pending map[*flow]*changeSet
	moving  map[uint32]movedFrom // renames waiting for their second event, by cookie
}

type watchDir struct {
	path string
	wd   int
	id   fileID
	subs []*flow
}

type movedFrom struct {
	path string
	dir  *watchDir
}

// join registers a flow; the first one opens the notifier.
func (h *watchHub) join(f *flow) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users++
	if h.off || h.n != nil || h.err != nil {
		return
	}
	h.n, h.err = newNotifier()
	h.dirs, h.byWD, h.pending, h.moving = map[string]*watchDir{}, map[int]*watchDir{}, map[*flow]*changeSet{}, map[uint32]movedFrom{}
}

// leave unregisters a flow and removes the watches no flow needs; the last one closes the
// notifier.
func (h *watchHub) leave(f *flow) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users--
	delete(h.pending, f)
	for _, d := range h.dirs {
		for i, s := range d.subs {
			if s == f {
				d.subs = append(d.subs[:i], d.subs[i+1:]...)
				break
			}
		}
		if len(d.subs) == 0 {
			h.drop(d)
		}
	}
	if h.users == 0 && h.n != nil {
		h.n.close()
		h.n = nil
		h.err = errors.New("closed")
	}
}

func (h *watchHub) drop(d *watchDir) {
	delete(h.dirs, d.path)
	delete(h.byWD, d.wd)
	if h.n != nil {
		h.n.remove(d.wd)
	}
}

// take reads the notifications and returns the flow's changes since its last call, and whether
// every one of dirs is watched for it. With try, dirs not watched yet are added (the error says
// why one could not be); with verify, each watched directory is checked to still be the one at
// its path (a directory replaced or mounted over is watched again).
func (h *watchHub) take(f *flow, dirs []string, try, verify bool) (cs changeSet, watched bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		return changeSet{}, false, h.err
	}
	if verify {
		for _, dir := range dirs {
			d := h.dirs[dir]
			if d == nil {
				continue
			}
			if fi, serr := os.Stat(dir); serr != nil || idOf(fi) != d.id {
				h.drop(d)
				for _, s := range d.subs {
					h.changes(s).all = true
				}
			}
		}
	}
	if try {
		for _, dir := range dirs {
			if d := h.dirs[dir]; d != nil {
				d.subscribe(f)
				continue
			}
			wd, id, aerr := h.n.add(dir)
			if aerr != nil {
				err = aerr
				continue
			}
			if old := h.byWD[wd]; old != nil {
				// The same directory under another path (a symbolic link): the kernel hands back
				// its watch; keep one path per watch.
				err = errors.New(dir + " is watched under another path: polled")
				continue
			}
			d := &watchDir{path: dir, wd: wd, id: id}
			d.subscribe(f)
			h.dirs[dir], h.byWD[wd] = d, d
		}
	}
	overflow, rerr := h.n.read(h.dispatch)
	if rerr != nil {
		// Unreadable: give up on notifications, every flow polls from now on.
		h.n.close()
		h.n, h.err = nil, rerr
		return changeSet{all: true}, false, rerr
	}
	if overflow {
		for _, d := range h.dirs {
			for _, s := range d.subs {
				h.changes(s).all = true
			}
		}
	}
	watched = true
	for _, dir := range dirs {
		d := h.dirs[dir]
		if d == nil || !d.subscribed(f) {
			watched = false
		}
	}
	if p := h.pending[f]; p != nil {
		cs = *p
		delete(h.pending, f)
	}
	return cs, watched, err
}

func (d *watchDir) subscribe(f *flow) {
	if !d.subscribed(f) {
		d.subs = append(d.subs, f)
	}
}

func (d *watchDir) subscribed(f *flow) bool {
	for _, s := range d.subs {
		if s == f {
			return true
		}
	}
	return false
}

func (h *watchHub) changes(f *flow) *changeSet {
	cs := h.pending[f]
	if cs == nil {
		cs = &changeSet{}
		h.pending[f] = cs
	}
	return cs
}

// dispatch files one notification under the flows watching its directory.
func (h *watchHub) dispatch(e notifyEvent) {
	d := h.byWD[e.wd]
	if d == nil {
		return // a watch removed since
	}
	path := filepath.Join(d.path, e.name)
	switch e.kind {
	case evDirGone:
		delete(h.dirs, d.path)
		delete(h.byWD, d.wd)
		h.n.remove(d.wd) // already gone for the kernel, or renamed: either way not ours any more
		for _, s := range d.subs {
			h.changes(s).all = true
		}
		return
	case evWritten:
		for _, s := range d.subs {
			cs := h.changes(s)
			if cs.written == nil {
				cs.written = map[string]bool{}
			}
			if len(cs.written) >= maxWrittenPaths {
				cs.all = true
				continue
			}
			cs.written[path] = true
		}
		return
	case evMovedFrom:
		if len(h.moving) > 1024 {
			clear(h.moving) // renames whose second half went to an unwatched directory
		}
		h.moving[e.cookie] = movedFrom{path: path, dir: d}
	case evMovedTo:
		if from, ok := h.moving[e.cookie]; ok {
			delete(h.moving, e.cookie)
			for _, s := range from.dir.subs {
				cs := h.changes(s)
				if cs.moved == nil {
					cs.moved = map[string]string{}
				}
				cs.moved[from.path] = path
			}
		}
	}
	for _, s := range d.subs {
		if s.listing.watchesName(d.path, e.name) {
			h.changes(s).relist = true
		}
	}
}
