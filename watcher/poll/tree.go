package poll

// The index: a table of directories, each with its entries sorted by name,
// and the roots they belong to. Layout and lookup live here; looking at
// the filesystem is in rescan.go (directories), judge.go (files), pin.go
// (held-open directories) and root.go (roots that go away and come back).

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/reloadd/reloadd/watcher"
)

// Entry flags.
const (
	fHashed  uint8 = 1 << iota // hash holds the xxhash of the content
	fRacy                      // last stat was too close to its mtime to prove "unchanged" later
	fBig                       // larger than the hash limit: compared by stat alone
	fIgnored                   // the filter ignores it: listed (so name sets compare) but never looked at
)

// entry is one name in a directory listing. Its fields are fixed-size (56
// bytes); the name lives in the directory's names string.
type entry struct {
	size  int64
	mtime int64
	ctime int64
	ino   uint64
	hash  uint64
	mode  fs.FileMode
	child int32  // index in tree.dirs for a watched directory, else -1
	name  uint32 // offset of the name in dirRec.names
	nlen  uint16
	flags uint8
}

func (e *entry) isDir() bool { return e.mode.IsDir() }

// Directory flags.
const (
	dLive   uint8 = 1 << iota // the slot is in use
	dRacy                     // mtime too close to the last check to trust "unchanged"
	dDenied                   // could not be read; reported once
	dDirty                    // queued for a full rescan
	dListed                   // listed at least once
)

// dirRec is one watched directory: its own stat and its entries sorted by
// name, with all names in one string.
type dirRec struct {
	path   string
	names  string
	ents   []entry
	mtime  int64
	ctime  int64
	ino    uint64
	dev    uint64
	parent int32 // -1 for a root
	root   int32 // index in tree.roots
	pin    int32 // descriptor holding it open (pinner), or -1
	gen    uint32
	flags  uint8
}

func (d *dirRec) name(e *entry) string { return d.names[e.name : e.name+uint32(e.nlen)] }

// find returns the index of name in d.ents.
func (d *dirRec) find(name string) (int, bool) {
	return slices.BinarySearchFunc(d.ents, name, func(e entry, n string) int {
		return strings.Compare(d.names[e.name:e.name+uint32(e.nlen)], n)
	})
}

// rootRec is one watched root.
type rootRec struct {
	path       string
	dir        int32
	fs         fileSystem
	nested     fileSystem // for directories on another device (a mount in the tree)
	distrust   bool       // a share: stat is not kept by this kernel (share.go)
	share      *shareState
	fstype     string // what statfs says the filesystem is
	racy       int64  // racy window in ns: the filesystem's timestamp granularity
	dev        uint64 // device of the root directory
	parentDev  uint64
	mountPoint bool // dev != parentDev at the start: the root is a mount point
	down       bool // unreachable; its dirs are skipped until it is back
	nextTry    time.Time
}

// inoKey identifies a file across names, for rename matching. A rename
// keeps the inode and the mtime; a new file that reuses a freed inode number
// (ext4 hands them out again at once) has a new mtime.
type inoKey struct {
	dev, ino uint64
	mtime    int64
}

// fileRef names a file of the index for the scheduler's hot set.
type fileRef struct {
	dir  int32
	gen  uint32
	name string
}

// tree is the index: a table of directories, each with its sorted entries.
// It is mutable state, owned by the loop goroutine: every method compares
// what was recorded with what the fileSystem shows now, records what it
// saw, and appends the difference to events. Its only window on the world
// is the fileSystem, so the table tests drive it with an in-memory one.
type tree struct {
	filter *watcher.Filter

	dirs  []dirRec
	free  []int32
	roots []rootRec
	gen   uint32

	nfiles int // files (non-directories) in the index
	ndirs  int

	now   time.Time   // when the current pass started
	quiet bool        // baseline: record, do not report
	obs   observation // what the last judge learnt (share.go)
	// hashUntil: the baseline hashes files, the most recently modified
	// first, until this time; the rest are left for the fill pass or the
	// read sweep.
	hashUntil time.Time

	// rescanTime is the time checkDir spent rescanning directories that
	// changed: work paid for by the change, not by the sweep's budget.
	rescanTime time.Duration

	// unwatched are the directories not watched because their path is
	// longer than the system's PATH_MAX; tooLongSaid records that a root's
	// first one was reported.
	unwatched   map[string]struct{}
	tooLongSaid map[int32]bool

	// reported holds, per path, the state Verify last returned for it, or
	// for a path it never returned, the state before its first reported
	// change (absent for a new file). Verify returns only what differs
	// from it (verify.go).
	reported map[string]verState

	events  []watcher.Event
	errs    []error
	gone    map[inoKey]int // index in events of this pass's removals
	born    map[inoKey]int // index in events of this pass's creations
	dirty   []int32        // directories to rescan
	changed []fileRef      // files reported this pass (for the hot set)
	chdirs  []int32        // directories whose listing changed this pass
}

