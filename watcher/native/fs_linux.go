//go:build linux

package native

import (
	"errors"
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/reloadd/reloadd/watcher"

	"github.com/reloadd/reloadd/internal/unixmode"
)

// getdentsBuf is the directory-read buffer: a few hundred entries per
// system call.
const getdentsBuf = 32 << 10

// list reads dir into l. With stat set, every entry that is not a
// directory gets its state from fstatat relative to the open directory (no
// path is built and no FileInfo allocated per file, which keeps a 100k-file
// start-up fast and small). Entries that vanish meanwhile are left out.
func (l *lister) list(dir string, stat bool) error {
	l.reset()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if l.buf == nil {
		l.buf = make([]byte, getdentsBuf)
	}
	var st unix.Stat_t
	for {
		n, err := unix.Getdents(fd, l.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "getdents", Path: dir, Err: err}
		}
		if n <= 0 {
			return nil
		}
		for b := l.buf[:n]; len(b) >= 19; {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < 19 || reclen > len(b) {
				return &os.PathError{Op: "getdents", Path: dir, Err: syscall.EIO}
			}
			typ := b[18]
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			b = b[reclen:]
			if len(name) == 0 || len(name) > 255 || string(name) == "." || string(name) == ".." {
				continue
			}
			e := listEnt{off: uint32(len(l.names)), nlen: uint8(len(name)), dir: typ == unix.DT_DIR}
			if typ == unix.DT_UNKNOWN || (stat && typ != unix.DT_DIR) {
				// The name is only read during the call: no copy needed.
				if err := unix.Fstatat(fd, unsafe.String(&name[0], len(name)), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
					continue // gone already, or unreadable: treat as absent
				}
				e.st = stateOf(&st)
				e.dir = st.Mode&unix.S_IFMT == unix.S_IFDIR
			}
			l.names = append(l.names, name...)
			l.ents = append(l.ents, e)
		}
	}
}

// stateOf converts a stat result.
func stateOf(st *unix.Stat_t) fileState {
	return fileState{
		size:  st.Size,
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
		ino:   st.Ino,
		mode:  uint32(unixmode.FileMode(st.Mode)),
	}
}

// lstatState returns the state of path itself (a symlink is not followed).
func lstatState(path string) (fileState, error) {
	var st unix.Stat_t
	for {
		err := unix.Lstat(path, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fileState{}, &os.PathError{Op: "lstat", Path: path, Err: err}
		}
		return stateOf(&st), nil
	}
}

// hashFile hashes the regular file at path, streamed, if it is at most
// limit bytes. before is the state of the open file before reading;
// stable reports that its state was the same after reading, so the hash is
// the content of that state. It opens with O_NONBLOCK and O_NOFOLLOW so
// that a FIFO or symlink swapped in since the caller's lstat can neither
// block nor redirect it.
func hashFile(path string, limit int64) (before fileState, sum uint64, ok, stable bool, err error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fileState{}, 0, false, false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fileState{}, 0, false, false, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	before = stateOf(&st)
	if !isRegular(before.mode) || before.size > limit {
		return before, 0, false, true, nil
	}
	sum, _, ok, err = watcher.HashReader(fdReader(fd), limit)
	if err != nil {
		return before, 0, false, false, &os.PathError{Op: "read", Path: path, Err: err}
	}
	if err := unix.Fstat(fd, &st); err != nil {
		return before, 0, false, false, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	return before, sum, ok, stateOf(&st) == before, nil
}

// fdReader reads a file descriptor directly: hashing thousands of small
// files should not allocate an *os.File (and register it with the
// poller) for each.
type fdReader int

func (fd fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(fd), p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// pathMax is the longest path the kernel takes, with its NUL: a path of
// pathMax bytes or more fails with ENAMETOOLONG.
const pathMax = unix.PathMax

// tooLong reports whether path is too long to be used by name.
func tooLong(path string) bool { return len(path) >= pathMax }

// isTooLong reports whether err says a path was too long.
func isTooLong(err error) bool { return errors.Is(err, unix.ENAMETOOLONG) }

// dirIdent identifies a directory: its device and inode.
type dirIdent struct{ dev, ino uint64 }

// identify returns the identity of the directory at path (a symlink is
// followed, as for a root); an error wrapping ENOTDIR if it is something
// else.
func identify(path string) (dirIdent, error) {
	var st unix.Stat_t
	for {
		err := unix.Stat(path, &st)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return dirIdent{}, &os.PathError{Op: "stat", Path: path, Err: err}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return dirIdent{}, &os.PathError{Op: "stat", Path: path, Err: unix.ENOTDIR}
		}
		return dirIdent{dev: uint64(st.Dev), ino: st.Ino}, nil // Dev is uint32 on mips
	}
}

// same reports whether a and b are the same directory.
func (a dirIdent) same(b dirIdent) bool { return a == b }

// sameDevice reports whether a and b are on the same filesystem.
func (a dirIdent) sameDevice(b dirIdent) bool { return a.dev == b.dev }

// isGone reports whether err means the path does not exist (any more).
func isGone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)
}

// isLimit reports whether err is the kernel refusing another inotify
// watch or instance.
func isLimit(err error) bool {
	return errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EMFILE)
}

// isInstanceLimit reports whether err is the instance limit (EMFILE).
func isInstanceLimit(err error) bool { return errors.Is(err, unix.EMFILE) }

// kernelLimit returns the effective inotify limit on watches (or, with
// instances set, on instances) for this user: the smaller of the system
// sysctl and the user namespace's own limit; -1 if unknown.
func kernelLimit(instances bool) int {
	files := []string{"/proc/sys/fs/inotify/max_user_watches", "/proc/sys/user/max_inotify_watches"}
	if instances {
		files = []string{"/proc/sys/fs/inotify/max_user_instances", "/proc/sys/user/max_inotify_instances"}
	}
	limit := -1
	for _, f := range files {
		if n, ok := readInt(f); ok && (limit < 0 || n < limit) {
			limit = n
		}
	}
	return limit
}
