package agent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckpointWriteReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "cp.json")
	if got, err := loadCheckpoints(path); err != nil || got != nil {
		t.Fatalf("loadCheckpoints(missing) = %v, %v; want nil, nil", got, err)
	}
	want := []fileCheckpoint{
		{FilePattern: "/l/*.log", Stream: "s", Path: "/l/a.log", Dev: 1, Inode: 2, FingerprintLen: 3, Fingerprint: "abc", Offset: 42},
		{FilePattern: "/l/*.log", Stream: "s", Path: "/l/b.log", Dev: 1, Inode: 9, Offset: 0},
	}
	if err := writeCheckpoints(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := loadCheckpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("reloaded %+v, want %+v", got, want)
	}
	// Overwrite: still one file, no temporary left behind.
	if err := writeCheckpoints(path, want[:1]); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the checkpoint file", len(entries))
	}
	if got, _ := loadCheckpoints(path); len(got) != 1 {
		t.Errorf("after overwrite: %d entries, want 1", len(got))
	}
}

func TestCheckpointCorrupt(t *testing.T) {
	tests := []struct{ name, content string }{
		{"torn", `{"version":1,"files":[{"path":"/a"`},
		{"garbage", "\x00\x01binary"},
		{"wrong version", `{"version":7,"files":[]}`},
		{"negative offset", `{"version":1,"files":[{"path":"/a","offset":-5}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cp.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := loadCheckpoints(path)
			var ce *CheckpointError
			if !errors.As(err, &ce) || ce.Path != path || !errors.Is(err, ErrCorruptCheckpoint) {
				t.Errorf("loadCheckpoints = %v, want a *CheckpointError wrapping ErrCorruptCheckpoint", err)
			}
		})
	}
}

func TestCheckpointUnwritable(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := writeCheckpoints(filepath.Join(blocker, "cp.json"), nil) // a file where a directory should be
	var ce *CheckpointError
	if !errors.As(err, &ce) || ce.Op != "write" {
		t.Errorf("writeCheckpoints = %v, want a write *CheckpointError", err)
	}
}

// TestCheckpointFileEncoding: the checkpoint file has one compact entry per line and reads back
// as written (markers, entries, no entries).
func TestCheckpointFileEncoding(t *testing.T) {
	seen := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	for _, cf := range []checkpointFile{
		{Version: checkpointVersion},
		{Version: checkpointVersion, Flows: []flowMarker{{FilePattern: "/l/*.log", Stream: "s", Started: seen}},
			Files: []fileCheckpoint{
				{FilePattern: "/l/*.log", Stream: "s", Path: "/l/a.log", Dev: 1, Inode: 2, FingerprintLen: 3, Fingerprint: "ab", Offset: 4, LastSeen: seen},
				{FilePattern: "/l/*.log", Stream: "s", Path: "/l/\"b\".log", Dev: 1, Inode: 3, Offset: 5},
			}},
	} {
		path := filepath.Join(t.TempDir(), "cp.json")
		if err := writeCheckpointFile(path, cf); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(string(data), "\n{\"filePattern\""); got != len(cf.Files) {
			t.Errorf("%d lines begin with an entry, want %d (one per entry):\n%s", got, len(cf.Files), data)
		}
		back, err := loadCheckpointFile(path)
		if err != nil {
			t.Fatalf("%v:\n%s", err, data)
		}
		if !slices.Equal(back.Files, cf.Files) || !slices.Equal(back.Flows, cf.Flows) {
			t.Errorf("read back %+v, want %+v", back, cf)
		}
	}
}
