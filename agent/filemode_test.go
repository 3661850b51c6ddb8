package agent_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/shardwise/shardwise/agent"
)

// TestCheckpointPermissions: the agent creates the checkpoint file's directory 0700 and the file
// 0600; a directory and file that others made wider are reported at Warn (once each, at start), and
// the file is 0600 again after the agent wrote it.
func TestCheckpointPermissions(t *testing.T) {
	t.Run("created", func(t *testing.T) {
		e := newEnv(t, 1)
		writeFile(t, e.path("a.log"), "one\ntwo\n")
		f := e.flow("*.log")
		f.InitialPosition = agent.StartOfFile
		r := e.start([]agent.Flow{f})
		e.waitRecords(2)
		r.stop(t)
		checkMode(t, filepath.Dir(e.cp), 0o700)
		checkMode(t, e.cp, 0o600)
	})
	t.Run("made wider by others", func(t *testing.T) {
		e := newEnv(t, 1)
		if err := os.Mkdir(filepath.Dir(e.cp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(e.cp), 0o755); err != nil { // whatever the umask
			t.Fatal(err)
		}
		if err := os.WriteFile(e.cp, []byte(`{"version":1,"files":[]}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(e.cp, 0o644); err != nil {
			t.Fatal(err)
		}
		writeFile(t, e.path("a.log"), "one\n")
		var logs lockedLog
		f := e.flow("*.log")
		f.InitialPosition = agent.StartOfFile
		r := e.start([]agent.Flow{f}, agent.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
		e.waitRecords(1)
		r.stop(t)
		var dirWarns, fileWarns int
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["level"] != "WARN" {
				continue
			}
			msg, _ := m["msg"].(string)
			switch {
			case strings.Contains(msg, "checkpoint file's directory is open to other users") && m["mode"] == "0755":
				dirWarns++
			case strings.Contains(msg, "checkpoint file is open to other users") && m["mode"] == "0644":
				fileWarns++
			}
		}
		if dirWarns != 1 || fileWarns != 1 {
			t.Errorf("%d directory and %d file warnings, want 1 each; logs:\n%s", dirWarns, fileWarns, logs.String())
		}
		checkMode(t, filepath.Dir(e.cp), 0o755) // not changed behind the administrator's back
		checkMode(t, e.cp, 0o600)
	})
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %#o, want %#o", path, got, want)
	}
}

// lockedLog collects the agent's log lines; the logger writes from the agent's goroutines.
type lockedLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
