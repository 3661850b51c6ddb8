//go:build linux

package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// keepClient accepts every PutRecords entry and keeps the data.
type keepClient struct {
	nopClient
	mu   sync.Mutex
	data []string
}

func (c *keepClient) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &kinesis.PutRecordsOutput{FailedRecordCount: aws.Int32(0)}
	for _, r := range in.Records {
		c.data = append(c.data, string(r.Data))
		out.Records = append(out.Records, types.PutRecordsResultEntry{ShardId: aws.String("shardId-000000000000"),
			SequenceNumber: aws.String(strconv.Itoa(len(c.data)))})
	}
	return out, nil
}

func (c *keepClient) records() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.data)
}

// count returns how many records equal line.
func (c *keepClient) count(line string) int {
	n := 0
	for _, d := range c.records() {
		if d == line {
			n++
		}
	}
	return n
}

// openUnder counts the process's descriptors open on files under dir.
func openUnder(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(p, dir+"/") {
			n++
		}
	}
	return n
}

func mustWrite(t *testing.T, path, data string, flag int) {
	t.Helper()
	f, err := os.OpenFile(path, flag|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestIdleFilesClosedAndReopened runs a flow over 20 files in fake time. Watched (inotify): once
// read, delivered and unchanged for closeIdleAfter, every file's descriptor is closed; a line
// appended to a closed file is read at the next poll (well before the next safety poll); a closed
// file written and renamed out of the pattern before the agent looked has its line read too; a
// copytruncate of a closed file loses and repeats nothing. Polling (no inotify): files under
// their live names stay open, and the appended line is read within idleStatEvery.
func TestIdleFilesClosedAndReopened(t *testing.T) {
	for _, watched := range []bool{true, false} {
		t.Run(fmt.Sprintf("watched=%v", watched), func(t *testing.T) {
			dir := t.TempDir()
			logs := filepath.Join(dir, "logs")
			if err := os.Mkdir(logs, 0o755); err != nil {
				t.Fatal(err)
			}
			const files = 20
			// Names without digits: files whose names differ by digits only are one rotation family,
			// of which START_OF_FILE reads only the newest.
			path := func(i int) string { return filepath.Join(logs, fmt.Sprintf("f%c.log", 'a'+i)) }
			for i := range files {
				mustWrite(t, path(i), fmt.Sprintf("file %d\nline %d\n", i, i), os.O_TRUNC)
			}
			synctest.Test(t, func(t *testing.T) {
				kc := &keepClient{}
				cfg := Config{CheckpointFile: filepath.Join(dir, "cp.json"),
					Flows: []Flow{{FilePattern: filepath.Join(logs, "*.log"), KinesisStream: "s", InitialPosition: StartOfFile,
						MaxBufferAge: 100 * time.Millisecond}}} // lines sent within the waits below
				a, err := New(cfg, kc, PollInterval(100*time.Millisecond), ShutdownTimeout(time.Second))
				if err != nil {
					t.Fatal(err)
				}
				a.opts.pollOnly = !watched
				stop := runAgent(t, a)
				time.Sleep(time.Second)
				synctest.Wait()
				if n := len(kc.records()); n != 2*files {
					t.Fatalf("%d records after 1s, want %d; stats %+v", n, 2*files, a.Stats())
				}
				if n := openUnder(t, logs); n != files {
					t.Errorf("%d descriptors open on the logs after 1s, want %d", n, files)
				}
				// Past closeIdleAfter and a safety poll (the flow started at 0s: safety polls at
				// 0s, 10s, 20s...): 21.5s.
				time.Sleep(closeIdleAfter + safetyPollEvery + 500*time.Millisecond)
				synctest.Wait()
				wantOpen := 0
				if !watched {
					wantOpen = files // live names, polled: kept open
				}
				if n := openUnder(t, logs); n != wantOpen {
					t.Errorf("%d descriptors open on the logs after 21.5s, want %d", n, wantOpen)
				}

				mustWrite(t, path(7), "more 7\n", os.O_APPEND)
				wait := 300 * time.Millisecond // a few polls, no safety poll (next at 30s)
				if !watched {
					wait = idleStatEvery + 300*time.Millisecond
				}
				time.Sleep(wait)
				synctest.Wait()
				if n := kc.count("more 7\n"); n != 1 {
					t.Errorf("the line appended to an idle file arrived %d times after %v, want once", n, wait)
				}
				if watched {
					if n := openUnder(t, logs); n != 1 {
						t.Errorf("%d descriptors open after a write to one closed file, want 1", n)
					}
				}
				// The checkpoint written while running has the new offset (2s: the checkpoint interval
				// and the flow's publishing, 1s and 0.5s).
				time.Sleep(2 * time.Second)
				synctest.Wait()
				if fi, err := os.Stat(path(7)); err != nil {
					t.Fatal(err)
				} else if off := checkpointedAt(t, cfg.CheckpointFile, path(7)); off != fi.Size() {
					t.Errorf("%s checkpointed at %d while running, want its size %d", path(7), off, fi.Size())
				}

				// Written, then renamed out of the pattern (*.log) before any poll.
				mustWrite(t, path(8), "last 8\n", os.O_APPEND)
				if err := os.Rename(path(8), path(8)+".1"); err != nil {
					t.Fatal(err)
				}
				// copytruncate of another idle file, then new lines in it.
				old9, err := os.ReadFile(path(9))
				if err != nil {
					t.Fatal(err)
				}
				mustWrite(t, path(9)+".1", string(old9), os.O_TRUNC)
				mustWrite(t, path(9), "new 9\n", os.O_TRUNC)
				time.Sleep(wait)
				synctest.Wait()
				if watched {
					if n := kc.count("last 8\n"); n != 1 {
						t.Errorf("the line written to a closed file just before it was renamed away arrived %d times, want once", n)
					}
				}
				if n := kc.count("new 9\n"); n != 1 {
					t.Errorf("the line written after a copytruncate arrived %d times, want once", n)
				}
				for _, l := range []string{"file 9\n", "line 9\n"} {
					if n := kc.count(l); n != 1 {
						t.Errorf("%q (copied by copytruncate) arrived %d times, want once", l, n)
					}
				}
				if err := stop(); err != nil {
					t.Fatal(err)
				}
				if n := openUnder(t, logs); n != 0 {
					t.Errorf("%d descriptors open on the logs after Run returned", n)
				}
				for i := range files {
					if i == 8 {
						continue // renamed out of the pattern
					}
					fi, err := os.Stat(path(i))
					if err != nil {
						t.Fatal(err)
					}
					if off := checkpointedAt(t, cfg.CheckpointFile, path(i)); off != fi.Size() {
						t.Errorf("%s checkpointed at %d, want its size %d", path(i), off, fi.Size())
					}
				}
			})
		})
	}
}

// TestRewriteWithSameSizeAndMtime rewrites a file read to its end with other content of the same
// size and puts its modification time back (a copytruncate and new writes within one clock tick
// look so): the new lines are read, polling or watched. Watched, the rewrite is seen even when
// the modification time put back is an hour old (rsync -t --inplace): the notification names the
// file. Real time: the rule under test compares the file's times with the clock.
func TestRewriteWithSameSizeAndMtime(t *testing.T) {
	for _, tc := range []struct {
		name    string
		watched bool
		old     bool // both contents carry a modification time an hour old
	}{
		{"polling", false, false},
		{"watched", true, false},
		{"watched, old mtime", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			live := filepath.Join(dir, "app.log")
			mustWrite(t, live, "aaaa 1\naaaa 2\n", os.O_TRUNC)
			if tc.old {
				old := time.Now().Add(-time.Hour)
				if err := os.Chtimes(live, old, old); err != nil {
					t.Fatal(err)
				}
			}
			kc := &keepClient{}
			cfg := Config{CheckpointFile: filepath.Join(dir, "cp.json"),
				Flows: []Flow{{FilePattern: live, KinesisStream: "s", InitialPosition: StartOfFile}}}
			a, err := New(cfg, kc, PollInterval(20*time.Millisecond), ShutdownTimeout(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			a.opts.pollOnly = !tc.watched
			runAgent(t, a)
			waitUntil(t, "the first content delivered", func() bool { return len(kc.records()) == 2 })
			fi, err := os.Stat(live)
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, live, "bbbb 1\nbbbb 2\n", os.O_TRUNC)
			if err := os.Chtimes(live, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the rewritten content delivered", func() bool { return len(kc.records()) == 4 })
			if got := kc.records(); !slices.Equal(got, []string{"aaaa 1\n", "aaaa 2\n", "bbbb 1\n", "bbbb 2\n"}) {
				t.Errorf("records %q", got)
			}
		})
	}
}

// checkpointedAt returns the offset the checkpoint file holds for path, -1 if none.
func checkpointedAt(t *testing.T, cpFile, path string) int64 {
	t.Helper()
	cps, err := loadCheckpoints(cpFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cps {
		if c.Path == path {
			return c.Offset
		}
	}
	return -1
}

// runAgent runs a until the returned stop is called, or the test ends.
func runAgent(t *testing.T, a *Agent) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var err error
	once := sync.OnceFunc(func() {
		cancel()
		err = <-done
	})
	t.Cleanup(once)
	return func() error { once(); return err }
}

// waitUntil polls cond every 10ms for at most 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatchedDirectoryReplaced removes a watched directory and makes it again with a new file:
// the flow polls while the watch is gone, watches the new directory, and tails the new file.
func TestWatchedDirectoryReplaced(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(logs, "a.log"), "a1\n", os.O_TRUNC)
	synctest.Test(t, func(t *testing.T) {
		kc := &keepClient{}
		cfg := Config{CheckpointFile: filepath.Join(dir, "cp.json"),
			Flows: []Flow{{FilePattern: filepath.Join(logs, "*.log"), KinesisStream: "s", InitialPosition: StartOfFile}}}
		a, err := New(cfg, kc, PollInterval(100*time.Millisecond), ShutdownTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		stop := runAgent(t, a)
		time.Sleep(time.Second)
		synctest.Wait()
		if err := os.RemoveAll(logs); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(logs, 0o755); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(logs, "b.log"), "b1\n", os.O_TRUNC)
		time.Sleep(time.Second)
		synctest.Wait()
		mustWrite(t, filepath.Join(logs, "b.log"), "b2\n", os.O_APPEND)
		mustWrite(t, filepath.Join(logs, "c.log"), "c1\n", os.O_TRUNC)
		time.Sleep(time.Second)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		got := kc.records()
		slices.Sort(got)
		if want := []string{"a1\n", "b1\n", "b2\n", "c1\n"}; !slices.Equal(got, want) {
			t.Errorf("records %q, want %q", got, want)
		}
	})
}

// TestWatchHubOverflowAndDirGone feeds the hub events by hand: a queue overflow makes every flow
// look at everything, a directory gone stops its watch (the flow polls) and its flows look at
// everything, writes are kept per flow, and a rename within watched directories pairs its two
// halves.
func TestWatchHubOverflowAndDirGone(t *testing.T) {
	g, _ := compileGlob("/logs/*.log")
	f1 := &flow{listing: newListCache(g)}
	f2 := &flow{listing: newListCache(g)}
	fake := &fakeNotifier{}
	h := &watchHub{n: fake, dirs: map[string]*watchDir{}, byWD: map[int]*watchDir{}, pending: map[*flow]*changeSet{}, moving: map[uint32]movedFrom{}}
	for _, f := range []*flow{f1, f2} {
		if _, watched, err := h.take(f, []string{"/logs"}, true, false); !watched || err != nil {
			t.Fatalf("take with try: watched %v, err %v", watched, err)
		}
	}
	fake.events = []notifyEvent{
		{wd: 1, kind: evWritten, name: "a.log"},
		{wd: 1, kind: evMovedFrom, cookie: 7, name: "b.log"},
		{wd: 1, kind: evMovedTo, cookie: 7, name: "b.log.1"},
		{wd: 1, kind: evListed, name: "other.txt"},
	}
	cs, _, _ := h.take(f1, []string{"/logs"}, false, false)
	if cs.all || !cs.relist || !cs.written["/logs/a.log"] || cs.moved["/logs/b.log"] != "/logs/b.log.1" {
		t.Errorf("f1 changes %+v: want a.log written, b.log moved to b.log.1, relist, not all", cs)
	}
	cs, _, _ = h.take(f2, []string{"/logs"}, false, false)
	if !cs.written["/logs/a.log"] || cs.moved["/logs/b.log"] != "/logs/b.log.1" {
		t.Errorf("f2 changes %+v: want the same changes kept for it", cs)
	}
	fake.events = []notifyEvent{{wd: 1, kind: evListed, name: "other.txt"}}
	if cs, _, _ = h.take(f1, []string{"/logs"}, false, false); cs.relist {
		t.Errorf("a name the pattern does not match made the flow list again")
	}
	fake.overflow = true
	if cs, _, _ = h.take(f1, []string{"/logs"}, false, false); !cs.all {
		t.Errorf("after an overflow: changes %+v, want all", cs)
	}
	if cs, _, _ = h.take(f2, []string{"/logs"}, false, false); !cs.all {
		t.Errorf("after an overflow, the other flow: changes %+v, want all", cs)
	}
	fake.overflow = false
	fake.events = []notifyEvent{{wd: 1, kind: evDirGone}}
	cs, watched, _ := h.take(f1, []string{"/logs"}, false, false)
	if !cs.all || watched {
		t.Errorf("after the directory went away: changes %+v, watched %v; want all, not watched", cs, watched)
	}
	if len(fake.removed) != 1 {
		t.Errorf("watches removed %v, want the gone one", fake.removed)
	}
}

type fakeNotifier struct {
	events   []notifyEvent
	overflow bool
	removed  []int
	next     int
}

func (n *fakeNotifier) add(string) (int, fileID, error) {
	if n.next == 0 {
		n.next = 1
	}
	return n.next, fileID{Dev: 1, Ino: 1}, nil
}

func (n *fakeNotifier) remove(wd int) { n.removed = append(n.removed, wd) }

func (n *fakeNotifier) read(fn func(notifyEvent)) (bool, error) {
	for _, e := range n.events {
		fn(e)
	}
	n.events = nil
	return n.overflow, nil
}

func (n *fakeNotifier) close() error { return nil }

// TestCopyTruncateOfClosedFile: app.log, tailed with app.log*, is closed while idle; logrotate's
// copytruncate then copies it to app.log.1 (which the pattern matches), truncates it, and the
// application writes on. The copy is followed, not read again; nothing is lost; the line the copy
// holds beyond the old offset comes before the lines written after the truncation. Fake time.
func TestCopyTruncateOfClosedFile(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "app.log")
	mustWrite(t, live, "a 1\na 2\na 3\n", os.O_TRUNC)
	synctest.Test(t, func(t *testing.T) {
		kc := &keepClient{}
		cfg := Config{CheckpointFile: filepath.Join(dir, "cp.json"),
			Flows: []Flow{{FilePattern: live + "*", KinesisStream: "s", InitialPosition: StartOfFile}}}
		a, err := New(cfg, kc, PollInterval(100*time.Millisecond), ShutdownTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		a.opts.pollOnly = false // watched: the live file is closed while idle
		stop := runAgent(t, a)
		time.Sleep(closeIdleAfter + safetyPollEvery + time.Second)
		synctest.Wait()
		if n := openUnder(t, dir); n != 0 {
			t.Fatalf("%d descriptors open on the log after it stayed idle, want 0 (closed)", n)
		}
		mustWrite(t, live, "a 4\n", os.O_APPEND) // the last line before the rotation
		old, err := os.ReadFile(live)
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, live+".1", string(old), os.O_TRUNC)
		mustWrite(t, live, "b 1\n", os.O_TRUNC)
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		mustWrite(t, live, "b 2\n", os.O_APPEND)
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		got := kc.records()
		if want := []string{"a 1\n", "a 2\n", "a 3\n", "a 4\n", "b 1\n", "b 2\n"}; !slices.Equal(got, want) {
			t.Errorf("records %q, want %q", got, want)
		}
	})
}
