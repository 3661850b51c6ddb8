package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kpl"
)

// TestSIGHUPReload runs the command in-process and sends it SIGHUP (what main forwards): an
// invalid configuration is refused and the agent keeps running with the old one; a valid one (a
// second flow added) is taken: the agent stops with its flush and checkpoints and starts again,
// so the new flow's file is sent and the old flow's lines are neither lost nor sent twice.
func TestSIGHUPReload(t *testing.T) {
	srv, kc := logsServer(t)
	cleanAWSEnv(t, "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	dir := t.TempDir()
	aLog, bLog := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	if err := os.WriteFile(aLog, []byte("a1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bLog, []byte("b1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "agent.json")
	writeConfig := func(flows ...string) {
		t.Helper()
		var parts []string
		for _, p := range flows {
			parts = append(parts, fmt.Sprintf(`{"filePattern": %q, "kinesisStream": "logs", "initialPosition": "START_OF_FILE"}`, p))
		}
		cfg := fmt.Sprintf(`{"checkpointFile": %q, "kinesis.endpoint": %q, "flows": [%s]}`,
			filepath.Join(dir, "cp.json"), srv.URL(), strings.Join(parts, ","))
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	appendLine := func(path, line string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(line + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(aLog)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- runReload(ctx, []string{"-c", cfgPath}, &bytes.Buffer{}, &stderr, hup,
			agent.PollInterval(10*time.Millisecond), agent.ProducerOptions(kpl.Linger(time.Millisecond)))
	}()
	waitFor(t, "a1", func() bool { return countRecords(t, kc) == 1 })

	if err := os.WriteFile(cfgPath, []byte(`{"flows": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	waitFor(t, "the refused reload to be logged", func() bool { return strings.Contains(stderr.String(), "not valid") })
	appendLine(aLog, "a2")
	waitFor(t, "a2 from the old configuration", func() bool { return countRecords(t, kc) == 2 })

	writeConfig(aLog, bLog)
	hup <- syscall.SIGHUP
	appendLine(aLog, "a3") // written while the agent restarts: sent once
	waitFor(t, "b1 and a3", func() bool { return countRecords(t, kc) == 4 })
	appendLine(bLog, "b2")
	waitFor(t, "b2", func() bool { return countRecords(t, kc) == 5 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runReload = %v", err)
	}
	got := readLines(t, kc)
	seen := distinct(got)
	for _, want := range []string{"a1\n", "a2\n", "a3\n", "b1\n", "b2\n"} {
		if !seen[want] {
			t.Errorf("%q never arrived; records %q", want, got)
		}
	}
	if len(got) != 5 {
		t.Errorf("records %q, want each line once", got)
	}
	if !strings.Contains(stderr.String(), "reloading the configuration") {
		t.Errorf("no log line for the reload:\n%s", stderr.String())
	}
}

// TestSystemdUnit checks the unit in packaging/: restarted always, checkpoints in its
// StateDirectory (the same directory name as DefaultStateDir), enough descriptors, SIGHUP for
// reload, and the Kinesis Agent's configuration path.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "packaging", "shardwise-agent.service"))
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[k] = v
		}
	}
	for k, want := range map[string]string{
		"Restart":         "always",
		"StateDirectory":  filepath.Base(DefaultStateDir),
		"ExecReload":      "/bin/kill -HUP $MAINPID",
		"KillSignal":      "SIGTERM",
		"ExecStart":       "/usr/local/bin/shardwise-agent -c " + DefaultConfigFile + " -L INFO",
		"LimitNOFILE":     "65536",
		"WantedBy":        "multi-user.target",
		"TimeoutStopSec":  "30",
		"StandardError":   "journal",
		"NoNewPrivileges": "yes",
	} {
		if settings[k] != want {
			t.Errorf("%s=%q in the unit, want %q", k, settings[k], want)
		}
	}
}
