//go:build unix

package agent

import (
	"os"
	"syscall"
)

// idOf returns the file's device and inode numbers.
func idOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)} //nolint:unconvert // the field types differ by platform
	}
	return fileID{}
}
