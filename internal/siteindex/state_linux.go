//go:build linux

package siteindex

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/reloadd/reloadd/internal/unixmode"
	"github.com/reloadd/reloadd/watcher"
)

// list calls fn for every entry of dir (editor noise left out) with the
// lstat of each file, taken with fstatat relative to the open directory:
// no path is resolved from the root per file, which halves the cost of a
// scan of an unchanged tree. Entries that vanish meanwhile are left out;
// an entry that cannot be looked at is left out too, and the first such
// error returned after the rest have been listed.
func (x *Index) list(dir string, fn func(name string, isDir bool, st state)) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return err
	}
	fd := int(f.Fd())
	var st unix.Stat_t
	var firstErr error
	for _, d := range ents {
		name := d.Name()
		if d.IsDir() {
			fn(name, true, state{})
			continue
		}
		if watcher.IsNoise(name) {
			continue
		}
		for {
			err = unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
			if err != unix.EINTR {
				break
			}
		}
		switch {
		case errors.Is(err, unix.ENOENT):
			continue // gone since the listing: absent
		case err != nil:
			if firstErr == nil {
				firstErr = &fs.PathError{Op: "lstat", Path: dir + "/" + name, Err: err}
			}
			continue
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			fn(name, true, state{}) // replaced by a directory since the listing
			continue
		}
		fn(name, false, state{
			size:  st.Size,
			mtime: st.Mtim.Nano(),
			ctime: st.Ctim.Nano(),
			ino:   st.Ino,
			mode:  unixmode.FileMode(st.Mode),
		})
	}
	return firstErr
}

// stateOf is the state of a FileInfo from os.Lstat (tests).
func stateOf(fi fs.FileInfo) state {
	s := fi.Sys().(*syscall.Stat_t)
	return state{size: s.Size, mtime: s.Mtim.Nano(), ctime: s.Ctim.Nano(), ino: s.Ino, mode: fi.Mode()}
}
