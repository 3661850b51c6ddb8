//go:build linux

package agent

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// inotify is a non-blocking inotify instance: the flows read it at each poll (read never waits),
// so it needs no goroutine of its own.
type inotify struct {
	fd  int
	buf []byte
}

// watchMask: what changes a watched directory reports. Writes and truncations (IN_MODIFY) of the
// files in it, attribute and link-count changes, files created, deleted or renamed, and the
// directory itself going away.
const watchMask = syscall.IN_MODIFY | syscall.IN_ATTRIB | syscall.IN_CREATE | syscall.IN_DELETE |
	syscall.IN_MOVED_FROM | syscall.IN_MOVED_TO | syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF | syscall.IN_ONLYDIR

func newNotifier() (notifier, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	// One read takes many events: 64 KiB holds about 2,000 events with short names.
	return &inotify{fd: fd, buf: make([]byte, 64<<10)}, nil
}

// remoteFS are the magic numbers of file systems whose files may be changed by other hosts
// (network and cluster file systems) or by a user-space server (FUSE): inotify reports only what
// this host's kernel does there, so their directories are polled.
var remoteFS = map[uint32]string{
	0x6969:     "nfs",
	0x517b:     "smb",
	0xff534d42: "cifs",
	0xfe534d42: "smb2",
	0x65735546: "fuse",
	0x01021997: "9p",
	0x00c36400: "ceph",
	0x73757245: "coda",
	0x5346414f: "afs",
	0x01161970: "gfs2",
	0x7461636f: "ocfs2",
	0x0bd00bd0: "lustre",
	0x47504653: "gpfs",
}

func (in *inotify) add(dir string) (int, fileID, error) {
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(dir, &sfs); err != nil {
		return 0, fileID{}, err
	}
	if name, ok := remoteFS[uint32(sfs.Type)]; ok { // the field's type differs by platform
		return 0, fileID{}, fmt.Errorf("%w: %s is on a %s file system", errRemoteFS, dir, name)
	}
	wd, err := syscall.InotifyAddWatch(in.fd, dir, watchMask)
	if err != nil {
		return 0, fileID{}, fmt.Errorf("inotify_add_watch %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		_, _ = syscall.InotifyRmWatch(in.fd, uint32(wd)) // undo the watch; the stat error is the one to report
		return 0, fileID{}, err
	}
	return wd, idOf(fi), nil
}

// remove drops a watch; EINVAL (the kernel dropped it already with its directory) is expected.
func (in *inotify) remove(wd int) { _, _ = syscall.InotifyRmWatch(in.fd, uint32(wd)) }

// read hands every queued event to fn without waiting. It returns overflow when the kernel's
// queue overflowed (IN_Q_OVERFLOW: events were lost).
func (in *inotify) read(fn func(notifyEvent)) (overflow bool, err error) {
	const header = syscall.SizeofInotifyEvent
	for {
		n, err := syscall.Read(in.fd, in.buf)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) || n == 0 {
			return overflow, nil
		}
		if err != nil {
			return overflow, fmt.Errorf("reading inotify events: %w", err)
		}
		for off := 0; off+header <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&in.buf[off]))
			nameLen := int(ev.Len)
			if off+header+nameLen > n {
				break
			}
			name := in.buf[off+header : off+header+nameLen]
			for len(name) > 0 && name[len(name)-1] == 0 {
				name = name[:len(name)-1]
			}
			off += header + nameLen
			if ev.Mask&syscall.IN_Q_OVERFLOW != 0 {
				overflow = true
				continue
			}
			e := notifyEvent{wd: int(ev.Wd), cookie: ev.Cookie, name: string(name)}
			m := ev.Mask
			switch {
			case m&(syscall.IN_IGNORED|syscall.IN_DELETE_SELF|syscall.IN_MOVE_SELF|syscall.IN_UNMOUNT) != 0:
				e.kind = evDirGone
			case m&syscall.IN_MOVED_FROM != 0:
				e.kind = evMovedFrom
			case m&syscall.IN_MOVED_TO != 0:
				e.kind = evMovedTo
			case m&(syscall.IN_CREATE|syscall.IN_DELETE|syscall.IN_ATTRIB) != 0:
				e.kind = evListed
			default:
				e.kind = evWritten
			}
			fn(e)
		}
		// A read that left room for one more event of the longest name took everything queued
		// at that moment: no need for another read that would only say EAGAIN.
		if n <= len(in.buf)-(header+syscall.NAME_MAX+1) {
			return overflow, nil
		}
	}
}

func (in *inotify) close() error { return syscall.Close(in.fd) }