func newTree(filter *watcher.Filter) *tree { return &tree{filter: filter} }

// addRoot indexes the directory tree at path (absolute, clean) without
// reporting anything: the baseline.
func (t *tree) addRoot(path string, fsys fileSystem, distrust bool, fstype string, racy time.Duration) error {
	st, err := fsys.stat(path, true)
	if err != nil {
		return err
	}
	if !st.mode.IsDir() {
		return errors.New("not a directory")
	}
	r := rootRec{path: path, fs: fsys, nested: fsys, distrust: distrust, fstype: fstype, racy: int64(racy), dev: st.dev, parentDev: st.dev}
	if distrust {
		r.share = newShareState(false)
	}
	if o, ok := fsys.(interface{ otherDevice() fileSystem }); ok {
		r.nested = o.otherDevice()
	}
	if parent := parentOf(path); parent != path {
		if pst, err := fsys.stat(parent, true); err == nil {
			r.parentDev = pst.dev
			r.mountPoint = pst.dev != st.dev
		}
	}
	ri := int32(len(t.roots))
	t.roots = append(t.roots, r)
	di := t.newDir(path, -1, ri, st)
	if t.dirs[di].flags&dRacy == 0 && t.isRacy(di, st) {
		t.dirs[di].flags |= dRacy
	}
	t.roots[ri].dir = di
	quiet := t.quiet
	t.quiet = true
	t.rescan(di, false)
	t.quiet = quiet
	t.hashBaseline(ri)
	return nil
}

// hashBaseline hashes root ri's files until hashUntil, the most recently
// modified first: those are the likeliest to be edited next, and the ones
// a stat cannot vouch for (a second write within the timestamp's
// granularity, sftp's whole seconds, leaves it as it was), so they need a
// recorded hash most.
func (t *tree) hashBaseline(ri int32) {
	type ref struct {
		di    int32
		i     int
		mtime int64
	}
	var files []ref
	for di := range t.dirs {
		d := &t.dirs[di]
		if d.flags&dLive == 0 || d.root != ri {
			continue
		}
		for i := range d.ents {
			if e := &d.ents[i]; e.flags&(fHashed|fBig|fIgnored) == 0 && hashable(e.mode) {
				files = append(files, ref{int32(di), i, e.mtime})
			}
		}
	}
	slices.SortFunc(files, func(a, b ref) int { return cmp.Compare(b.mtime, a.mtime) })
	for _, f := range files {
		if !time.Now().Before(t.hashUntil) {
			return
		}
		d := &t.dirs[f.di]
		e := &d.ents[f.i]
		sum, ok, err := t.fsOf(f.di).hash(join(d.path, d.name(e)), e.mode)
		switch {
		case err != nil:
		case ok:
			e.hash = sum
			e.flags |= fHashed
		default:
			e.flags |= fBig
		}
	}
}

// lookup finds path in the index: the directory holding it and its name
// there, or, for a path the index does not reach, the nearest indexed
// directory above it and name "". ok is false outside every root.
func (t *tree) lookup(path string) (di int32, name string, ok bool) {
	best := -1
	for ri := range t.roots {
		r := &t.roots[ri]
		if inside(r.path, path) {
			if best < 0 || len(r.path) > len(t.roots[best].path) {
				best = ri
			}
		}
	}
	if best < 0 {
		return 0, "", false
	}
	r := &t.roots[best]
	di = r.dir
	if !t.live(di) {
		return 0, "", false
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(path, r.path), string(filepath.Separator))
	if rel == "" {
		return di, "", true
	}
	parts := strings.Split(rel, string(filepath.Separator))
	for i, part := range parts {
		d := &t.dirs[di]
		j, found := d.find(part)
		if !found {
			return di, "", true
		}
		if i == len(parts)-1 {
			if d.ents[j].isDir() && d.ents[j].child >= 0 && t.live(d.ents[j].child) {
				return d.ents[j].child, "", true
			}
			return di, part, true
		}
		c := d.ents[j].child
		if !d.ents[j].isDir() || c < 0 || !t.live(c) {
			return di, "", true
		}
		di = c
	}
	return di, "", true
}

// pathMax is the system's limit on a path, NUL included (PATH_MAX on
// Linux): a longer path cannot be opened, stat'ed or read by its name.
const pathMax = 4096

