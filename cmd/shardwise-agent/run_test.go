package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardwise/shardwise/agent"
)

func TestRunUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"flows":[{"filePattern":"/tmp/x","deliveryStream":"fh"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.json")
	if err := os.WriteFile(broken, []byte(`{"flows":`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no config", nil, "--config is required"},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
		{"extra argument", []string{"--config", bad, "more"}, "unexpected arguments"},
		{"bad log level", []string{"--config", bad, "--log-level", "loud"}, "--log-level"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.json")}, "no such file"},
		{"firehose flow", []string{"--config", bad}, "flows[0].deliveryStream"},
		{"broken json", []string{"--config", broken}, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), tt.args, &bytes.Buffer{}, &stderr)
			if !errors.Is(err, errUsage) {
				t.Fatalf("run(%q) = %v, want a usage error (exit code 2)", tt.args, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %q, want it to mention %q", tt.args, err, tt.want)
			}
		})
	}
	var ce *agent.ConfigError
	err := run(context.Background(), []string{"--config", bad}, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.As(err, &ce) || !errors.Is(err, agent.ErrUnsupported) {
		t.Errorf("run(firehose) = %v, want a *agent.ConfigError wrapping ErrUnsupported", err)
	}
}

func TestDefaultCheckpointFile(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/var/state")
	if got, want := defaultCheckpointFile(), "/var/state/shardwise-agent/checkpoints.json"; got != want {
		t.Errorf("defaultCheckpointFile() = %q, want %q", got, want)
	}
	t.Setenv("XDG_STATE_HOME", "")
	if got := defaultCheckpointFile(); got != agent.DefaultCheckpointFile {
		t.Errorf("defaultCheckpointFile() = %q, want %q", got, agent.DefaultCheckpointFile)
	}
}
