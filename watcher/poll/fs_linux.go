package poll

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/reloadd/reloadd/internal/unixmode"
)

// statxMask asks only for the fields fstat keeps; the kernel may skip work
// for the rest.
const statxMask = unix.STATX_TYPE | unix.STATX_MODE | unix.STATX_INO | unix.STATX_SIZE |
	unix.STATX_MTIME | unix.STATX_CTIME | unix.STATX_NLINK

func (o *osFS) flags(follow bool) int {
	f := 0
	if !follow {
		f |= unix.AT_SYMLINK_NOFOLLOW
	}
	if o.force {
		f |= unix.AT_STATX_FORCE_SYNC
	}
	return f
}

func (o *osFS) stat(path string, follow bool) (fstat, error) {
	return statxAt(unix.AT_FDCWD, path, o.flags(follow), o.raw, &o.buf)
}

// statxAt is statx of name relative to dirfd without allocating: the name
// is copied into *buf with its terminating NUL. The cold sweep makes ~100k
// of these per pass; unix.Statx's allocation per call cost ~13 % of it.
//
// With raw set the call bypasses the Go scheduler's system call hooks
// (RawSyscall6): see the Design notes ("System calls") for why, and why
// only on local disk filesystems.
func statxAt(dirfd int, name string, flags int, raw bool, buf *[]byte) (fstat, error) {
	b := append(append((*buf)[:0], name...), 0)
	*buf = b
	var sx unix.Statx_t
	for {
		var errno syscall.Errno
		if raw {
			_, _, errno = syscall.RawSyscall6(unix.SYS_STATX, uintptr(dirfd), uintptr(unsafe.Pointer(&b[0])),
				uintptr(flags), uintptr(statxMask), uintptr(unsafe.Pointer(&sx)), 0)
		} else {
			_, _, errno = syscall.Syscall6(unix.SYS_STATX, uintptr(dirfd), uintptr(unsafe.Pointer(&b[0])),
				uintptr(flags), uintptr(statxMask), uintptr(unsafe.Pointer(&sx)), 0)
		}
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return fstat{}, &fs.PathError{Op: "statx", Path: name, Err: errno}
		}
		break
	}
	return fromStatx(&sx), nil
}

func fromStatx(sx *unix.Statx_t) fstat {
	return fstat{
		size:  int64(sx.Size),
		mtime: sx.Mtime.Sec*1e9 + int64(sx.Mtime.Nsec),
		ctime: sx.Ctime.Sec*1e9 + int64(sx.Ctime.Nsec),
		ino:   sx.Ino,
		dev:   unix.Mkdev(sx.Dev_major, sx.Dev_minor),
		mode:  unixmode.FileMode(uint32(sx.Mode)),
		nlink: sx.Nlink,
	}
}

// statOpen stats the open file f, making the kernel ask the filesystem,
// before f is read. A FUSE filesystem's reads stop at the size the kernel
// has cached: through sshfs a file that grew reads as its new bytes cut to
// the old length until the attribute cache expires (and a forced stat of
// the path does not help there, sshfs answers it from its own cache; for
// an open file it asks the server). Without this the poller hashed those
// cut bytes, reported a change, and reported the same save again once the
// whole file showed: one save, two builds.
func statOpen(f *os.File) (fstat, bool) {
	var sx unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_STATX_FORCE_SYNC, statxMask, &sx); err != nil {
		return fstat{}, false
	}
	return fromStatx(&sx), true
}

// linuxDir is a directory opened by its descriptor alone (no *os.File:
// its registration with the runtime's poller is three more system calls
// per directory, for a descriptor that is never waited on).
type linuxDir struct {
	fd       int
	path     string
	flags    int
	raw      bool
	borrowed bool   // a pin's descriptor: close leaves it open
	buf      []byte // statxAt's name buffer
}

func (o *osFS) openDir(path string) (dirHandle, error) {
	fd, err := o.openat(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &linuxDir{fd: fd, path: path, flags: o.flags(false), raw: o.raw}, nil
}

// openat opens path with flags, without an *os.File, through a raw system
// call where o.raw is set.
func (o *osFS) openat(path string, flags int) (int, error) {
	b := append(append(o.buf[:0], path...), 0)
	o.buf = b
	cwd := unix.AT_FDCWD
	for {
		var fd uintptr
		var errno syscall.Errno
		if o.raw {
			fd, _, errno = syscall.RawSyscall6(unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(&b[0])), uintptr(flags), 0, 0, 0)
		} else {
			fd, _, errno = syscall.Syscall6(unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(&b[0])), uintptr(flags), 0, 0, 0)
		}
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return -1, &fs.PathError{Op: "open", Path: path, Err: errno}
		}
		return int(fd), nil
	}
}

