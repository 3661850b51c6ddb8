package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// checkpointVersion is the format version of the checkpoint file.
const checkpointVersion = 1

// fileCheckpoint is one file's entry in the checkpoint file: which file (flow, identity,
// fingerprint, last known path) and the offset up to which every record was delivered.
type fileCheckpoint struct {
	FilePattern    string `json:"filePattern"`
	Stream         string `json:"kinesisStream"`
	Path           string `json:"path"`
	Dev            uint64 `json:"dev"`
	Inode          uint64 `json:"inode"`
	FingerprintLen int    `json:"fingerprintLen"`
	Fingerprint    string `json:"fingerprint,omitempty"`
	Offset         int64  `json:"offset"`
	// LastSeen is when the file was last found (refreshed now and then while it is tailed): an
	// entry whose file is no longer found is kept until LastSeen is older than the checkpoint
	// TTL (checkpointTimeToLiveDays). Zero in files written before it existed: the load time.
	LastSeen time.Time `json:"lastSeen,omitzero"`
}

// flowMarker says that a flow has started once: initialPosition applies only to the files its
// very first scan finds, never again (lines written while the agent restarts are not skipped),
// even when the flow has no file entry.
type flowMarker struct {
	FilePattern string    `json:"filePattern"`
	Stream      string    `json:"kinesisStream"`
	Started     time.Time `json:"started"`
}

type checkpointFile struct {
	Version int              `json:"version"`
	Flows   []flowMarker     `json:"flows,omitempty"`
	Files   []fileCheckpoint `json:"files"`
}

func (c fileCheckpoint) id() fileID { return fileID{Dev: c.Dev, Ino: c.Inode} }

func (c fileCheckpoint) fingerprint() fingerprint {
	return fingerprint{N: c.FingerprintLen, Sum: c.Fingerprint}
}

// loadCheckpoints reads the checkpoint file. A missing file is an empty checkpoint; an
// unreadable or corrupt one is a *CheckpointError (wrapping ErrCorruptCheckpoint when the content
// is bad).
func loadCheckpoints(path string) ([]fileCheckpoint, error) {
	cf, err := loadCheckpointFile(path)
	return cf.Files, err
}

// loadCheckpointFile reads the whole checkpoint file: the flows' started markers and the file
// entries (times in UTC). A missing file is empty.
func loadCheckpointFile(path string) (checkpointFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return checkpointFile{}, nil
	}
	if err != nil {
		return checkpointFile{}, &CheckpointError{Path: path, Op: "read", Err: err}
	}
	var cf checkpointFile
	if err := json.Unmarshal(data, &cf); err != nil {
		return checkpointFile{}, &CheckpointError{Path: path, Op: "parse", Err: fmt.Errorf("%w: %v (move it aside to start over)", ErrCorruptCheckpoint, err)}
	}
	if cf.Version != checkpointVersion {
		return checkpointFile{}, &CheckpointError{Path: path, Op: "parse", Err: fmt.Errorf("%w: version %d, want %d", ErrCorruptCheckpoint, cf.Version, checkpointVersion)}
	}
	for i, c := range cf.Files {
		if c.Offset < 0 || c.FingerprintLen < 0 || c.FingerprintLen > fingerprintMax {
			return checkpointFile{}, &CheckpointError{Path: path, Op: "parse", Err: fmt.Errorf("%w: bad entry for %s", ErrCorruptCheckpoint, c.Path)}
		}
		cf.Files[i].LastSeen = c.LastSeen.UTC()
	}
	for i := range cf.Flows {
		cf.Flows[i].Started = cf.Flows[i].Started.UTC()
	}
	return cf, nil
}

// checkCheckpointDir makes sure the checkpoint file can be written: its directory exists (it is
// created if missing) and a file can be created in it. Run calls it at start, so a read-only or
// missing state directory stops the agent at once with a clear error rather than after the first
// records were sent.
func checkCheckpointDir(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, checkpointDirMode); err != nil {
		return &CheckpointError{Path: path, Op: "check", Err: fmt.Errorf("cannot create its directory: %w", err)}
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".probe*")
	if err != nil {
		return &CheckpointError{Path: path, Op: "check", Err: fmt.Errorf("directory %s is not writable: %w", dir, err)}
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// encodeCheckpointFile encodes cf as JSON with one file entry per line, compact: readable, and
// five times cheaper to make than indented JSON (2,000 entries: 2 ms instead of 10 ms).
func encodeCheckpointFile(cf checkpointFile) ([]byte, error) {
	head, err := json.Marshal(struct {
		Version int          `json:"version"`
		Flows   []flowMarker `json:"flows,omitempty"`
	}{cf.Version, cf.Flows})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Grow(len(head) + 16 + 400*len(cf.Files))
	b.Write(head[:len(head)-1])
	b.WriteString(`,"files":[`)
	enc := json.NewEncoder(&b) // Encode appends a newline: one entry per line
	for i, c := range cf.Files {
		if i > 0 {
			b.Truncate(b.Len() - 1)
			b.WriteString(",\n")
		} else {
			b.WriteByte('\n')
		}
		if err := enc.Encode(c); err != nil {
			return nil, err
		}
	}
	b.WriteString("]}\n")
	return b.Bytes(), nil
}

// writeCheckpoints replaces the checkpoint file atomically and durably: a temporary file in the
// same directory is written and fsynced, renamed over the old one, and the directory is fsynced,
// so a crash leaves either the old or the new file, never a torn one.
func writeCheckpoints(path string, files []fileCheckpoint) error {
	return writeCheckpointFile(path, checkpointFile{Files: files})
}

// writeCheckpointFile is writeCheckpoints with the flows' started markers.
func writeCheckpointFile(path string, cf checkpointFile) (err error) {
	defer func() {
		if err != nil {
			err = &CheckpointError{Path: path, Op: "write", Err: err}
		}
	}()
	cf.Version = checkpointVersion
	data, err := encodeCheckpointFile(cf)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, checkpointDirMode); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
