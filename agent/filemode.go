package agent

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// File modes of the agent's state. The checkpoint file names the tailed files and how far each
// was read: it is written 0600 (os.CreateTemp's mode, renamed into place) in a directory the agent
// creates 0700.
const (
	checkpointDirMode  os.FileMode = 0o700
	checkpointFileMode os.FileMode = 0o600
)

// warnOpenCheckpointPerms logs at Warn when the checkpoint file's directory, made by someone else
// (an administrator, a systemd StateDirectoryMode), or the file itself, lets other users in. The
// agent does not change modes it did not set; the file gets 0600 at its next write anyway.
func warnOpenCheckpointPerms(log *slog.Logger, path string) {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&^checkpointDirMode != 0 {
		log.Warn("the checkpoint file's directory is open to other users: chmod 700 it (the checkpoints name the tailed files)",
			"dir", dir, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&^checkpointFileMode != 0 {
		log.Warn("the checkpoint file is open to other users: it is rewritten 0600 at the next checkpoint",
			"path", path, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
	}
}
