package poll

// Roots: a watched root that becomes unreachable (unmounted, a dead FUSE
// daemon, a server gone, removed) is reported, kept, retried, and compared
// with the index when it is back.

import (
	"errors"
	"fmt"
	"io/fs"
)

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
