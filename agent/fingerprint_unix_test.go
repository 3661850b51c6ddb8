//go:build unix

package agent_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/shardwise/shardwise/agent"
)

// TestResumeChecksFingerprint gives the agent checkpoints naming the file's own device and inode:
// with the file's first bytes it resumes at the offset; with other first bytes (the inode was
// reused by a new file) it reads the file from the start.
func TestResumeChecksFingerprint(t *testing.T) {
	for _, tt := range []struct {
		name       string
		sameStart  bool
		wantFirst  string
		wantRecord int
	}{
		{"same file", true, "x-5\n", 5},
		{"inode reused", false, "x-0\n", 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 1)
			path := e.path("app.log")
			content := lines("x", 0, 10)
			writeFile(t, path, content)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			start := content
			if !tt.sameStart {
				start = "other\n" // shorter than the file: its first bytes differ
			}
			sum := sha256.Sum256([]byte(start))
			cp := map[string]any{"version": 1, "files": []map[string]any{{
				"filePattern": e.path("app.log"), "kinesisStream": e.stream, "path": path,
				"dev": uint64(st.Dev), "inode": uint64(st.Ino), "fingerprintLen": len(start),
				"fingerprint": hex.EncodeToString(sum[:]), "offset": len(lines("x", 0, 5)),
			}}}
			data, _ := json.Marshal(cp)
			if err := os.MkdirAll(filepath.Dir(e.cp), 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, e.cp, string(data))
			r := e.start([]agent.Flow{e.flow("app.log")})
			got := e.waitRecords(tt.wantRecord)
			waitFor(t, "the checkpoint to reach the end", func() bool { return checkpointOffset(t, e.cp, path) == int64(len(content)) })
			r.stop(t)
			if len(got) != tt.wantRecord || got[0] != tt.wantFirst {
				t.Errorf("got %q, want %d records starting with %q", got, tt.wantRecord, tt.wantFirst)
			}
		})
	}
}
