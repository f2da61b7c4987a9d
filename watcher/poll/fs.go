package poll

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/cespare/xxhash/v2"

	"github.com/reloadd/reloadd/watcher"
)

// fstat is what the poller keeps of a stat result: the fields that change
// when a file's content or identity changes.
type fstat struct {
	size  int64
	mtime int64 // unix nanoseconds
	ctime int64 // unix nanoseconds; 0 where the platform has none
	ino   uint64
	dev   uint64
	mode  fs.FileMode // type bits and permissions
	nlink uint32      // 0 for a removed directory still held open; 0 where unknown
}

// fileSystem is everything the index needs from the filesystem. The real
// one is osFS; the table tests use an in-memory fake, so that the diff
// logic (tree.go, rescan.go, judge.go) can be tested on "what was there"
// and "what is there" without a disk.
type fileSystem interface {
	// stat stats path; follow says whether a final symlink is followed
	// (only for roots).
	stat(path string, follow bool) (fstat, error)
	// openDir opens a directory to list and stat its entries.
	openDir(path string) (dirHandle, error)
	// hash returns the xxhash of the content of the file at path (of the
	// link text for a symlink). ok is false when the file is larger than
	// the hash limit.
	hash(path string, mode fs.FileMode) (sum uint64, ok bool, err error)
}

// freshStater is implemented by filesystems that can say what the file
// their last hash read looked like, as the server sees it (osFS on
// shares). judge uses it where no hash was recorded before: a stat that
// lags (sshfs) cannot tell whether the file changed since it was last
// stat'ed, the file as read can.
type freshStater interface {
	lastFresh() (fstat, bool)
}

// pinner is implemented by filesystems that can hold a directory open and
// stat it by its descriptor, which skips the path walk: osFS on Linux, on
// local disk filesystems only (see the Design notes, "System calls").
type pinner interface {
	// pin opens the directory at path to stat it later; ok is false when
	// it cannot, or should not (too many pins), be held open.
	pin(path string) (fd int, ok bool)
	// statPin stats the pinned directory itself.
	statPin(fd int) (fstat, error)
	// pinned returns a handle whose lstat looks up names relative to the
	// pin. Its names method must not be used, and its close does nothing.
	pinned(fd int) dirHandle
	unpin(fd int)
}

// dirHandle is an open directory.
type dirHandle interface {
	// names lists the entries, in no particular order, without . and ..
	names() ([]string, error)
	// lstat stats one entry, never following a symlink.
	lstat(name string) (fstat, error)
	close()
}

// osFS is the real filesystem. force asks the platform to revalidate
// cached attributes (statx AT_STATX_FORCE_SYNC on Linux) on every stat;
// raw, set only for local disk filesystems, makes the stats and directory
// opens bypass the Go scheduler's system call hooks (see the Design notes,
// "System calls"). It is used by the loop goroutine alone (buf is its
// scratch space).
type osFS struct {
	force bool
	raw   bool
	limit int64
	buf   []byte
	// fresh is the stat of the file the last hash read, taken through its
	// open descriptor (where force is set): on sshfs that asks the server,
	// while a stat of the path is answered from sshfs's cache.
	fresh   fstat
	freshOK bool
}

// lastFresh returns the stat of the file the last hash read, if it has one.
func (o *osFS) lastFresh() (fstat, bool) { return o.fresh, o.freshOK }

// otherDevice returns the filesystem to use for directories on another
// device than the root's (a mount inside the tree): nothing is known about
// that one, so no raw system calls there.
func (o *osFS) otherDevice() fileSystem {
	return &osFS{force: o.force, limit: o.limit}
}

func (o *osFS) hash(path string, mode fs.FileMode) (uint64, bool, error) {
	if mode&fs.ModeSymlink != 0 {
		target, err := os.Readlink(path)
		if err != nil {
			return 0, false, err
		}
		return xxhash.Sum64String(target), true, nil
	}
	o.freshOK = false
	if !o.force {
		sum, _, ok, err := watcher.HashFile(path, o.limit)
		return sum, ok, err
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	o.fresh, o.freshOK = statOpen(f)
	sum, _, ok, err := watcher.HashReader(f, o.limit)
	return sum, ok, err
}

// join is filepath.Join for a clean directory and a plain name, without
// Join's Clean pass.
func join(dir, name string) string {
	if len(dir) > 0 && os.IsPathSeparator(dir[len(dir)-1]) {
		return dir + name
	}
	return dir + string(filepath.Separator) + name
}

// isGone reports errors that mean "this path is not there (any more)":
// the file vanished between readdir and stat, or a path component is no
// longer a directory.
func isGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// isDenied reports a permission error.
func isDenied(err error) bool { return errors.Is(err, fs.ErrPermission) }