// tooLong records directory p (in directory di) as not watched because its
// path is too long to open. The first one of a root is reported, briefly;
// the rest are only listed (Watcher.Unwatched): a tree that deep has many,
// and each report would carry a path of more than 4 KiB.
func (t *tree) tooLong(di int32, p string) {
	if t.unwatched == nil {
		t.unwatched = make(map[string]struct{})
		t.tooLongSaid = make(map[int32]bool)
	}
	t.unwatched[p] = struct{}{}
	if r := t.dirs[di].root; !t.tooLongSaid[r] {
		t.tooLongSaid[r] = true
		t.report(fmt.Errorf("poll: %s has directories whose path is longer than PATH_MAX (%d bytes), e.g. %s; they are not watched (the status lists them)",
			t.roots[r].path, pathMax, elide(p)))
	}
}

// elide shortens a long path for a message: its start and its end.
func elide(p string) string {
	if len(p) <= 160 {
		return p
	}
	return p[:100] + "…" + p[len(p)-50:]
}

// inside reports whether path is root or lies below it.
func inside(root, path string) bool {
	return path == root || strings.HasPrefix(path, root+string(filepath.Separator)) || root == string(filepath.Separator)
}

func parentOf(path string) string {
	i := strings.LastIndexAny(path, `/\`)
	if i <= 0 {
		return path[:i+1]
	}
	return path[:i]
}

func (t *tree) newDir(path string, parent, root int32, st fstat) int32 {
	t.gen++
	d := dirRec{path: path, parent: parent, root: root, mtime: st.mtime, ctime: st.ctime,
		ino: st.ino, dev: st.dev, pin: -1, gen: t.gen, flags: dLive}
	if max(st.mtime, st.ctime) >= t.now.UnixNano()-t.roots[root].racy {
		d.flags |= dRacy
	}
	t.ndirs++
	var di int32
	if n := len(t.free); n > 0 {
		di = t.free[n-1]
		t.free = t.free[:n-1]
		t.dirs[di] = d
	} else {
		t.dirs = append(t.dirs, d)
		di = int32(len(t.dirs) - 1)
	}
	if parent >= 0 {
		t.pinDir(di)
	}
	return di
}

// fsOf returns the fileSystem for directory di: its root's, or, for a
// directory on another device (a mount inside the tree), the root's
// otherDevice variant.
func (t *tree) fsOf(di int32) fileSystem {
	d := &t.dirs[di]
	r := &t.roots[d.root]
	if d.dev != r.dev {
		return r.nested
	}
	return r.fs
}

func (t *tree) live(di int32) bool {
	return int(di) < len(t.dirs) && t.dirs[di].flags&dLive != 0 && !t.roots[t.dirs[di].root].down
}

// isRacy reports whether st (of an entry of directory di) is too recent to
// prove a later "unchanged": a write within the same timestamp tick would
// leave it as it is.
func (t *tree) isRacy(di int32, st fstat) bool {
	return max(st.mtime, st.ctime) >= t.now.UnixNano()-t.roots[t.dirs[di].root].racy
}

// emit records an event, matching removals and creations of one inode in
// the same pass into a Rename.
func (t *tree) emit(path string, op watcher.Op, key inoKey) {
	if t.quiet {
		return
	}
	if key.ino != 0 {
		switch op {
		case watcher.Remove:
			if _, ok := t.born[key]; ok {
				delete(t.born, key)
				op = watcher.Rename
			} else {
				if t.gone == nil {
					t.gone = make(map[inoKey]int)
				}
				t.gone[key] = len(t.events)
			}
		case watcher.Create:
			if j, ok := t.gone[key]; ok {
				delete(t.gone, key)
				t.events[j].Op = watcher.Rename
			} else {
				if t.born == nil {
					t.born = make(map[inoKey]int)
				}
				t.born[key] = len(t.events)
			}
		}
	}
	t.events = append(t.events, watcher.Event{Path: path, Op: op, Time: t.now})
}

func (t *tree) report(err error) { t.errs = append(t.errs, err) }

// take returns and clears the events and errors of the pass.
func (t *tree) take() ([]watcher.Event, []error) {
	ev, errs := t.events, t.errs
	t.events, t.errs = nil, nil
	clear(t.gone)
	clear(t.born)
	return ev, errs
}

func (t *tree) markDirty(di int32) {
	if di < 0 || !t.live(di) || t.dirs[di].flags&dDirty != 0 {
		return
	}
	t.dirs[di].flags |= dDirty
	t.dirty = append(t.dirty, di)
}

// rescanDirty rescans the directories marked dirty.
func (t *tree) rescanDirty() {
	for len(t.dirty) > 0 {
		di := t.dirty[0]
		t.dirty = t.dirty[1:]
		if t.live(di) && t.dirs[di].flags&dDirty != 0 {
			t.rescan(di, false)
		}
	}
	t.dirty = nil
}

func entrySize() uintptr { return unsafe.Sizeof(entry{}) }

// unwatchedList returns the unwatched directories, sorted.
func (t *tree) unwatchedList() []string {
	out := make([]string, 0, len(t.unwatched))
	for p := range t.unwatched {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
