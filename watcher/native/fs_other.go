//go:build !linux

package native

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"github.com/reloadd/reloadd/watcher"
)

// list reads dir into l (portable version: os.ReadDir and Lstat).
func (l *lister) list(dir string, stat bool) error {
	l.reset()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, d := range entries {
		name := d.Name()
		if len(name) == 0 || len(name) > 255 {
			continue
		}
		e := listEnt{off: uint32(len(l.names)), nlen: uint8(len(name)), dir: d.IsDir()}
		if stat && !e.dir {
			fi, err := d.Info()
			if err != nil {
				continue
			}
			e.st = stateOfInfo(fi)
		}
		l.names = append(l.names, name...)
		l.ents = append(l.ents, e)
	}
	return nil
}

func stateOfInfo(fi fs.FileInfo) fileState {
	return fileState{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: uint32(fi.Mode())}
}

func lstatState(path string) (fileState, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return fileState{}, err
	}
	return stateOfInfo(fi), nil
}

func hashFile(path string, limit int64) (before fileState, sum uint64, ok, stable bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return fileState{}, 0, false, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileState{}, 0, false, false, err
	}
	before = stateOfInfo(fi)
	if !isRegular(before.mode) || before.size > limit {
		return before, 0, false, true, nil
	}
	sum, _, ok, err = watcher.HashReader(f, limit)
	if err != nil {
		return before, 0, false, false, err
	}
	fi, err = f.Stat()
	if err != nil {
		return before, 0, false, false, err
	}
	return before, sum, ok, stateOfInfo(fi) == before, nil
}

// pathMax is unknown here (0): a path too long shows as ENAMETOOLONG.
const pathMax = 0

func tooLong(path string) bool { return false }

func isTooLong(err error) bool { return errors.Is(err, syscall.ENAMETOOLONG) }

// dirIdent identifies a directory, as os.SameFile does.
type dirIdent struct{ fi fs.FileInfo }

func identify(path string) (dirIdent, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return dirIdent{}, err
	}
	if !fi.IsDir() {
		return dirIdent{}, &os.PathError{Op: "stat", Path: path, Err: syscall.ENOTDIR}
	}
	return dirIdent{fi}, nil
}

func (a dirIdent) same(b dirIdent) bool { return a.fi != nil && b.fi != nil && os.SameFile(a.fi, b.fi) }

// sameDevice is unknown here: a root that changed is reported as replaced.
func (a dirIdent) sameDevice(b dirIdent) bool { return true }

func isGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

func isLimit(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE)
}

func isInstanceLimit(err error) bool { return errors.Is(err, syscall.EMFILE) }

func kernelLimit(instances bool) int { return -1 }
