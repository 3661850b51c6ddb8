package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// okClient accepts every record of every PutRecords call.
type okClient struct {
	nopClient
	mu  sync.Mutex
	seq int
}

func (c *okClient) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := &kinesis.PutRecordsOutput{FailedRecordCount: aws.Int32(0)}
	for range in.Records {
		c.seq++
		out.Records = append(out.Records, types.PutRecordsResultEntry{
			ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String(fmt.Sprintf("%056d", c.seq))})
	}
	return out, nil
}

// checkpointBytes sums the sizes of the checkpoint files written.
type checkpointBytes struct {
	mu            sync.Mutex
	writes, bytes int64
	largest       int64
}

func (h *checkpointBytes) OnCheckpointWritten(e CheckpointEvent) {
	if e.Err != nil {
		return
	}
	fi, err := os.Stat(e.Path)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes++
	h.bytes += fi.Size()
	h.largest = max(h.largest, fi.Size())
}

// TestCheckpointWritesRateLimited checks in fake time the bound on checkpoint bytes written
// while offsets keep moving: 400 tailed files (a checkpoint file of ~140 KB) and one of them
// getting a line every 100ms for a minute. With CheckpointInterval 1s alone that is 60 writes
// (~8 MB); the rate limit (checkpointBytesPerSecond) keeps the bytes written to at most 64 KiB/s
// plus one file, and every line is still delivered and checkpointed at the end.
func TestCheckpointWritesRateLimited(t *testing.T) {
	dir := t.TempDir()
	const files = 400
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("idle-%04d-%s.log", i, strings.Repeat("x", 40))), fmt.Appendf(nil, "old line of file %d\n", i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	busy := filepath.Join(dir, "busy.log")
	if err := os.WriteFile(busy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	synctest.Test(t, func(t *testing.T) {
		cp := filepath.Join(dir, "cp.json")
		cfg := Config{CheckpointFile: cp, Flows: []Flow{{FilePattern: filepath.Join(dir, "*.log"), KinesisStream: "s"}}}
		h := &checkpointBytes{}
		a, err := New(cfg, &okClient{}, WithHooks(h), ShutdownTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		time.Sleep(5 * time.Second) // every file tailed, the first checkpoint written
		synctest.Wait()
		h.mu.Lock()
		w0, b0 := h.writes, h.bytes
		h.mu.Unlock()
		f, err := os.OpenFile(busy, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		const lines = 600
		for i := range lines {
			fmt.Fprintf(f, "line %d\n", i)
			time.Sleep(100 * time.Millisecond)
		}
		synctest.Wait()
		h.mu.Lock()
		writes, written, largest := h.writes-w0, h.bytes-b0, h.largest
		h.mu.Unlock()
		limit := int64(checkpointBytesPerSecond)*60 + largest
		t.Logf("a minute of moving offsets: %d checkpoint writes, %d bytes (limit %d; files of up to %d bytes)", writes, written, limit, largest)
		if largest < 100_000 {
			t.Errorf("the checkpoint file is only %d bytes: the test needs a large one", largest)
		} else if written > limit || writes >= 59 {
			t.Errorf("%d checkpoint writes, %d bytes in a minute; want at most %d bytes (64 KiB/s and one file)", writes, written, limit)
		}
		time.Sleep(10 * time.Second) // the last lines delivered and checkpointed
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if s := a.Stats(); s.RecordsSent != lines {
			t.Errorf("%d records sent, want %d", s.RecordsSent, lines)
		}
	})
	state, err := loadCheckpointFile(filepath.Join(dir, "cp.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range state.Files {
		if c.Path == busy {
			if fi, _ := os.Stat(busy); c.Offset != fi.Size() {
				t.Errorf("busy.log checkpointed at %d, want its size %d", c.Offset, fi.Size())
			}
			return
		}
	}
	t.Error("busy.log not in the checkpoint file")
}