// names lists the directory with getdents (through the scheduler's
// hooks: a listing can be long, and it happens only when something
// changed).
func (d *linuxDir) names() ([]string, error) {
	buf := make([]byte, 16<<10)
	var names []string
	for {
		n, err := unix.Getdents(d.fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "readdirent", Path: d.path, Err: err}
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

func (d *linuxDir) lstat(name string) (fstat, error) {
	return statxAt(d.fd, name, d.flags, d.raw, &d.buf)
}

// lstatPlain stats one entry without forcing: the kernel answers from its
// cache while it deems its attributes fresh (see lookup.go).
func (d *linuxDir) lstatPlain(name string) (fstat, error) {
	return statxAt(d.fd, name, d.flags&^unix.AT_STATX_FORCE_SYNC, d.raw, &d.buf)
}

// lstatCached stats one entry from the kernel's cache, never asking the
// filesystem's server for attributes.
func (d *linuxDir) lstatCached(name string) (fstat, error) {
	return statxAt(d.fd, name, d.flags&^unix.AT_STATX_FORCE_SYNC|unix.AT_STATX_DONT_SYNC, d.raw, &d.buf)
}

func (d *linuxDir) close() {
	switch {
	case d.borrowed:
	case d.raw:
		syscall.RawSyscall(unix.SYS_CLOSE, uintptr(d.fd), 0, 0)
	default:
		unix.Close(d.fd)
	}
	d.fd = -1
}

// Pins. Every directory on a local disk filesystem is held open with an
// O_PATH descriptor (which reads nothing and needs no permission), so the
// directory sweep stats it by descriptor, a fraction of the cost of a path
// walk (bench/README.md has the figures), and the cold sweep looks up names
// relative to it without opening anything. The pins of all pollers in the process
// share a cap, a quarter of the descriptor limit and at most [maxPins]:
// directories beyond it are stat'ed by path, as elsewhere.
var (
	pinsOnce sync.Once
	pinsLeft atomic.Int64
)

// maxPins caps the directory descriptors held open by all pollers.
const maxPins = 16384

func (o *osFS) pin(path string) (int, bool) {
	if !o.raw {
		return -1, false
	}
	pinsOnce.Do(func() {
		n := int64(maxPins)
		var rl unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
			n = min(n, int64(rl.Cur/4))
		}
		pinsLeft.Store(n)
	})
	if pinsLeft.Add(-1) < 0 {
		pinsLeft.Add(1)
		return -1, false
	}
	fd, err := o.openat(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		pinsLeft.Add(1)
		return -1, false
	}
	return fd, true
}

func (o *osFS) statPin(fd int) (fstat, error) {
	return statxAt(fd, "", o.flags(false)|unix.AT_EMPTY_PATH, o.raw, &o.buf)
}

func (o *osFS) pinned(fd int) dirHandle {
	return &linuxDir{fd: fd, flags: o.flags(false), raw: o.raw, borrowed: true}
}

func (o *osFS) unpin(fd int) {
	syscall.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	pinsLeft.Add(1)
}

// Filesystem magic numbers (statfs f_type) whose stat can be trusted:
// local disk filesystems, where the kernel updates size, mtime and ctime
// itself on every write.
var trustedFS = map[int64]string{
	0xEF53:     "ext2/3/4",
	0x58465342: "xfs",
	0x9123683E: "btrfs",
	0x01021994: "tmpfs",
	0x858458F6: "ramfs",
	0xF2F52010: "f2fs",
	0x2FC12FC1: "zfs",
	0xCA451A4E: "bcachefs",
	0x794C7630: "overlayfs",
	0x52654973: "reiserfs",
	0x3153464A: "jfs",
}

// statTrusted reports whether stat results on the filesystem holding path
// reflect every change (a local disk filesystem) rather than a cache that
// a remote side updates late (FUSE, NFS, SMB, 9p, vboxsf ...).
func statTrusted(path string) (bool, string) {
	var sf unix.Statfs_t
	if err := unix.Statfs(path, &sf); err != nil {
		return false, "statfs failed: " + err.Error()
	}
	if name, ok := trustedFS[int64(sf.Type)]; ok {
		return true, name
	}
	return false, "filesystem type " + hex(uint64(sf.Type))
}

func hex(v uint64) string {
	const digits = "0123456789abcdef"
	if v == 0 {
		return "0x0"
	}
	var b [18]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = digits[v&0xF]
		v >>= 4
	}
	i -= 2
	b[i], b[i+1] = '0', 'x'
	return string(b[i:])
}

// isMountGone reports errors that mean the filesystem itself is not
// reachable: a FUSE daemon that died (ENOTCONN), a network mount whose
// server went away (EIO, ESTALE, EHOSTDOWN), a device that left (ENODEV).
func isMountGone(err error) bool {
	for _, e := range []error{unix.ENOTCONN, unix.EIO, unix.ESTALE, unix.ENODEV, unix.EHOSTDOWN, unix.ETIMEDOUT} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
