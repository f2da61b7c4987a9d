package poll

import (
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
	distrust   bool       // stat on this filesystem may lie: verify by content
	fstype     string     // what statfs says the filesystem is
	racy       int64      // racy window in ns: the filesystem's timestamp granularity
	dev        uint64     // device of the root directory
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
// It is a pure function of what the fileSystem shows: every method compares
// what was recorded with what is there now and appends the difference to
// events. It is owned by one goroutine.
type tree struct {
	filter *watcher.Filter

	dirs  []dirRec
	free  []int32
	roots []rootRec
	gen   uint32

	nfiles int // files (non-directories) in the index
	ndirs  int

	now   time.Time // when the current pass started
	quiet bool      // baseline: record, do not report
	// hashUntil: while quiet, new files are hashed until this time; after
	// it they are left for the cold sweep to hash.
	hashUntil time.Time

	// rescanTime is the time checkDir spent rescanning directories that
	// changed: work paid for by the change, not by the sweep's budget.
	rescanTime time.Duration

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
	return nil
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

// pinDir holds directory di open, where its filesystem can, so that it is
// stat'ed by descriptor from now on. A directory replaced between its stat
// and the open is not pinned (the next look by path sees the new one).
// Roots are never pinned: their path is what must be checked (unmounted,
// replaced).
func (t *tree) pinDir(di int32) {
	p, ok := t.fsOf(di).(pinner)
	if !ok {
		return
	}
	d := &t.dirs[di]
	fd, ok := p.pin(d.path)
	if !ok {
		return
	}
	if st, err := p.statPin(fd); err != nil || st.ino != d.ino || st.dev != d.dev {
		p.unpin(fd)
		return
	}
	d.pin = int32(fd)
}

// checkPin stats pinned directory di by its path and reports whether that
// is still the directory the pin holds. The pin cannot see a filesystem
// mounted over the directory, or the directory replaced before its parent
// is looked at; the cold sweep calls this once per pass and directory. A
// path that moved on unpins the directory and marks its parent for a
// rescan, which sorts it out.
func (t *tree) checkPin(di int32) bool {
	d := &t.dirs[di]
	if d.pin < 0 {
		return true
	}
	fsys := t.fsOf(di)
	st, err := fsys.stat(d.path, false)
	if err == nil && st.dev == d.dev && st.ino == d.ino {
		// The same inode number, and the pinned inode still linked: the
		// same directory (a removed one's number may have been reused).
		if pst, err := fsys.(pinner).statPin(int(d.pin)); err == nil && pst.nlink > 0 {
			return true
		}
	}
	t.unpinDir(di)
	t.markDirty(d.parent)
	return false
}

func (t *tree) unpinDir(di int32) {
	d := &t.dirs[di]
	if d.pin < 0 {
		return
	}
	if p, ok := t.fsOf(di).(pinner); ok {
		p.unpin(int(d.pin))
	}
	d.pin = -1
}

// close releases what the index holds open.
func (t *tree) close() {
	for i := range t.dirs {
		if t.dirs[i].flags&dLive != 0 {
			t.unpinDir(int32(i))
		}
	}
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

// check describes how much to trust a stat.
type check struct {
	now    int64 // unix ns of the pass
	racy   int64 // racy window, ns
	verify bool  // hash even if the stat is unchanged
	fill   bool  // hash if no hash is recorded yet
}

// judge is the heart of the poller: given a file's entry and a fresh stat,
// it decides whether the content changed, reading the content (hash) only
// when the stat cannot prove "unchanged". It updates e.
//
//   - stat unchanged and not racy, no verify: unchanged, nothing read.
//   - stat changed, or racy (mtime within the racy window of the last look:
//     a second write in the same timestamp tick leaves the stat as it was),
//     or verify (the stat may lie: FUSE, network mounts, cp -p): hash; a
//     different hash is a change, the same hash is none (touch, chmod, an
//     editor rewriting the same bytes).
//   - no hash recorded yet (the baseline skipped it): a stat change counts
//     as a change, since nothing can prove otherwise.
//   - larger than the hash limit: size, mtime or inode decide.
func judge(e *entry, st fstat, c check, hash func() (uint64, bool, error)) (changed bool, err error) {
	same := sameStat(e, st)
	look := !same || e.flags&fRacy != 0 || c.verify || (c.fill && e.flags&(fHashed|fBig) == 0)
	if look {
		if hashable(st.mode) {
			sum, ok, err := hash()
			if err != nil {
				return false, err
			}
			switch {
			case !ok:
				changed = e.size != st.size || e.mtime != st.mtime || e.ino != st.ino
				e.flags = e.flags&^fHashed | fBig
			case e.flags&fHashed != 0:
				changed = sum != e.hash
			default:
				changed = !same
			}
			if ok {
				e.hash = sum
				e.flags = e.flags&^fBig | fHashed
			}
		} else {
			changed = e.size != st.size || e.mtime != st.mtime || e.ino != st.ino
		}
	}
	e.size, e.mtime, e.ctime, e.ino, e.mode = st.size, st.mtime, st.ctime, st.ino, st.mode
	if max(st.mtime, st.ctime) >= c.now-c.racy {
		e.flags |= fRacy
	} else {
		e.flags &^= fRacy
	}
	return changed, nil
}

// hashable reports whether content comparison applies: regular files and
// symlinks (whose "content" is the link text).
func hashable(m fs.FileMode) bool { return m.IsRegular() || m&fs.ModeSymlink != 0 }

func (t *tree) check(di int32, verify, fill bool) check {
	return check{now: t.now.UnixNano(), racy: t.roots[t.dirs[di].root].racy, verify: verify, fill: fill}
}

// checkDir stats directory di; if its mtime or ctime moved (an entry was
// created, removed or renamed), or it is racy or dirty, it rescans it.
// With list set (filesystems whose stat lies) it also lists the names and
// rescans when they differ from the index.
func (t *tree) checkDir(di int32, list bool) {
	d := &t.dirs[di]
	var st fstat
	var err error
	if d.pin >= 0 {
		st, err = t.fsOf(di).(pinner).statPin(int(d.pin))
		if err == nil && st.nlink == 0 {
			// Removed while held open. Its parent's listing changed; and a
			// directory made at the same path may have been given the same
			// inode number (ext4 reuses them at once), which the parent's
			// rescan cannot tell apart: from now on, the path decides.
			t.unpinDir(di)
			t.markDirty(d.parent)
		}
	}
	if d.pin < 0 {
		st, err = t.fsOf(di).stat(d.path, d.parent < 0)
	}
	if err != nil {
		t.dirFailed(di, err)
		return
	}
	if d.parent < 0 {
		r := &t.roots[d.root]
		if r.mountPoint && st.dev == r.parentDev {
			t.rootDown(d.root, errors.New("the filesystem was unmounted"))
			return
		}
	}
	if st.dev != d.dev || st.ino != d.ino || !st.mode.IsDir() {
		if d.parent < 0 {
			// The root was replaced or remounted: compare everything.
			t.revive(d.root, st)
			return
		}
		t.markDirty(d.parent)
		return
	}
	changed := st.mtime != d.mtime || st.ctime != d.ctime || d.flags&(dRacy|dDirty) != 0
	d.mtime, d.ctime = st.mtime, st.ctime
	if t.isRacy(di, st) {
		d.flags |= dRacy
	} else {
		d.flags &^= dRacy
	}
	if changed {
		t.timedRescan(di)
		return
	}
	if list && d.flags&dDenied == 0 {
		if !t.sameNames(di) {
			t.timedRescan(di)
		}
	}
}

// timedRescan rescans directory di for checkDir and adds the time to
// rescanTime.
func (t *tree) timedRescan(di int32) {
	t0 := time.Now()
	t.rescan(di, false)
	t.rescanTime += time.Since(t0)
}

// sameNames lists directory di and reports whether its names are those in
// the index.
func (t *tree) sameNames(di int32) bool {
	h, err := t.fsOf(di).openDir(t.dirs[di].path)
	if err != nil {
		t.dirFailed(di, err)
		return true
	}
	names, err := h.names()
	h.close()
	if err != nil {
		t.dirFailed(di, err)
		return true
	}
	d := &t.dirs[di]
	if len(names) != len(d.ents) {
		return false
	}
	for _, n := range names {
		if _, ok := d.find(n); !ok {
			return false
		}
	}
	return true
}

// rescan lists directory di and compares every entry with the index:
// names that appeared are reported as Create (a new directory with
// everything in it), names that went away as Remove (or Rename when the
// inode shows up elsewhere in the same pass), and files whose stat or,
// with verify, content changed as Write.
func (t *tree) rescan(di int32, verify bool) {
	fsys := t.fsOf(di)
	path := t.dirs[di].path
	if t.dirs[di].parent < 0 && !t.rootOK(di) {
		return
	}
	h, err := fsys.openDir(path)
	if err != nil {
		t.dirFailed(di, err)
		return
	}
	defer h.close()
	names, err := h.names()
	if err != nil {
		t.dirFailed(di, err)
		return
	}
	t.dirs[di].flags &^= dDenied | dDirty
	slices.Sort(names)
	refilter := t.ignoreChanged(di, h, names)
	old := t.dirs[di].ents
	oldNames := t.dirs[di].names
	dev := t.dirs[di].dev
	size := 0
	for _, n := range names {
		size += len(n)
	}
	blob := make([]byte, 0, size)
	ents := make([]entry, 0, len(names))
	keep := func(e entry, name string) {
		e.name, e.nlen = uint32(len(blob)), uint16(len(name))
		blob = append(blob, name...)
		ents = append(ents, e)
	}
	c := t.check(di, verify, false)
	listed := false
	i, j := 0, 0
	for i < len(old) || j < len(names) {
		var cmp int
		switch {
		case i == len(old):
			cmp = 1
		case j == len(names):
			cmp = -1
		default:
			o := &old[i]
			cmp = strings.Compare(oldNames[o.name:o.name+uint32(o.nlen)], names[j])
		}
		switch {
		case cmp < 0:
			o := old[i]
			t.vanish(di, &o, join(path, oldNames[o.name:o.name+uint32(o.nlen)]), dev)
			i++
			listed = true
		case cmp > 0:
			if e, ok := t.found(di, h, names[j]); ok {
				keep(e, names[j])
			}
			j++
			listed = true
		default:
			e, name := old[i], names[j]
			i++
			j++
			p := join(path, name)
			if refilter {
				if e2, ok, again := t.refilter(di, h, e, name); again {
					if ok {
						keep(e2, name)
					}
					listed = true
					continue
				}
			}
			if e.flags&fIgnored != 0 {
				keep(e, name)
				continue
			}
			st, err := h.lstat(name)
			switch {
			case err != nil && isGone(err):
				t.vanish(di, &e, p, dev)
				listed = true
				continue
			case err != nil:
				if isMountGone(err) {
					t.rootDown(t.dirs[di].root, err)
				}
				keep(e, name)
				continue
			case st.mode.Type() != e.mode.Type() || (e.child >= 0 && st.ino != e.ino):
				// Replaced by something else: a file by a directory, a
				// directory by another directory.
				t.vanish(di, &e, p, dev)
				if ne, ok := t.foundStat(di, name, st); ok {
					keep(ne, name)
				}
				listed = true
				continue
			case e.isDir():
				e.ino = st.ino
				keep(e, name)
				continue
			}
			changed, err := judge(&e, st, c, func() (uint64, bool, error) { return fsys.hash(p, st.mode) })
			if err != nil && isGone(err) {
				t.vanish(di, &e, p, dev)
				listed = true
				continue
			}
			if changed {
				t.emit(p, watcher.Write, inoKey{})
				t.changed = append(t.changed, fileRef{dir: di, gen: t.dirs[di].gen, name: name})
			}
			keep(e, name)
		}
	}
	d := &t.dirs[di]
	d.ents = ents
	d.names = string(blob)
	d.flags |= dListed
	if listed && !t.quiet {
		t.chdirs = append(t.chdirs, di)
	}
}

// ignoreChanged (re)reads directory di's .gitignore before its entries are
// matched, when the filter honours ignore files and the file is new,
// changed or gone. It reports whether existing entries must be matched
// again.
func (t *tree) ignoreChanged(di int32, h dirHandle, names []string) bool {
	if !t.filter.IgnoreFiles() {
		return false
	}
	_, has := slices.BinarySearch(names, watcher.IgnoreFile)
	d := &t.dirs[di]
	i, had := d.find(watcher.IgnoreFile)
	switch {
	case d.flags&dListed == 0:
		if !has {
			return false
		}
	case has != had:
	case !has:
		return false
	default:
		st, err := h.lstat(watcher.IgnoreFile)
		if err != nil {
			return false
		}
		e := &d.ents[i]
		if st.size == e.size && st.mtime == e.mtime && st.ctime == e.ctime && st.ino == e.ino {
			return false
		}
	}
	t.loadIgnore(d.path)
	return d.flags&dListed != 0
}

func (t *tree) loadIgnore(dir string) {
	if err := t.filter.LoadIgnoreFile(dir); err != nil {
		t.report(fmt.Errorf("poll: %w", err))
	}
}

// refilter matches an existing entry again after the directory's ignore
// rules changed. If the verdict flipped it returns again=true and the
// entry to keep, if any: a newly ignored entry is dropped without a report
// (it is ignored now), a newly un-ignored one is added as if it appeared.
func (t *tree) refilter(di int32, h dirHandle, e entry, name string) (entry, bool, bool) {
	p := join(t.dirs[di].path, name)
	if e.flags&fIgnored != 0 {
		st, err := h.lstat(name)
		if err != nil || t.filter.Match(p, st.mode.IsDir()) {
			return e, true, false
		}
		ne, ok := t.foundStat(di, name, st)
		return ne, ok, true
	}
	if !t.filter.Match(p, e.isDir()) {
		return e, true, false
	}
	quiet := t.quiet
	t.quiet = true
	t.vanish(di, &e, p, t.dirs[di].dev)
	t.quiet = quiet
	return entry{child: -1, flags: fIgnored}, true, true
}

// rootOK checks, before a root is listed, that it is still the directory
// it was: listing a mount point whose filesystem was unmounted would
// report every file removed.
func (t *tree) rootOK(di int32) bool {
	d := &t.dirs[di]
	r := &t.roots[d.root]
	st, err := r.fs.stat(d.path, true)
	switch {
	case err != nil:
		t.dirFailed(di, err)
		return false
	case r.mountPoint && st.dev == r.parentDev:
		t.rootDown(d.root, errors.New("the filesystem was unmounted"))
		return false
	case st.dev != d.dev && !t.quiet:
		t.revive(d.root, st) // rescans the root itself
		return false
	}
	return true
}

// found adds a name that appeared in directory di.
func (t *tree) found(di int32, h dirHandle, name string) (entry, bool) {
	st, err := h.lstat(name)
	if err != nil {
		if !isGone(err) {
			t.report(fmt.Errorf("poll: stat %s: %w", join(t.dirs[di].path, name), err))
		}
		return entry{}, false // vanished between readdir and stat: nothing to say
	}
	return t.foundStat(di, name, st)
}

func (t *tree) foundStat(di int32, name string, st fstat) (entry, bool) {
	dpath := t.dirs[di].path
	p := join(dpath, name)
	isDir := st.mode.IsDir()
	e := entry{child: -1}
	if t.filter.Match(p, isDir) {
		e.flags = fIgnored
		return e, true
	}
	e.size, e.mtime, e.ctime, e.ino, e.mode = st.size, st.mtime, st.ctime, st.ino, st.mode
	if isDir {
		if a := t.ancestor(di, st); a >= 0 {
			// A bind mount of an ancestor inside itself: never descend.
			t.report(fmt.Errorf("poll: %s is %s again (a directory loop); not descending", p, t.dirs[a].path))
			return e, true
		}
		ci := t.newDir(p, di, t.dirs[di].root, st)
		e.child = ci
		t.rescan(ci, false) // reports the files in it
		return e, true
	}
	if hashable(st.mode) && (!t.quiet || time.Now().Before(t.hashUntil)) {
		if sum, ok, err := t.fsOf(di).hash(p, st.mode); err == nil {
			if ok {
				e.hash = sum
				e.flags |= fHashed
			} else {
				e.flags |= fBig
			}
		} else if isGone(err) {
			return entry{}, false
		}
	}
	if t.isRacy(di, st) {
		e.flags |= fRacy
	}
	t.nfiles++
	t.emit(p, watcher.Create, inoKey{t.dirs[di].dev, st.ino, st.mtime})
	if !t.quiet {
		t.changed = append(t.changed, fileRef{dir: di, gen: t.dirs[di].gen, name: name})
	}
	return e, true
}

// ancestor returns the directory among di and its parents with the same
// device and inode as st, or -1.
func (t *tree) ancestor(di int32, st fstat) int32 {
	if st.ino == 0 {
		return -1
	}
	for a := di; a >= 0; a = t.dirs[a].parent {
		if t.dirs[a].ino == st.ino && t.dirs[a].dev == st.dev {
			return a
		}
	}
	return -1
}

// vanish reports the entry at path, in directory di, as gone: for a
// directory, every file below it. Directories themselves are not reported:
// a build cares about files, and an empty directory is no change.
func (t *tree) vanish(di int32, e *entry, path string, dev uint64) {
	switch {
	case e.flags&fIgnored != 0:
	case e.child >= 0:
		t.removeDir(e.child)
	case e.isDir(): // a directory not descended into (a loop)
	default:
		t.nfiles--
		t.emit(path, watcher.Remove, inoKey{dev, e.ino, e.mtime})
	}
}

func (t *tree) removeDir(ci int32) {
	d := t.dirs[ci]
	for i := range d.ents {
		e := d.ents[i]
		t.vanish(ci, &e, join(d.path, d.name(&e)), d.dev)
	}
	if _, ok := d.find(watcher.IgnoreFile); ok {
		t.loadIgnore(d.path) // the file is gone: drops its rules
	}
	t.unpinDir(ci)
	t.dirs[ci] = dirRec{}
	t.free = append(t.free, ci)
	t.ndirs--
}

// checkFile stats the file at ents[i] of directory di (through h when
// given) and reports a Write if its content changed. A file that vanished
// or changed type marks the directory for a rescan, which reports it.
func (t *tree) checkFile(di int32, i int, h dirHandle, verify, fill bool) {
	d := &t.dirs[di]
	e := &d.ents[i]
	if e.flags&fIgnored != 0 || e.isDir() {
		return
	}
	name := d.name(e)
	var st fstat
	var err error
	fsys := t.fsOf(di)
	if h != nil {
		st, err = h.lstat(name)
	} else {
		st, err = fsys.stat(join(d.path, name), false)
	}
	if err != nil {
		t.fileFailed(di, err)
		return
	}
	if st.mode.Type() != e.mode.Type() {
		t.markDirty(di)
		return
	}
	// The path is built only when it is needed: the cold sweep looks at
	// every file, and almost all of them are unchanged.
	changed, err := judge(e, st, t.check(di, verify, fill), func() (uint64, bool, error) { return fsys.hash(join(d.path, name), st.mode) })
	if err != nil {
		t.fileFailed(di, err)
		return
	}
	if changed {
		t.emit(join(d.path, name), watcher.Write, inoKey{})
		t.changed = append(t.changed, fileRef{dir: di, gen: d.gen, name: name})
	}
}

// fillHash records the hash of the file at ents[i] of directory di if it
// has none yet (the baseline ran out of time), without reporting anything.
// The stat is taken before and after reading: if it moved, the file is
// being changed, and the hash is not recorded (the next look reports the
// change). It reports whether there was anything to do.
func (t *tree) fillHash(di int32, i int) bool {
	d := &t.dirs[di]
	e := &d.ents[i]
	if e.flags&(fHashed|fBig|fIgnored) != 0 || !hashable(e.mode) {
		return false
	}
	p := join(d.path, d.name(e))
	fsys := t.fsOf(di)
	st, err := fsys.stat(p, false)
	if err != nil || !sameStat(e, st) {
		return true // the regular looks handle it
	}
	sum, ok, err := fsys.hash(p, st.mode)
	if err != nil {
		if !isGone(err) {
			e.flags |= fBig // unreadable: compare by stat, do not retry
		}
		return true
	}
	if st2, err := fsys.stat(p, false); err != nil || st2 != st {
		return true
	}
	if ok {
		e.hash = sum
		e.flags |= fHashed
	} else {
		e.flags |= fBig
	}
	return true
}

func sameStat(e *entry, st fstat) bool {
	return e.size == st.size && e.mtime == st.mtime && e.ctime == st.ctime && e.ino == st.ino && e.mode == st.mode
}

func (t *tree) fileFailed(di int32, err error) {
	switch {
	case isGone(err):
		t.markDirty(di)
	case isMountGone(err):
		t.rootDown(t.dirs[di].root, err)
	default:
		// Unreadable file (EACCES) or a transient error: the stat stays as
		// recorded and the next look tries again.
	}
}

// dirFailed handles an error stat-ing or listing directory di.
func (t *tree) dirFailed(di int32, err error) {
	d := &t.dirs[di]
	switch {
	case d.parent < 0 && (isGone(err) || isMountGone(err)):
		t.rootDown(d.root, err)
	case isGone(err):
		t.markDirty(d.parent)
	case isMountGone(err):
		t.rootDown(d.root, err)
	default:
		if d.flags&dDenied == 0 {
			d.flags |= dDenied
			t.report(fmt.Errorf("poll: read %s: %w (skipped until it changes)", d.path, unwrapPath(err)))
		}
	}
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// rootDown marks a root unreachable: its directories are skipped, nothing
// is reported removed, and the scheduler retries it.
func (t *tree) rootDown(ri int32, err error) {
	r := &t.roots[ri]
	if r.down {
		return
	}
	r.down = true
	r.nextTry = t.now
	t.report(&UnreachableError{Root: r.path, Err: unwrapPath(err)})
}

// tryRoot checks whether a down root is reachable again and, if so,
// compares everything under it with the index.
func (t *tree) tryRoot(ri int32) bool {
	r := &t.roots[ri]
	st, err := r.fs.stat(r.path, true)
	if err != nil || !st.mode.IsDir() || (r.mountPoint && st.dev == r.parentDev) {
		return false
	}
	r.down = false
	t.revive(ri, st)
	return true
}

// revive compares a root that came back, or was replaced, with the index:
// directories get their new device and identity, and every directory is
// rescanned. Content hashes keep a remount (new inode numbers, same bytes)
// from being reported as a change.
func (t *tree) revive(ri int32, st fstat) {
	r := &t.roots[ri]
	oldDev := r.dev
	r.dev = st.dev
	rd := &t.dirs[r.dir]
	rd.ino, rd.dev, rd.mtime, rd.ctime = st.ino, st.dev, st.mtime, st.ctime
	var todo []struct {
		di  int32
		gen uint32
	}
	for i := range t.dirs {
		d := &t.dirs[i]
		if d.flags&dLive == 0 || d.root != ri {
			continue
		}
		if d.dev == oldDev {
			d.dev = st.dev
		}
		todo = append(todo, struct {
			di  int32
			gen uint32
		}{int32(i), d.gen})
	}
	for _, x := range todo {
		if t.live(x.di) && t.dirs[x.di].gen == x.gen {
			// The entries' inode numbers may all differ now; a directory
			// that is still there must not be reported as replaced. A pin
			// may hold the directory of the filesystem that went away.
			t.unpinDir(x.di)
			t.relink(x.di)
			t.rescan(x.di, false)
			if t.live(x.di) && t.dirs[x.di].gen == x.gen && t.dirs[x.di].parent >= 0 {
				t.pinDir(x.di)
			}
		}
	}
}

// relink refreshes the identity of directory di's subdirectories so a
// rescan after a remount keeps them.
func (t *tree) relink(di int32) {
	d := &t.dirs[di]
	for i := range d.ents {
		e := &d.ents[i]
		if e.child < 0 {
			continue
		}
		cd := &t.dirs[e.child]
		if st, err := t.fsOf(di).stat(cd.path, false); err == nil && st.mode.IsDir() {
			e.ino = st.ino
			cd.ino, cd.dev = st.ino, st.dev
		}
	}
}

// UnreachableError reports a watched root that cannot be reached: a FUSE
// daemon that died (ENOTCONN), a network server that went away (EIO,
// ESTALE), a mount that was unmounted, a root that was removed. The poller
// keeps its index, reports nothing removed, and retries; when the root is
// back it reports what changed meanwhile.
type UnreachableError struct {
	Root string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("poll: %s unreachable (%v); retrying", e.Root, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// scanAll looks at everything once: every directory's stat (rescanning
// those that changed) and every file's stat, hashing where judge says so,
// or every file with verify. It is the whole-tree "scan(old) → (events,
// new)" that the scheduler spreads over ticks.
func (t *tree) scanAll(verify bool) {
	for di := int32(0); int(di) < len(t.dirs); di++ {
		if t.live(di) {
			t.checkDir(di, false)
		}
	}
	t.rescanDirty()
	for di := int32(0); int(di) < len(t.dirs); di++ {
		if !t.live(di) {
			continue
		}
		for i := 0; i < len(t.dirs[di].ents); i++ {
			t.checkFile(di, i, nil, verify, true)
		}
	}
	t.rescanDirty()
}

func entrySize() uintptr { return unsafe.Sizeof(entry{}) }
