//go:build !unix

package agent

import (
	"hash/fnv"
	"os"
)

// idOf has no inode to read on this platform: it identifies a file by its name, so a renamed
// file is seen as a new one (rotation by rename re-reads the renamed file from its checkpoint
// only while it keeps its name). The agent is meant for Unix systems.
func idOf(fi os.FileInfo) fileID {
	h := fnv.New64a()
	h.Write([]byte(fi.Name()))
	return fileID{Ino: h.Sum64()}
}
