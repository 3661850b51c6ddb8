package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kpl"
)

// TestRunJavaCheckpointFile runs the command on an agent.json whose checkpointFile is still the
// Kinesis Agent's SQLite database (a file written by the sqlite3 shell with its schema): the agent
// runs (it used to stop on it), never writes the database, and keeps its own checkpoints in the
// state directory.
func TestRunJavaCheckpointFile(t *testing.T) {
	srv, kc := logsServer(t)
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	t.Setenv("STATE_DIRECTORY", state)
	javaDB := filepath.Join(dir, "aws-kinesis-agent", "checkpoints")
	data, err := os.ReadFile("../../internal/sqliteread/testdata/java_checkpoints.db")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(javaDB), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(javaDB, data, 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logPath, []byte("hello\nworld\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "agent.json")
	cfg := fmt.Sprintf(`{"checkpointFile": %q, "kinesis.endpoint": %q,
		"flows": [{"filePattern": %q, "kinesisStream": "logs", "initialPosition": "START_OF_FILE"}]}`, javaDB, srv.URL(), logPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-c", cfgPath}, &bytes.Buffer{}, &stderr,
			agent.PollInterval(10*time.Millisecond), agent.ProducerOptions(kpl.Linger(time.Millisecond)))
	}()
	waitFor(t, "two records", func() bool { return countRecords(t, kc) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v\n%s", err, stderr.String())
	}
	if after, err := os.ReadFile(javaDB); err != nil || !bytes.Equal(after, data) {
		t.Errorf("the Kinesis Agent's database was changed (err %v)", err)
	}
	if _, err := os.Stat(filepath.Join(state, "checkpoints.json")); err != nil {
		t.Errorf("Shardwise's checkpoint file in the state directory: %v", err)
	}
	if !strings.Contains(stderr.String(), "taken over") || !strings.Contains(stderr.String(), `"rows":4`) {
		t.Errorf("the log does not say the database was read:\n%s", stderr.String())
	}
}
