//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/shardwise/shardwise/agent"
	"github.com/shardwise/shardwise/kinesistest"
	"github.com/shardwise/shardwise/kpl"
)

const (
	childEnv       = "SHARDWISE_AGENT_TEST_CHILD"
	childConfigEnv = "SHARDWISE_AGENT_TEST_CONFIG"
)

// TestAgentChild is not a test: run as a child process (childEnv set) it is the shardwise-agent
// daemon, with fast polling and main's signal handling, until SIGTERM or SIGINT (SIGHUP reloads);
// SIGKILL ends it abruptly.
func TestAgentChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("helper process for TestKillAndRestart")
	}
	ctx, hup, stop := withSignals(context.Background()) // the signals main handles
	defer stop()
	err := runReload(ctx, []string{"--config", os.Getenv(childConfigEnv), "--log-level", "info"}, os.Stdout, os.Stderr, hup,
		agent.PollInterval(10*time.Millisecond), agent.CheckpointInterval(50*time.Millisecond),
		agent.ProducerOptions(kpl.Linger(5*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
}

// TestKillAndRestart runs shardwise-agent as a separate process, SIGKILLs it while lines are being
// written and delivered, rotates the log while it is down (by rename, or by copytruncate with the
// writer keeping its file open), restarts it and finally stops it with SIGTERM. No line may be
// lost, and only lines after the last checkpoint written before the kill may arrive twice.
func TestKillAndRestart(t *testing.T) {
	t.Run("rename", func(t *testing.T) {
		testKillAndRestart(t, func(t *testing.T, logPath string, logFile *os.File) *os.File {
			logFile.Close()
			if err := os.Rename(logPath, logPath+".1"); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			return f
		})
	})
	t.Run("copytruncate", func(t *testing.T) {
		testKillAndRestart(t, func(t *testing.T, logPath string, logFile *os.File) *os.File {
			data, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(logPath+".1", data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(logPath, 0); err != nil {
				t.Fatal(err)
			}
			return logFile // O_APPEND: the writer goes on at the new end
		})
	})
}

func testKillAndRestart(t *testing.T, rotate func(t *testing.T, logPath string, logFile *os.File) *os.File) {
	srv, err := kinesistest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	kc := srv.KinesisClient()
	ctx := context.Background()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("logs"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	cpPath := filepath.Join(dir, "checkpoints.json")
	cfgPath := filepath.Join(dir, "agent.json")
	cfg := fmt.Sprintf(`{"checkpointFile": %q, "flows": [{"filePattern": %q, "kinesisStream": "logs", "initialPosition": "START_OF_FILE"}]}`,
		cpPath, logPath+"*")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	write := func(n int) {
		t.Helper()
		var b strings.Builder
		for range n {
			fmt.Fprintf(&b, "line-%06d\n", next)
			next++
		}
		if _, err := logFile.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
	}

	child := startChild(t, srv.URL(), cfgPath, filepath.Join(dir, "child1.log"))
	write(500)
	// Keep writing while the agent delivers; kill it mid-stream.
	waitFor(t, "the first agent to deliver 1500 lines and checkpoint some", func() bool {
		write(50)
		return countRecords(t, kc) >= 1500 && checkpointedLines(t, cpPath, logPath) > 0
	})
	write(100)
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	writtenAtKill := next
	delivered := countRecords(t, kc)
	checkpointed := checkpointedLines(t, cpPath, logPath)
	t.Logf("killed: %d lines written, about %d delivered, checkpoint covers %d", writtenAtKill, delivered, checkpointed)
	if checkpointed == 0 {
		t.Fatal("no checkpoint before the kill")
	}

	// While the agent is down: more lines, a rotation, lines in the new file.
	write(300)
	logFile = rotate(t, logPath, logFile)
	write(300)
	child = startChild(t, srv.URL(), cfgPath, filepath.Join(dir, "child2.log"))
	write(500)
	logFile.Close()
	total := next
	waitFor(t, "every line in the stream", func() bool { return len(distinct(readLines(t, kc))) == total })
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Errorf("agent after SIGTERM: %v, want exit code 0", err)
	}

	got := readLines(t, kc)
	seen := map[int]int{}
	dups := 0
	for _, l := range got {
		i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(l, "line-"), "\n"))
		if err != nil {
			t.Fatalf("unexpected record %q", l)
		}
		seen[i]++
		if seen[i] == 2 {
			dups++
			if i < checkpointed || i >= writtenAtKill {
				t.Errorf("line %d arrived twice; only lines %d..%d (read by the killed agent, not checkpointed) may",
					i, checkpointed, writtenAtKill-1)
			}
		}
	}
	for i := range total {
		if seen[i] == 0 {
			t.Errorf("line %d lost", i)
		}
	}
	t.Logf("%d lines, %d records, %d duplicates (lines %d..%d were delivered after the last checkpoint)",
		total, len(got), dups, checkpointed, delivered-1)
}

func startChild(t *testing.T, endpoint, cfgPath, logPath string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		out.Close()
		if t.Failed() {
			if data, err := os.ReadFile(logPath); err == nil {
				t.Logf("%s:\n%s", filepath.Base(logPath), data)
			}
		}
	})
	cmd := exec.Command(exe, "-test.run=^TestAgentChild$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childConfigEnv+"="+cfgPath,
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret",
		"AWS_ENDPOINT_URL_KINESIS="+endpoint, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// TestSIGHUPChild sends real signals to the agent running as a separate process with main's signal
// handling: SIGHUP reloads (the process keeps running, a flow added to agent.json is tailed, nothing
// is sent twice), SIGTERM then ends it with exit code 0.
func TestSIGHUPChild(t *testing.T) {
	srv, kc := logsServer(t)
	dir := t.TempDir()
	aLog, bLog := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	for _, p := range []string{aLog, bLog} {
		if err := os.WriteFile(p, []byte(filepath.Base(p)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(dir, "agent.json")
	writeConfig := func(patterns ...string) {
		var flows []string
		for _, p := range patterns {
			flows = append(flows, fmt.Sprintf(`{"filePattern": %q, "kinesisStream": "logs", "initialPosition": "START_OF_FILE"}`, p))
		}
		cfg := fmt.Sprintf(`{"checkpointFile": %q, "flows": [%s]}`, filepath.Join(dir, "cp.json"), strings.Join(flows, ","))
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(aLog)
	childLog := filepath.Join(dir, "child.log")
	child := startChild(t, srv.URL(), cfgPath, childLog)
	waitFor(t, "a.log", func() bool { return countRecords(t, kc) == 1 })
	writeConfig(aLog, bLog)
	if err := child.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b.log after the reload", func() bool { return countRecords(t, kc) == 2 })
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Errorf("agent after SIGHUP and SIGTERM: %v, want exit code 0", err)
	}
	if got := readLines(t, kc); len(got) != 2 || !distinct(got)["a.log\n"] || !distinct(got)["b.log\n"] {
		t.Errorf("records %q, want a.log and b.log once each", got)
	}
	logs, _ := os.ReadFile(childLog)
	if !strings.Contains(string(logs), "reloading the configuration") {
		t.Errorf("no reload in the agent's log:\n%s", logs)
	}
}
