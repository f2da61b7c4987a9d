package poll

// Directories: noticing that a directory changed, and listing it to find
// the names that appeared, vanished or were replaced.

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

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
	return t.sameNameList(di, names)
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
			old := e
			changed, err := judge(&e, st, c, func() (uint64, bool, error) { return fsys.hash(p, st.mode) })
			if err != nil && isGone(err) {
				t.vanish(di, &old, p, dev)
				listed = true
				continue
			}
			t.observed(di, name)
			if changed {
				t.changedFrom(p, &old)
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
		if len(p) >= pathMax {
			t.tooLong(di, p)
			return e, true
		}
		ci := t.newDir(p, di, t.dirs[di].root, st)
		e.child = ci
		t.rescan(ci, false) // reports the files in it
		return e, true
	}
	if len(p) >= pathMax {
		e.flags |= fBig // no path to read it by: its stat decides
	} else if hashable(st.mode) && !t.quiet {
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
	t.changedFrom(p, nil)
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
	case e.isDir(): // a directory not descended into (a loop, a path too long)
		delete(t.unwatched, path)
	default:
		t.nfiles--
		t.changedFrom(path, e)
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
