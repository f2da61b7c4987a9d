package native

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// Design notes: when is a file unchanged?
//
// The index keeps, per file, the state of a stat (size, mtime, ctime,
// inode, mode) and the xxhash of the content, as last recorded: at start-up
// (the baseline) or when Verify last reported the file. Verify compares a
// path's current state with that record, so the net effect of any sequence
// of events falls out by itself: a temporary file that came and went was
// absent before and after; a rename-style save with new bytes is a Write,
// with the same bytes nothing; a touch or chmod changes the stat but not
// the hash. An equal stat is trusted without reading the file, unless the
// record is "racy".
//
// Racy records (git's "racy clean" problem). File timestamps come from a
// clock that ticks every 1–10 ms (the kernel's jiffy; whole seconds on
// FAT, HFS+ and some network filesystems), so a write in the same tick as
// the moment a file's state was recorded can leave size and mtime as they
// were. A record whose mtime is within racyWindow (coarseRacyWindow for
// whole-second timestamps) of when it was made is marked racy: an event for
// it always re-reads the file. Only mtime matters here: every content
// change moves mtime to "now"; ctime is part of the compared state, which
// catches chmod and rename, but a racy ctime alone cannot hide a write.
//
// Baseline. New stats every file synchronously (fast: fstatat relative to
// the open directory, no path built; ~2 µs per file) but does not read
// them; the worker goroutine then hashes them in the background (see
// warm.go). A file whose event arrives before its baseline hash is known
// counts as changed: never miss a change, at worst one build too many. The
// background hash is attached to the start-up record only if the file's
// state is still exactly that record both before and after reading it, and
// the record is not racy; so a write racing the warm-up either changed the
// state (the hash is discarded, the event counts as a change) or happened
// after the read (the hash is the old content, the event compares against
// it). Racy start-up records (files modified within racyWindow of New) get
// no baseline hash at all: the first event for them counts as a change.
const (
	// racyWindow covers the coarsest kernel clock tick in use (CONFIG_HZ=100:
	// 10 ms) twice over.
	racyWindow = 20 * time.Millisecond
	// coarseRacyWindow covers FAT's 2 s timestamp resolution, for
	// timestamps with no sub-second part.
	coarseRacyWindow = 2 * time.Second
)

// racyFlag returns flagRacy if a state with this mtime, recorded at at,
// cannot be trusted to change when the content does.
func racyFlag(st fileState, at time.Time) uint8 {
	window := racyWindow
	if st.mtime%int64(time.Second) == 0 {
		window = coarseRacyWindow
	}
	if st.mtime >= at.UnixNano()-int64(window) {
		return flagRacy
	}
	return 0
}

func isRegular(mode uint32) bool { return os.FileMode(mode).IsRegular() }
func isDir(mode uint32) bool     { return os.FileMode(mode).IsDir() }
func isSymlink(mode uint32) bool { return os.FileMode(mode)&os.ModeSymlink != 0 }

// kind is the type part of a mode: a regular file that becomes a symlink
// has changed whatever the hashes say.
func kind(mode uint32) uint32 { return mode & uint32(os.ModeType) }

// measure records the current state of path, whose lstat is cur: it
// hashes a regular file up to limit bytes and a symlink's target text.
func measure(path string, cur fileState, limit int64) (entry, error) {
	at := time.Now()
	switch {
	case isSymlink(cur.mode):
		target, err := os.Readlink(path)
		if err != nil {
			return entry{}, err
		}
		return entry{st: cur, hash: xxhash.Sum64String(target), flags: flagHashed | racyFlag(cur, at)}, nil
	case !isRegular(cur.mode) || cur.size > limit:
		return entry{st: cur, flags: flagNoHash | racyFlag(cur, at)}, nil
	}
	st, sum, ok, _, err := hashFile(path, limit)
	if err != nil {
		return entry{}, err
	}
	e := entry{st: st, flags: racyFlag(st, at)}
	if ok {
		e.hash, e.flags = sum, e.flags|flagHashed
	} else {
		e.flags |= flagNoHash
	}
	return e, nil
}

// differs reports whether the content recorded in old and cur differ.
func differs(old, cur entry) bool {
	switch {
	case kind(old.st.mode) != kind(cur.st.mode):
		return true
	case old.flags&flagHashed != 0 && cur.flags&flagHashed != 0:
		return old.hash != cur.hash
	case old.flags&flagNoHash != 0 && cur.flags&flagNoHash != 0:
		return old.st.size != cur.st.size || old.st.mtime != cur.st.mtime || old.st.ino != cur.st.ino
	default:
		// No baseline hash (not hashed yet, or racy at start-up), or one side
		// crossed the hash limit: it cannot be shown unchanged.
		return true
	}
}

// lister reads directories into reusable buffers.
type lister struct {
	buf   []byte // platform read buffer
	names []byte
	ents  []listEnt
	path  []byte // join's buffer
}

// join returns dir/name without allocating: the string shares the
// lister's buffer and is valid only until the next join. Callers pass it
// to functions that do not keep it (the filter's Match), and clone it to
// keep it.
func (l *lister) join(dir string, name []byte) string {
	l.path = append(l.path[:0], dir...)
	if len(dir) == 0 || dir[len(dir)-1] != filepath.Separator {
		l.path = append(l.path, filepath.Separator)
	}
	l.path = append(l.path, name...)
	return unsafe.String(unsafe.SliceData(l.path), len(l.path))
}

// listEnt is one directory entry; its name is lister.names[off:][:nlen].
type listEnt struct {
	st   fileState // set for non-directories when stat was asked for
	off  uint32
	nlen uint8
	dir  bool
}

func (l *lister) reset() {
	l.names = l.names[:0]
	l.ents = l.ents[:0]
}

func (l *lister) name(i int) string {
	e := &l.ents[i]
	return string(l.names[e.off : e.off+uint32(e.nlen)])
}

// readInt reads a number from a /proc file.
func readInt(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}
