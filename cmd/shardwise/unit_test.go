package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestWorkerSystemdUnit checks packaging/shardwise-worker@.service, the unit README's "A worker as
// a systemd service" describes: restarted always, SIGTERM (the graceful shutdown) with time to
// finish, and an ExecStart whose command line this shardwise accepts (with the instance's
// properties file in place of %i), so a renamed flag cannot silently break the unit.
func TestWorkerSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "packaging", "shardwise-worker@.service"))
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
	for k, want := range map[string]string{"Restart": "always", "KillSignal": "SIGTERM", "Type": "exec"} {
		if settings[k] != want {
			t.Errorf("%s=%q, want %q", k, settings[k], want)
		}
	}
	if s, err := strconv.Atoi(settings["TimeoutStopSec"]); err != nil || s < 30 {
		t.Errorf("TimeoutStopSec=%q: want at least 30 s for the graceful shutdown", settings["TimeoutStopSec"])
	}
	args := strings.Fields(settings["ExecStart"])
	if len(args) < 2 || filepath.Base(args[0]) != "shardwise" || args[1] != "multilang" {
		t.Fatalf("ExecStart=%q: want shardwise multilang", settings["ExecStart"])
	}
	props, err := filepath.Abs(filepath.Join("testdata", "multilang", "sample.properties"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := args[1:]
	for i, a := range cmd {
		if strings.Contains(a, "%i") {
			if a != "/etc/shardwise/%i.properties" {
				t.Errorf("ExecStart reads %q, README says /etc/shardwise/<instance>.properties", a)
			}
			cmd[i] = props
		}
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), append(cmd, "--print-config"), &out, &errOut); err != nil {
		t.Fatalf("shardwise %q: %v\n%s", cmd, err, errOut.String())
	}
	if strings.Contains(errOut.String(), "deprecated") {
		t.Errorf("the unit uses a deprecated spelling:\n%s", errOut.String())
	}
}
