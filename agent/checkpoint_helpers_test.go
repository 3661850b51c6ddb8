package agent_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"testing"
)

type cpEntry struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
}

// readCheckpoint reads the checkpoint file's entries (none when it does not exist yet).
func readCheckpoint(t *testing.T, path string) []cpEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var cf struct{ Files []cpEntry }
	if err := json.Unmarshal(data, &cf); err != nil {
		t.Fatalf("checkpoint file: %v", err)
	}
	return cf.Files
}

// checkpointOffset returns the checkpointed offset of file, or -1.
func checkpointOffset(t *testing.T, cp, file string) int64 {
	t.Helper()
	for _, c := range readCheckpoint(t, cp) {
		if c.Path == file {
			return c.Offset
		}
	}
	return -1
}
