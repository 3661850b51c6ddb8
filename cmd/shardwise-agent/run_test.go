package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/firehosetest"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

func TestRunUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"flows":[{"filePattern":"/tmp/x","deliveryStream":"fh","shardwise.aggregation":true}]}`), 0o644); err != nil {
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
		{"default config", []string{"-L", "INFO"}, DefaultConfigFile},
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
		{"extra argument", []string{"--config", bad, "more"}, "unexpected arguments"},
		{"bad log level", []string{"--config", bad, "--log-level", "loud"}, "--log-level"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.json")}, "no such file"},
		{"firehose flow with kpl aggregation", []string{"-c", bad}, "shardwise.aggregation"},
		{"bad log file", []string{"-c", bad, "-l", filepath.Join(dir, "no", "dir", "x.log")}, "--log-file"},
		{"broken json", []string{"--config", broken}, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(DefaultConfigFile); tt.want == DefaultConfigFile && err == nil {
				t.Skip(DefaultConfigFile + " exists on this machine")
			}
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
	if !errors.As(err, &ce) || !errors.Is(err, agent.ErrInvalidConfig) {
		t.Errorf("run(bad) = %v, want a *agent.ConfigError wrapping ErrInvalidConfig", err)
	}
}

func TestDefaultCheckpointFile(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "/run/state/shardwise-agent:/run/state/other")
	t.Setenv("XDG_STATE_HOME", "/var/state")
	if got, want := defaultCheckpointFile(), "/run/state/shardwise-agent/checkpoints.json"; got != want {
		t.Errorf("defaultCheckpointFile() = %q, want %q (systemd's StateDirectory)", got, want)
	}
	t.Setenv("STATE_DIRECTORY", "")
	if got, want := defaultCheckpointFile(), "/var/state/shardwise-agent/checkpoints.json"; got != want {
		t.Errorf("defaultCheckpointFile() = %q, want %q", got, want)
	}
	t.Setenv("XDG_STATE_HOME", "")
	if got, want := defaultCheckpointFile(), "/var/lib/shardwise-agent/checkpoints.json"; got != want {
		t.Errorf("defaultCheckpointFile() = %q, want %q", got, want)
	}
}

// TestRunInProcess runs the command in-process with the endpoint taken from agent.json's
// "kinesis.endpoint" and stops it by cancelling its context (what SIGTERM does in main).
func TestRunInProcess(t *testing.T) {
	srv, kc := logsServer(t)
	for k, v := range map[string]string{"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ENDPOINT_URL_KINESIS": "http://127.0.0.1:1"} { // wrong on purpose: agent.json's endpoint wins
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logPath, []byte("hello\nworld\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "agent.json")
	cfg := fmt.Sprintf(`{"checkpointFile": %q, "kinesis.endpoint": %q, "cloudwatch.emitMetrics": true,
		"flows": [{"filePattern": %q, "kinesisStream": "logs", "initialPosition": "START_OF_FILE"}]}`,
		filepath.Join(dir, "cp.json"), srv.URL(), logPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--config", cfgPath, "--log-level", "debug"}, &bytes.Buffer{}, &stderr,
			agent.PollInterval(10*time.Millisecond), agent.ProducerOptions(kpl.Linger(time.Millisecond)))
	}()
	waitFor(t, "two records", func() bool { return countRecords(t, kc) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v", err)
	}
	if got := readLines(t, kc); got[0] != "hello\n" || got[1] != "world\n" {
		t.Errorf("records %q", got)
	}
}

// lockedBuffer is a bytes.Buffer safe for the logger's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunAWSSampleConfig runs the command the way the Kinesis Agent's service scripts run it (-c,
// -L, -l) on a configuration shaped like AWS's sample: comments, "kinesis.region" (no AWS_REGION),
// a Kinesis flow and a Firehose flow ("firehose.endpoint" the local firehosetest server). Both
// flows deliver the file's lines.
func TestRunAWSSampleConfig(t *testing.T) {
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fsrv, err := firehosetest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer fsrv.Close()
	fsrv.CreateDeliveryStream("yourdeliverystream")
	kc := srv.KinesisClient()
	if _, err := kc.CreateStream(context.Background(), &kinesis.CreateStreamInput{StreamName: aws.String("logs"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_EC2_METADATA_DISABLED": "true"} {
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logPath, []byte("hello\nworld\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "agent.json")
	cfg := fmt.Sprintf(`{
  // AWS's sample keeps comments like these
  "checkpointFile": %q,
  "kinesis.endpoint": %q, /* the local server */
  "kinesis.region": "eu-west-1",
  "firehose.endpoint": %q,
  "flows": [
    {"filePattern": %q, "kinesisStream": "logs", "initialPosition": "START_OF_FILE"},
    {"filePattern": %q, "deliveryStream": "yourdeliverystream", "initialPosition": "START_OF_FILE"}
  ]
}`, filepath.Join(dir, "cp.json"), srv.URL(), fsrv.URL(), logPath, logPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	agentLog := filepath.Join(dir, "agent.log")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-c", cfgPath, "-L", "TRACE", "-l", agentLog}, &bytes.Buffer{}, &bytes.Buffer{},
			agent.PollInterval(10*time.Millisecond), agent.ProducerOptions(kpl.Linger(time.Millisecond)))
	}()
	waitFor(t, "two records", func() bool { return countRecords(t, kc) == 2 })
	waitFor(t, "two Firehose records", func() bool { return len(fsrv.Records("yourdeliverystream")) == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v", err)
	}
	logs, err := os.ReadFile(agentLog)
	if err != nil {
		t.Fatal(err)
	}
	if got := fsrv.Records("yourdeliverystream"); len(got) != 2 || string(got[0]) != "hello\n" || string(got[1]) != "world\n" {
		t.Errorf("Firehose records %q, want hello and world", got)
	}
	if !strings.Contains(string(logs), `"level":"DEBUG"`) {
		t.Errorf("-L TRACE did not log at DEBUG")
	}
}
