package poll

// Pins: directories on local disks held open with an O_PATH descriptor,
// so that they are stat'ed by descriptor (see the design notes, "System
// calls").

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
