package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// ttlEvents records the offset each file is tailed from.
type ttlEvents struct{ at map[string]int64 }

func (h *ttlEvents) OnFileEvent(e FileEvent) {
	if e.Kind == FileTailing {
		h.at[e.Path] = e.Offset
	}
}

// TestCheckpointKeptForTTL checks in fake time that the checkpoint entry of a file not found at
// start (a volume mounted late) is kept for checkpointTimeToLiveDays, not a minute: when the file
// shows up after two minutes it resumes at its offset; an entry not seen for longer than the TTL
// is forgotten and no longer written.
func TestCheckpointKeptForTTL(t *testing.T) {
	dir := t.TempDir()
	vol, unmounted := filepath.Join(dir, "vol"), filepath.Join(dir, "unmounted")
	if err := os.MkdirAll(unmounted, 0o755); err != nil {
		t.Fatal(err)
	}
	content := "one\ntwo\nthree\n"
	hidden := filepath.Join(unmounted, "app.log")
	if err := os.WriteFile(hidden, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(hidden)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := fh.Stat()
	fp, err := readFingerprint(fh, fi.Size())
	fh.Close()
	if err != nil {
		t.Fatal(err)
	}
	pattern := filepath.Join(vol, "*.log")
	live := filepath.Join(vol, "app.log")
	id := idOf(fi)
	cp := filepath.Join(dir, "cp.json")
	entries := []fileCheckpoint{
		{FilePattern: pattern, Stream: "s", Path: live, Dev: id.Dev, Inode: id.Ino, FingerprintLen: fp.N, Fingerprint: fp.Sum, Offset: int64(len(content))},
		{FilePattern: pattern, Stream: "s", Path: filepath.Join(vol, "gone.log"), Dev: id.Dev, Inode: id.Ino + 1_000_000, Offset: 5},
	}
	if err := writeCheckpoints(cp, entries); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		ev := &ttlEvents{at: map[string]int64{}}
		cfg := Config{CheckpointFile: cp, CheckpointTTL: 10 * time.Minute, Flows: []Flow{{FilePattern: pattern, KinesisStream: "s"}}}
		a, err := New(cfg, nopClient{}, PollInterval(time.Second), ShutdownTimeout(time.Second), WithHooks(ev))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if err := os.Rename(unmounted, vol); err != nil { // the volume is mounted
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if off, ok := ev.at[live]; !ok || off != int64(len(content)) {
			t.Errorf("the late file was tailed from offset %d (found %v), want its checkpoint %d", off, ok, len(content))
		}
		time.Sleep(9 * time.Minute) // 11 minutes after the start: gone.log's entry is past its TTL
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got, err := loadCheckpoints(cp)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Path != live || got[0].Offset != int64(len(content)) {
			t.Errorf("checkpoint entries %+v, want only %s at %d (gone.log forgotten after the TTL)", got, live, len(content))
		}
	})
}

func TestRotationFamilyNames(t *testing.T) {
	same := [][]string{
		{"/l/app.log", "/l/app.log.1", "/l/app.log.12", "/l/app.log-20261204", "/l/app.2026-12-04.log", "/l/app.log.2026-12-04_10"},
		{"/l/web_access.log", "/l/web_access.log.3"},
	}
	for _, group := range same {
		for _, p := range group[1:] {
			if rotationFamily(p) != rotationFamily(group[0]) {
				t.Errorf("%s and %s are not one family (%q, %q)", p, group[0], rotationFamily(p), rotationFamily(group[0]))
			}
		}
	}
	for _, pair := range [][2]string{{"/l/app.log", "/l/web.log"}, {"/l/app.log", "/m/app.log.1"}, {"/l/app.log", "/l/app.txt"}} {
		if rotationFamily(pair[0]) == rotationFamily(pair[1]) {
			t.Errorf("%s and %s are one family", pair[0], pair[1])
		}
	}
}

func TestCheckpointFileMarkersRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp.json")
	seen := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	want := checkpointFile{
		Flows: []flowMarker{{FilePattern: "/l/*.log", Stream: "s", Started: seen.Add(-time.Hour)}},
		Files: []fileCheckpoint{{FilePattern: "/l/*.log", Stream: "s", Path: "/l/a.log", Dev: 1, Inode: 2, Offset: 9, LastSeen: seen}},
	}
	if err := writeCheckpointFile(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := loadCheckpointFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Flows) != 1 || got.Flows[0] != want.Flows[0] || len(got.Files) != 1 || got.Files[0] != want.Files[0] {
		t.Errorf("round trip %+v, want %+v", got, want)
	}
	// A file of the earlier format (no markers, no lastSeen) still loads.
	if err := os.WriteFile(path, []byte(`{"version":1,"files":[{"filePattern":"/l/*.log","kinesisStream":"s","path":"/l/a.log","dev":1,"inode":2,"offset":3}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = loadCheckpointFile(path)
	if err != nil || len(got.Flows) != 0 || len(got.Files) != 1 || !got.Files[0].LastSeen.IsZero() {
		t.Errorf("earlier format: %+v, %v", got, err)
	}
}

// TestIdleFilesRewriteCheckpointHourly checks in fake time that idle files found at different times
// refresh their LastSeen together, once an hour, so the checkpoint file is not rewritten for each
// file at its own moment.
func TestIdleFilesRewriteCheckpointHourly(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{CheckpointFile: filepath.Join(dir, "cp.json"), Flows: []Flow{{FilePattern: filepath.Join(dir, "*.log"), KinesisStream: "s"}}}
		a, err := New(cfg, nopClient{}, PollInterval(time.Minute), CheckpointInterval(10*time.Second), ShutdownTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		for i := range 3 { // idle (empty) files appearing 20 minutes apart
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.log", i)), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Minute)
			synctest.Wait()
		}
		time.Sleep(5 * time.Minute) // away from the hour boundaries
		synctest.Wait()
		before := a.Stats().CheckpointsWritten
		time.Sleep(4 * time.Hour)
		synctest.Wait()
		if n := a.Stats().CheckpointsWritten - before; n != 4 {
			t.Errorf("%d checkpoint writes in 4 idle hours, want 4 (one per hour for all files)", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
