package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// TestRunShutdownBounded runs an agent whose producer never learns a shard map (so nothing is
// delivered) in a synctest bubble: checkpoints are written periodically, the shutdown flush is
// cut at ShutdownTimeout, and undelivered lines are not checkpointed.
func TestRunShutdownBounded(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logPath, []byte("one\ntwo\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cpPath := filepath.Join(dir, "cp.json")
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{CheckpointFile: cpPath, Flows: []Flow{{FilePattern: filepath.Join(dir, "*.log"), KinesisStream: "s", InitialPosition: StartOfFile}}}
		a, err := New(cfg, nopClient{}, ShutdownTimeout(3*time.Second), CheckpointInterval(time.Second), PollInterval(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		time.Sleep(2500 * time.Millisecond)
		synctest.Wait()
		if s := a.Stats(); s.RecordsRead != 2 || s.RecordsSent != 0 || s.CheckpointsWritten == 0 {
			t.Errorf("running: stats %+v, want 2 read, 0 sent, a checkpoint written", s)
		}
		if err := a.Run(ctx); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run = %v, want ErrRunning", err)
		}
		start := time.Now()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("shutdown took %v, want the 3s ShutdownTimeout", d)
		}
		cps, err := loadCheckpoints(cpPath)
		if err != nil {
			t.Fatal(err)
		}
		if len(cps) != 1 || cps[0].Offset != 0 || cps[0].Path != logPath {
			t.Errorf("checkpoint %+v, want %s at offset 0 (nothing delivered)", cps, logPath)
		}
	})
}

// TestIdleFlushTiming checks in fake time that an open multi-line record is cut after the file
// stayed unchanged for IdleFlush, not before.
func TestIdleFlushTiming(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.log"), []byte("2024 first\n  more\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{CheckpointFile: filepath.Join(dir, "cp.json"), Flows: []Flow{{
			FilePattern: filepath.Join(dir, "*.log"), KinesisStream: "s", InitialPosition: StartOfFile,
			MultiLineStartPattern: `\d{4} `,
		}}}
		a, err := New(cfg, nopClient{}, PollInterval(100*time.Millisecond), IdleFlush(5*time.Second), ShutdownTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		time.Sleep(4900 * time.Millisecond)
		synctest.Wait()
		if n := a.Stats().RecordsRead; n != 0 {
			t.Errorf("after 4.9s: %d records cut, want 0 (IdleFlush is 5s)", n)
		}
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		if n := a.Stats().RecordsRead; n != 1 {
			t.Errorf("after 5.2s: %d records cut, want 1", n)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
