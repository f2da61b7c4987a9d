//go:build !linux

package siteindex

import (
	"errors"
	"io/fs"
	"os"

	"github.com/reloadd/reloadd/watcher"
)

// list calls fn for every entry of dir (editor noise left out) with the
// lstat of each file (portable version: size, mtime and mode; a rewrite
// that keeps them is caught by the racy rule or the hash). Entries that
// vanish meanwhile are left out; an entry that cannot be looked at is left
// out too, and the first such error returned after the rest.
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
		fi, err := d.Info()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		fn(name, fi.IsDir(), stateOf(fi))
	}
	return firstErr
}

func stateOf(fi fs.FileInfo) state {
	return state{size: fi.Size(), mtime: fi.ModTime().UnixNano(), mode: fi.Mode()}
}
