//go:build !linux

package poll

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// statOpen is the stat of the open file f (see the Linux version).
func statOpen(f *os.File) (fstat, bool) {
	fi, err := f.Stat()
	if err != nil {
		return fstat{}, false
	}
	return toFstat(fi), true
}

func (o *osFS) stat(path string, follow bool) (fstat, error) {
	var fi fs.FileInfo
	var err error
	if follow {
		fi, err = os.Stat(path)
	} else {
		fi, err = os.Lstat(path)
	}
	if err != nil {
		return fstat{}, err
	}
	return toFstat(fi), nil
}

func toFstat(fi fs.FileInfo) fstat {
	ctime, ino, dev := statExtra(fi)
	return fstat{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ctime: ctime, ino: ino, dev: dev, mode: fi.Mode()}
}

type pathDir struct {
	path string
	f    *os.File
}

func (o *osFS) openDir(path string) (dirHandle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &pathDir{path: path, f: f}, nil
}

func (d *pathDir) names() ([]string, error) { return d.f.Readdirnames(-1) }

func (d *pathDir) lstat(name string) (fstat, error) {
	fi, err := os.Lstat(join(d.path, name))
	if err != nil {
		return fstat{}, err
	}
	return toFstat(fi), nil
}

func (d *pathDir) close() { d.f.Close() }

// statTrusted: without a portable statfs, stat is trusted; use
// Options.Stat = StatDistrust for network shares.
func statTrusted(path string) (bool, string) { return true, "stat trusted on this platform" }

// isMountGone reports errors that mean the filesystem is not reachable.
func isMountGone(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	return errno == syscall.EIO || errno == syscall.ENOTCONN || errno == syscall.ENODEV
}
