package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/shardwise/shardwise/agent"
)

// unreadableChildEnv tells a re-executed test binary that it runs the unprivileged half of
// TestUnreadableFiles, in the directory the variable names.
const unreadableChildEnv = "SHARDWISE_TEST_UNREADABLE_DIR"

// TestUnreadableFiles: files the agent may not read give clear errors or a Warn, never a stall.
// An unreadable agent.json or checkpoint file stops the agent with an error naming the file and
// "permission denied"; a tailed log it may not open is reported at Warn once (not at every poll)
// while the other files of the flow are sent. Permission bits do not stop root, so as root the test
// runs its checks in a copy of the test binary started as the user nobody (65534).
func TestUnreadableFiles(t *testing.T) {
	if dir := os.Getenv(unreadableChildEnv); dir != "" {
		checkUnreadable(t, dir)
		return
	}
	dir, err := os.MkdirTemp("", "shardwise-unreadable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"ok.log": 0o666, "secret.log": 0o600, "agent.json": 0o600, "checkpoints.json": 0o600} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(`{"version":1,"files":[]}`+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	if os.Getuid() != 0 {
		t.Setenv(unreadableChildEnv, dir)
		for _, name := range []string{"secret.log", "agent.json", "checkpoints.json"} {
			if err := os.Chmod(filepath.Join(dir, name), 0); err != nil {
				t.Fatal(err)
			}
		}
		checkUnreadable(t, dir)
		return
	}
	bin := filepath.Join(dir, "agent.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestUnreadableFiles$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), unreadableChildEnv+"="+dir, "HOME="+dir, "TMPDIR="+dir, "GOCOVERDIR=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestUnreadableFiles") {
		t.Fatalf("the check as nobody: %v\n%s", err, out)
	}
}

// checkUnreadable runs as a user who may read ok.log but not secret.log, agent.json or
// checkpoints.json.
func checkUnreadable(t *testing.T, dir string) {
	if _, err := os.ReadFile(filepath.Join(dir, "secret.log")); !errors.Is(err, fs.ErrPermission) {
		t.Skipf("secret.log is readable here (%v): cannot test", err)
	}
	_, err := agent.LoadConfig(filepath.Join(dir, "agent.json"), nil)
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), filepath.Join(dir, "agent.json")) {
		t.Errorf("LoadConfig(unreadable) = %v, want an error naming the file and wrapping fs.ErrPermission", err)
	}

	e := newEnv(t, 1)
	f := agent.Flow{FilePattern: filepath.Join(dir, "*.log"), KinesisStream: e.stream, InitialPosition: agent.StartOfFile}
	cfg := agent.Config{CheckpointFile: filepath.Join(dir, "checkpoints.json"), Flows: []agent.Flow{f}}
	a, err := agent.New(cfg, e.kc, fastOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	var ce *agent.CheckpointError
	if err := a.Run(context.Background()); !errors.As(err, &ce) || ce.Op != "read" || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Run with an unreadable checkpoint file = %v, want a *CheckpointError (read) wrapping fs.ErrPermission", err)
	}

	var logs lockedLog
	e.cp = filepath.Join(dir, "state", "checkpoints.json")
	r := e.start([]agent.Flow{f}, agent.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	e.waitRecords(1) // ok.log's one line
	// Many polls later (10 ms apart), still one Warn for secret.log.
	e.waitTracked(filepath.Join(dir, "ok.log"))
	appendFile(t, filepath.Join(dir, "ok.log"), "more\n")
	e.waitRecords(2)
	r.stop(t)
	warns := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["level"] == "WARN" && m["path"] == filepath.Join(dir, "secret.log") {
			warns++
			if err, _ := m["err"].(string); !strings.Contains(err, "permission denied") {
				t.Errorf("the Warn does not say why: %s", line)
			}
		}
	}
	if warns != 1 {
		t.Errorf("%d Warns for the unreadable secret.log, want 1:\n%s", warns, logs.String())
	}
}
