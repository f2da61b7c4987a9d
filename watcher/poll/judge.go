package poll

// Files: whether a file's content changed, decided from a fresh stat and,
// when the stat cannot prove "unchanged", its content hash.

import (
	"io/fs"

	"github.com/reloadd/reloadd/watcher"
)

// check describes how much to trust a stat.
type check struct {
	now    int64 // unix ns of the pass
	racy   int64 // racy window, ns
	verify bool  // hash even if the stat is unchanged
	fill   bool  // hash if no hash is recorded yet
	// obs, if set, receives what a look that read the content learnt
	// about the stat (evidence for a share's verdict).
	obs *observation
	// fresh, if set, returns the stat of the file as the hash read it (a
	// share's server's view, which a lagging stat may not show yet).
	fresh func() (fstat, bool)
	// lies: the root's stat is known to lie (a share's verdict), so that a
	// read may show what the stat does not yet.
	lies bool
	// cacheBound: the filesystem keeps attributes for a known time
	// (sshfs). A racy file with no hash is not read there either: the
	// stat sweep's visits are timed to the cache's expiry, the fill pass
	// reads it, and reading every file of a tree written just before the
	// start would stretch the first visits far past the expiry.
	cacheBound bool
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
//     as a change, since nothing can prove otherwise; an unchanged racy
//     stat is not read (there is nothing to compare the bytes with; the
//     fill pass records the hash), except where the stat lies.
//   - larger than the hash limit: size, mtime or inode decide.
//
// A read that compares with a recorded hash is evidence about the stat:
// the content changed and the stat with it, or without it (not counted
// when the last look was racy: two writes in one tick look the same), or
// the stat moved alone.
func judge(e *entry, st fstat, c check, hash func() (uint64, bool, error)) (changed bool, err error) {
	same := sameStat(e, st)
	// A racy entry is read again to compare with its hash. With no hash
	// recorded there is nothing to compare with: the read would only
	// record one (the fill pass's work), unless the stat lies and the file
	// as read can show more than it.
	racy := e.flags&fRacy != 0 && (e.flags&(fHashed|fBig) != 0 || c.lies && !c.cacheBound)
	look := !same || racy || c.verify || (c.fill && e.flags&(fHashed|fBig) == 0)
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
				if c.obs != nil {
					switch {
					case changed && !same:
						*c.obs = obsHeld
					case changed && e.flags&fRacy == 0:
						*c.obs = obsLied
					case !changed && !same:
						*c.obs = obsStatOnly
					}
				}
			default:
				changed = !same
				if !changed && c.fresh != nil {
					if f, ok := c.fresh(); ok && (f.size != e.size || f.mtime != e.mtime) {
						// The stat lags (sshfs's cache), but the file as read
						// is not the file recorded: it changed since.
						changed = true
					}
				}
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
	c := check{now: t.now.UnixNano(), racy: t.roots[t.dirs[di].root].racy, verify: verify, fill: fill, lies: t.lies(di)}
	if sh := t.share(di); sh != nil {
		c.cacheBound = sh.sticky
		t.obs = obsNone
		c.obs = &t.obs
		if f, ok := t.fsOf(di).(freshStater); ok {
			c.fresh = f.lastFresh
		}
	}
	return c
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
	old := *e
	changed, err := judge(e, st, t.check(di, verify, fill), func() (uint64, bool, error) { return fsys.hash(join(d.path, name), st.mode) })
	if err != nil {
		t.fileFailed(di, err)
		return
	}
	t.observed(di, name)
	if changed {
		t.changedFrom(join(d.path, name), &old)
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
