package native

import (
	"cmp"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// fileState is what a stat says about a file: enough to tell, without
// reading it, that it has not changed since it was last looked at.
type fileState struct {
	size  int64
	mtime int64  // unix nanoseconds
	ctime int64  // unix nanoseconds; 0 where the platform has none
	ino   uint64 // 0 where the platform has none
	mode  uint32 // os.FileMode bits
}

// Entry flags.
const (
	// flagHashed: hash holds the xxhash of the content (of the link target
	// text for a symlink).
	flagHashed uint8 = 1 << iota
	// flagNoHash: the file is never hashed (larger than the hash limit, or
	// not a regular file or symlink); it is compared by size, mtime and
	// inode instead.
	flagNoHash
	// flagRacy: the mtime was too close to the moment the state was
	// recorded to trust that an equal stat means equal content (see
	// racyWindow).
	flagRacy
)

// entry is one file of the index: 56 bytes, no pointers, so 100,000 of
// them cost 5.5 MB and nothing for the garbage collector to scan.
type entry struct {
	st    fileState
	hash  uint64
	off   uint32 // name offset in dirIndex.names
	nlen  uint8  // name length (a file name is at most 255 bytes); 0 marks a free slot
	flags uint8
}

// dirIndex holds the files of one directory. Names are packed into one
// byte slice instead of one string each; order keeps slot numbers sorted by
// name for binary search, so inserting into a large directory moves 4-byte
// slot numbers, not entries.
type dirIndex struct {
	names   []byte
	ents    []entry  // slots; a free slot has nlen 0
	order   []uint32 // slots sorted by name
	free    []uint32 // free slots
	garbage int      // bytes of names no longer referenced
}

func (d *dirIndex) name(slot uint32) string {
	e := &d.ents[slot]
	return string(d.names[e.off : e.off+uint32(e.nlen)])
}

// nameView is name without a copy; valid until names is next modified.
func (d *dirIndex) nameView(slot uint32) string {
	e := &d.ents[slot]
	if e.nlen == 0 {
		return ""
	}
	return unsafe.String(&d.names[e.off], int(e.nlen))
}

// find returns the position in order where name is or would be.
func (d *dirIndex) find(name string) (int, bool) {
	return slices.BinarySearchFunc(d.order, name, func(slot uint32, n string) int {
		return strings.Compare(d.nameView(slot), n)
	})
}

// get returns the entry for name.
func (d *dirIndex) get(name string) (entry, bool) {
	i, ok := d.find(name)
	if !ok {
		return entry{}, false
	}
	return d.ents[d.order[i]], true
}

// put inserts or replaces the entry for name (e's name fields are set
// here).
func (d *dirIndex) put(name string, e entry) {
	i, ok := d.find(name)
	if ok {
		slot := d.order[i]
		e.off, e.nlen = d.ents[slot].off, d.ents[slot].nlen
		d.ents[slot] = e
		return
	}
	if len(name) == 0 || len(name) > 255 {
		return // not a file name
	}
	e.off, e.nlen = uint32(len(d.names)), uint8(len(name))
	d.names = append(d.names, name...)
	var slot uint32
	if n := len(d.free); n > 0 {
		slot = d.free[n-1]
		d.free = d.free[:n-1]
		d.ents[slot] = e
	} else {
		slot = uint32(len(d.ents))
		d.ents = append(d.ents, e)
	}
	d.order = slices.Insert(d.order, i, slot)
}

// del removes name; it reports whether it was there.
func (d *dirIndex) del(name string) bool {
	i, ok := d.find(name)
	if !ok {
		return false
	}
	slot := d.order[i]
	d.garbage += int(d.ents[slot].nlen)
	d.ents[slot] = entry{}
	d.free = append(d.free, slot)
	d.order = slices.Delete(d.order, i, i+1)
	if d.garbage > 4096 && d.garbage > len(d.names)/2 {
		d.compact()
	}
	return true
}

// compact rewrites names and slots without the garbage.
func (d *dirIndex) compact() {
	names := make([]byte, 0, len(d.names)-d.garbage)
	ents := make([]entry, 0, len(d.order))
	for i, slot := range d.order {
		e := d.ents[slot]
		n := d.names[e.off : e.off+uint32(e.nlen)]
		e.off = uint32(len(names))
		names = append(names, n...)
		ents = append(ents, e)
		d.order[i] = uint32(i)
	}
	d.names, d.ents, d.free, d.garbage = names, ents, nil, 0
}

func (d *dirIndex) len() int { return len(d.order) }

// index maps directories to their files: the state of every file as last
// recorded (at start-up, or when Verify last reported it). It is safe for
// concurrent use.
type index struct {
	mu   sync.Mutex
	dirs map[string]*dirIndex
}

func newIndex() *index { return &index{dirs: make(map[string]*dirIndex)} }

func splitPath(path string) (dir, name string) {
	i := strings.LastIndexByte(path, filepath.Separator)
	if i < 0 {
		return "", path
	}
	if i == 0 {
		return path[:1], path[1:]
	}
	return path[:i], path[i+1:]
}

func (x *index) get(path string) (entry, bool) {
	dir, name := splitPath(path)
	x.mu.Lock()
	defer x.mu.Unlock()
	d := x.dirs[dir]
	if d == nil {
		return entry{}, false
	}
	return d.get(name)
}

func (x *index) put(path string, e entry) {
	dir, name := splitPath(path)
	x.mu.Lock()
	defer x.mu.Unlock()
	d := x.dirs[dir]
	if d == nil {
		d = &dirIndex{}
		x.dirs[dir] = d
	}
	d.put(name, e)
}

func (x *index) del(path string) {
	dir, name := splitPath(path)
	x.mu.Lock()
	defer x.mu.Unlock()
	d := x.dirs[dir]
	if d == nil {
		return
	}
	d.del(name)
	if d.len() == 0 {
		delete(x.dirs, dir)
	}
}

// setHash records the baseline hash of path if its entry still has state
// st and no hash: the file was not reported or changed meanwhile.
func (x *index) setHash(path string, st fileState, sum uint64) bool {
	dir, name := splitPath(path)
	x.mu.Lock()
	defer x.mu.Unlock()
	d := x.dirs[dir]
	if d == nil {
		return false
	}
	i, ok := d.find(name)
	if !ok {
		return false
	}
	e := &d.ents[d.order[i]]
	if e.st != st || e.flags&(flagHashed|flagNoHash|flagRacy) != 0 {
		return false
	}
	e.hash = sum
	e.flags |= flagHashed
	return true
}

// setDir replaces the files of dir with names/ents (bulk load at start-up).
// ents[i]'s name is names[ents[i].off:][:ents[i].nlen].
func (x *index) setDir(dir string, names []byte, ents []entry) {
	if len(ents) == 0 {
		x.mu.Lock()
		delete(x.dirs, dir)
		x.mu.Unlock()
		return
	}
	d := &dirIndex{names: names, ents: ents, order: make([]uint32, len(ents))}
	for i := range d.order {
		d.order[i] = uint32(i)
	}
	slices.SortFunc(d.order, func(a, b uint32) int { return cmp.Compare(d.nameView(a), d.nameView(b)) })
	// Drop duplicate names (a directory listed twice while it changed).
	d.order = slices.CompactFunc(d.order, func(a, b uint32) bool { return d.nameView(a) == d.nameView(b) })
	x.mu.Lock()
	x.dirs[dir] = d
	x.mu.Unlock()
}

// under returns the paths of the files recorded in dir and below it.
func (x *index) under(dir string) []string {
	prefix := dir + string(filepath.Separator)
	if dir == string(filepath.Separator) {
		prefix = dir
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for p, d := range x.dirs {
		if p != dir && !strings.HasPrefix(p, prefix) {
			continue
		}
		for _, slot := range d.order {
			out = append(out, filepath.Join(p, d.name(slot)))
		}
	}
	return out
}

// dirNames returns the directories of the index, sorted.
func (x *index) dirNames() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]string, 0, len(x.dirs))
	for p := range x.dirs {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// unhashed returns the files of dir whose baseline can still be hashed:
// no hash yet, not racy, regular, at most limit bytes.
func (x *index) unhashed(dir string, limit int64) (names []string, states []fileState) {
	x.mu.Lock()
	defer x.mu.Unlock()
	d := x.dirs[dir]
	if d == nil {
		return nil, nil
	}
	for _, slot := range d.order {
		e := &d.ents[slot]
		if e.flags != 0 || !isRegular(e.st.mode) || e.st.size > limit {
			continue
		}
		names = append(names, d.name(slot))
		states = append(states, e.st)
	}
	return names, states
}

// count returns the number of files in the index.
func (x *index) count() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, d := range x.dirs {
		n += d.len()
	}
	return n
}
