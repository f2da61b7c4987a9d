//go:build linux

package native

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/reloadd/reloadd/watcher"
)

// Masks per watchKind. IN_UNMOUNT, IN_IGNORED and IN_Q_OVERFLOW come
// whatever the mask. IN_EXCL_UNLINK: an unlinked file that is still open
// (a build tool's temporary, a file replaced by git) reports nothing more
// under a name that may belong to a new file by now. IN_MASK_ADD: a
// directory reached as two kinds (a bind mount can make a root's ancestor
// a tree directory too) keeps the union.
const (
	treeMask = unix.IN_CREATE | unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE |
		unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF |
		unix.IN_ONLYDIR | unix.IN_EXCL_UNLINK | unix.IN_MASK_ADD
	sentinelMask = unix.IN_CREATE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE |
		unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR | unix.IN_MASK_ADD
)

// readBuf holds a read's worth of events: 4,096 events without names,
// a few hundred with long ones.
const readBuf = 64 << 10

// inotify is the Linux backend: an inotify instance read directly, so that
// IN_CLOSE_WRITE (a writer finished), IN_UNMOUNT (the filesystem went
// away) and the watch descriptor of every event reach the watcher, which
// fsnotify 1.10 keeps to itself.
type inotify struct {
	fd   int
	file *os.File // fd, registered with the runtime's poller: a blocked read holds no thread, and close wakes it

	mu     sync.Mutex
	byWd   map[int32]string // watch descriptor → directory
	byPath map[string]int32

	buf []byte // read's (one reader at a time)
}

func newBackend() (backend, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	return &inotify{
		fd:     fd,
		file:   os.NewFile(uintptr(fd), "inotify"),
		byWd:   make(map[int32]string),
		byPath: make(map[string]int32),
	}, nil
}

func (in *inotify) add(path string, kind watchKind) (displaced string, err error) {
	mask := uint32(treeMask)
	switch kind {
	case watchTree:
		mask |= unix.IN_DONT_FOLLOW
	case watchSentinel:
		mask = sentinelMask
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	var wd int
	for {
		wd, err = unix.InotifyAddWatch(in.fd, path, mask)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return "", &os.PathError{Op: "inotify_add_watch", Path: path, Err: err}
	}
	w := int32(wd)
	if old, ok := in.byPath[path]; ok && old != w {
		// Another directory is at path now (a mount, or one deleted and
		// created again): the old watch reports on something that is no
		// longer here.
		delete(in.byWd, old)
		unix.InotifyRmWatch(in.fd, uint32(old))
	}
	if p, ok := in.byWd[w]; ok && p != path {
		// The same directory under a new name (renamed, not yet
		// forgotten): it reports under the newest.
		delete(in.byPath, p)
		displaced = p
	}
	in.byWd[w] = path
	in.byPath[path] = w
	return displaced, nil
}

func (in *inotify) remove(path string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	wd, ok := in.byPath[path]
	if !ok {
		return
	}
	delete(in.byPath, path)
	delete(in.byWd, wd)
	// EINVAL: the kernel dropped the watch already (directory deleted,
	// filesystem unmounted); its IN_IGNORED may still be queued.
	unix.InotifyRmWatch(in.fd, uint32(wd))
}

func (in *inotify) close() error { return in.file.Close() }

func (in *inotify) pending() bool {
	rc, err := in.file.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	// TIOCINQ is FIONREAD: the bytes of events queued.
	if rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }) != nil {
		return false // closed
	}
	return n > 0
}

func (in *inotify) read(evs []rawEvent) ([]rawEvent, error) {
	if in.buf == nil {
		in.buf = make([]byte, readBuf)
	}
	n, err := in.file.Read(in.buf)
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return evs, errBackendClosed
		}
		return evs, fmt.Errorf("read inotify events: %w", err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for off := 0; off+unix.SizeofInotifyEvent <= n; {
		raw := (*unix.InotifyEvent)(unsafe.Pointer(&in.buf[off]))
		nameEnd := off + unix.SizeofInotifyEvent + int(raw.Len)
		if nameEnd > n {
			return evs, fmt.Errorf("read inotify events: truncated event (%d of %d bytes)", n-off, nameEnd-off)
		}
		name := in.buf[off+unix.SizeofInotifyEvent : nameEnd]
		off = nameEnd
		for len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		mask := raw.Mask
		if mask&unix.IN_Q_OVERFLOW != 0 {
			evs = append(evs, rawEvent{kind: rawOverflow})
			continue
		}
		dir, ok := in.byWd[raw.Wd]
		if !ok {
			continue // a watch removed since the event was queued
		}
		if mask&unix.IN_IGNORED != 0 {
			// The watch is gone: removed by us, or by the kernel after
			// IN_DELETE_SELF or IN_UNMOUNT (which came first).
			delete(in.byWd, raw.Wd)
			if in.byPath[dir] == raw.Wd {
				delete(in.byPath, dir)
			}
			continue
		}
		switch {
		case mask&unix.IN_UNMOUNT != 0:
			evs = append(evs, rawEvent{path: dir, kind: rawUnmount, dir: dirYes})
			continue
		case mask&unix.IN_DELETE_SELF != 0:
			evs = append(evs, rawEvent{path: dir, op: watcher.Remove, kind: rawSelf, dir: dirYes})
			continue
		case mask&unix.IN_MOVE_SELF != 0:
			evs = append(evs, rawEvent{path: dir, op: watcher.Rename, kind: rawSelf, dir: dirYes})
			continue
		}
		ev := rawEvent{path: dir, dir: dirNo}
		if len(name) > 0 {
			ev.path = joinName(dir, name)
		}
		if mask&unix.IN_ISDIR != 0 {
			ev.dir = dirYes
		}
		if mask&unix.IN_CREATE != 0 {
			ev.op |= watcher.Create
		}
		if mask&unix.IN_MOVED_TO != 0 {
			ev.op |= watcher.Create | watcher.Complete
		}
		if mask&unix.IN_MODIFY != 0 {
			ev.op |= watcher.Write | watcher.Writing // the writer's close follows
		}
		if mask&unix.IN_CLOSE_WRITE != 0 {
			ev.op |= watcher.Write | watcher.Complete
		}
		if mask&unix.IN_DELETE != 0 {
			ev.op |= watcher.Remove
		}
		if mask&unix.IN_MOVED_FROM != 0 {
			ev.op |= watcher.Rename
		}
		if mask&unix.IN_ATTRIB != 0 {
			ev.op |= watcher.Chmod
		}
		if ev.op != 0 {
			evs = append(evs, ev)
		}
	}
	return evs, nil
}

// joinName returns dir/name.
func joinName(dir string, name []byte) string {
	if dir == "/" {
		return "/" + string(name)
	}
	b := make([]byte, 0, len(dir)+1+len(name))
	b = append(b, dir...)
	b = append(b, '/')
	b = append(b, name...)
	return unsafe.String(unsafe.SliceData(b), len(b))
}
