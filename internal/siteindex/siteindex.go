// Package siteindex knows a served directory by content, so that after a
// build reloadd can say exactly which files a browser would now see
// differently: a stylesheet, an image, a page, or nothing at all.
//
// An [Index] records, per file, what a stat says (size, mtime, ctime,
// inode, mode) and the xxhash of the content. [Index.Scan] walks the
// directory again and reads only the files whose stat changed, or whose
// record could hide a change (see the design notes); a build that rewrites
// ten thousand pages with the bytes they already had reports nothing.
//
// An Index is not safe for concurrent use: reloadd's build loop owns it.
// It starts no goroutines.
//
// # Design notes
//
// Racy records (git's "racy clean" rule). File timestamps come from a
// clock that ticks every 1–10 ms (whole seconds on FAT and some network
// filesystems), so a file rewritten within the same tick as the scan that
// recorded it can keep its size and mtime. A record whose mtime is within
// racyWindow (coarseRacyWindow for whole-second timestamps) of the scan's
// start is marked racy and re-read by the next scan whatever its stat says.
// The stat is taken before the content is read, so a write during the read
// leaves a record that the next scan re-reads too.
//
// Skipped: the directories of [watcher.DefaultIgnores] (.git,
// node_modules, …) and editor noise: a served tree is rarely a repository,
// but when it is (the default: reloadd serves its first DIR), those are
// large and never what a page shows. Nothing else is skipped — outputs are
// what git ignores, so .gitignore rules do not apply.
//
// Symlinks are recorded as links (the target text is their content); they
// are not followed.
package siteindex

import (
	"cmp"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/reloadd/reloadd/watcher"
)

const (
	// racyWindow covers the coarsest kernel clock tick in use (CONFIG_HZ=100:
	// 10 ms) twice over, as in watcher/native.
	racyWindow = 20 * time.Millisecond
	// coarseRacyWindow covers FAT's 2 s timestamp resolution, for
	// timestamps with no sub-second part.
	coarseRacyWindow = 2 * time.Second
)

// Op is what happened to a file between two scans.
type Op uint8

const (
	// Created: a file that was not there.
	Created Op = iota + 1
	// Written: a file whose content (or type) changed.
	Written
	// Removed: a file that is gone.
	Removed
)

// String returns "created", "written" or "removed".
func (o Op) String() string {
	switch o {
	case Created:
		return "created"
	case Written:
		return "written"
	case Removed:
		return "removed"
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Change is one changed file.
type Change struct {
	// Path is relative to the directory, slash-separated ("css/site.css").
	Path string
	Op   Op
}

// state is what a stat says about a file.
type state struct {
	size  int64
	mtime int64  // unix nanoseconds
	ctime int64  // unix nanoseconds; 0 where the platform has none
	ino   uint64 // 0 where the platform has none
	mode  fs.FileMode
}

// entry is the record of one file.
type entry struct {
	st     state
	hash   uint64
	hashed bool // hash holds the content's xxhash (a link's target text)
	racy   bool // re-read on the next scan whatever the stat says
	seen   bool // seen by the scan in progress
}

// Index is the record of one directory tree. The zero value is not
// usable; call [New].
type Index struct {
	dir     string
	maxHash int64
	files   map[string]*entry
	scans   int
}

// New returns an index of dir with no records: the first [Index.Scan]
// records every file.
func New(dir string) *Index {
	return &Index{dir: filepath.Clean(dir), maxHash: watcher.DefaultMaxHashSize, files: make(map[string]*entry)}
}

// Dir returns the indexed directory.
func (x *Index) Dir() string { return x.dir }

// Len returns the number of files recorded.
func (x *Index) Len() int { return len(x.files) }

// Scan walks the directory, compares every file with its record, records
// what it finds, and returns the changes sorted by path. The first scan
// returns every file as Created. A directory that does not exist (yet) is
// empty. A file or directory that cannot be read is left out of the walk:
// it counts as removed if it was recorded, and the first error is
// returned with the changes (which are still complete for the rest).
func (x *Index) Scan() ([]Change, error) {
	x.scans++
	at := time.Now()
	for _, e := range x.files {
		e.seen = false
	}
	var changes []Change
	var firstErr error
	keep := func(err error) {
		if firstErr == nil && err != nil {
			firstErr = err
		}
	}
	stack := []string{""}
	for len(stack) > 0 {
		rel := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		dir := filepath.Join(x.dir, filepath.FromSlash(rel))
		err := x.list(dir, func(name string, isDir bool, st state) {
			p := name
			if rel != "" {
				p = rel + "/" + name
			}
			if isDir {
				if !skipDir(name) {
					stack = append(stack, p)
				}
				return
			}
			if op, ok := x.check(p, st, at, keep); ok {
				changes = append(changes, Change{Path: p, Op: op})
			}
		})
		if err != nil && !(rel == "" && errors.Is(err, fs.ErrNotExist)) {
			keep(err)
		}
	}
	for p, e := range x.files {
		if !e.seen {
			delete(x.files, p)
			changes = append(changes, Change{Path: p, Op: Removed})
		}
	}
	slices.SortFunc(changes, func(a, b Change) int { return cmp.Compare(a.Path, b.Path) })
	return changes, firstErr
}

// check compares the file at rel, whose lstat is cur, with its record and
// records it anew. It returns the change, if any.
func (x *Index) check(rel string, cur state, at time.Time, keep func(error)) (Op, bool) {
	old, had := x.files[rel]
	if had && old.st == cur && !old.racy {
		old.seen = true
		return 0, false // an equal, trustworthy stat: the same content
	}
	e := x.measure(filepath.Join(x.dir, filepath.FromSlash(rel)), cur, at, keep)
	e.seen = true
	x.files[rel] = &e
	switch {
	case !had:
		return Created, true
	case differs(old, &e):
		return Written, true
	}
	return 0, false
}

// measure records the file at path, whose lstat is cur: the xxhash of a
// regular file up to the hash limit, of a symlink's target text.
func (x *Index) measure(path string, cur state, at time.Time, keep func(error)) entry {
	e := entry{st: cur, racy: racy(cur, at)}
	switch {
	case cur.mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			keep(err)
			e.racy = true
			return e
		}
		e.hash, e.hashed = xxhash.Sum64String(target), true
	case cur.mode.IsRegular() && cur.size <= x.maxHash:
		sum, _, ok, err := watcher.HashFile(path, x.maxHash)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				keep(err)
			}
			e.racy = true // unknown content: look again next time
			return e
		}
		e.hash, e.hashed = sum, ok
	}
	return e
}

// differs reports whether the content recorded in old and cur differ.
func differs(old, cur *entry) bool {
	switch {
	case old.st.mode.Type() != cur.st.mode.Type():
		return true
	case old.hashed && cur.hashed:
		return old.hash != cur.hash
	case !old.hashed && !cur.hashed:
		// Neither was read (larger than the hash limit, not a regular
		// file, unreadable): compare what the stat says about the content.
		return old.st.size != cur.st.size || old.st.mtime != cur.st.mtime || old.st.ino != cur.st.ino
	default:
		return true // one side was never read: it cannot be shown unchanged
	}
}

// racy reports whether a record with this state, made at at, cannot be
// trusted to show a later write in its stat.
func racy(st state, at time.Time) bool {
	window := racyWindow
	if st.mtime%int64(time.Second) == 0 {
		window = coarseRacyWindow
	}
	return st.mtime >= at.UnixNano()-int64(window)
}

// skipDir reports whether a directory of this name is never walked.
func skipDir(name string) bool { return slices.Contains(watcher.DefaultIgnores, name) }
