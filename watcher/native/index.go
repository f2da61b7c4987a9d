package native

import (
	"cmp"
	"os"
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

// entry is what the index knows about one file.
type entry struct {
	st    fileState
	hash  uint64
	flags uint8
}

// slot is an entry as stored: 48 bytes, no pointers, so 100,000 files cost
// 4.8 MB and nothing for the garbage collector to scan.
type slot struct {
	size, mtime, ctime int64
	ino, hash          uint64
	off                uint32 // name offset in dirIndex.names
	mode               uint16 // packed os.FileMode (see packMode)
	nlen               uint8  // name length (a file name is at most 255 bytes); 0 marks a free slot
	flags              uint8
}

func pack(e entry, off uint32, nlen uint8) slot {
	return slot{size: e.st.size, mtime: e.st.mtime, ctime: e.st.ctime, ino: e.st.ino, hash: e.hash,
		off: off, mode: packMode(e.st.mode), nlen: nlen, flags: e.flags}
}

func (s *slot) entry() entry {
	return entry{st: fileState{size: s.size, mtime: s.mtime, ctime: s.ctime, ino: s.ino, mode: unpackMode(s.mode)},
		hash: s.hash, flags: s.flags}
}

// Packed modes: the file type in the top four bits, as in st_mode, and the
// permission, setuid, setgid and sticky bits below.
const (
	pmReg uint16 = iota << 12
	pmDir
	pmSymlink
	pmPipe
	pmSocket
	pmChar
	pmBlock
	pmOther
	pmTypeMask uint16 = 0xf000
	pmSetuid   uint16 = 0o4000
	pmSetgid   uint16 = 0o2000
	pmSticky   uint16 = 0o1000
)

func packMode(m uint32) uint16 {
	fm := os.FileMode(m)
	p := uint16(fm.Perm())
	switch {
	case fm.IsRegular():
		p |= pmReg
	case fm.IsDir():
		p |= pmDir
	case fm&os.ModeSymlink != 0:
		p |= pmSymlink
	case fm&os.ModeNamedPipe != 0:
		p |= pmPipe
	case fm&os.ModeSocket != 0:
		p |= pmSocket
	case fm&os.ModeCharDevice != 0:
		p |= pmChar
	case fm&os.ModeDevice != 0:
		p |= pmBlock
	default:
		p |= pmOther
	}
	if fm&os.ModeSetuid != 0 {
		p |= pmSetuid
	}
	if fm&os.ModeSetgid != 0 {
		p |= pmSetgid
	}
	if fm&os.ModeSticky != 0 {
		p |= pmSticky
	}
	return p
}

func unpackMode(p uint16) uint32 {
	fm := os.FileMode(p & 0o777)
	switch p & pmTypeMask {
	case pmDir:
		fm |= os.ModeDir
	case pmSymlink:
		fm |= os.ModeSymlink
	case pmPipe:
		fm |= os.ModeNamedPipe
	case pmSocket:
		fm |= os.ModeSocket
	case pmChar:
		fm |= os.ModeDevice | os.ModeCharDevice
	case pmBlock:
		fm |= os.ModeDevice
	case pmOther:
		fm |= os.ModeIrregular
	}
	if p&pmSetuid != 0 {
		fm |= os.ModeSetuid
	}
	if p&pmSetgid != 0 {
		fm |= os.ModeSetgid
	}
	if p&pmSticky != 0 {
		fm |= os.ModeSticky
	}
	return uint32(fm)
}

// dirIndex holds the files of one directory. Names are packed into one
// byte slice instead of one string each; order keeps slot numbers sorted by
// name for binary search, so inserting into a large directory moves 4-byte
// slot numbers, not entries.
type dirIndex struct {
	names   []byte
	ents    []slot   // a free slot has nlen 0
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
	return d.ents[d.order[i]].entry(), true
}

// put inserts or replaces the entry for name (e's name fields are set
// here).
func (d *dirIndex) put(name string, e entry) {
	i, ok := d.find(name)
	if ok {
		n := d.order[i]
		d.ents[n] = pack(e, d.ents[n].off, d.ents[n].nlen)
		return
	}
	if len(name) == 0 || len(name) > 255 {
		return // not a file name
	}
	s := pack(e, uint32(len(d.names)), uint8(len(name)))
	d.names = append(d.names, name...)
	var n uint32
	if k := len(d.free); k > 0 {
		n = d.free[k-1]
		d.free = d.free[:k-1]
		d.ents[n] = s
	} else {
		n = uint32(len(d.ents))
		d.ents = append(d.ents, s)
	}
	d.order = slices.Insert(d.order, i, n)
}

// del removes name; it reports whether it was there.
func (d *dirIndex) del(name string) bool {
	i, ok := d.find(name)
	if !ok {
		return false
	}
	n := d.order[i]
	d.garbage += int(d.ents[n].nlen)
	d.ents[n] = slot{}
	d.free = append(d.free, n)
	d.order = slices.Delete(d.order, i, i+1)
	if d.garbage > 4096 && d.garbage > len(d.names)/2 {
		d.compact()
	}
	return true
}

// compact rewrites names and slots without the garbage.
func (d *dirIndex) compact() {
	names := make([]byte, 0, len(d.names)-d.garbage)
	ents := make([]slot, 0, len(d.order))
	for i, n := range d.order {
		e := d.ents[n]
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
	if e.entry().st != st || e.flags&(flagHashed|flagNoHash|flagRacy) != 0 {
		return false
	}
	e.hash = sum
	e.flags |= flagHashed
	return true
}

// setDir replaces the files of dir with names/ents (bulk load at start-up).
// ents[i]'s name is names[ents[i].off:][:ents[i].nlen].
func (x *index) setDir(dir string, names []byte, ents []slot) {
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
		for _, n := range d.order {
			out = append(out, filepath.Join(p, d.name(n)))
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
	for _, n := range d.order {
		e := d.ents[n].entry()
		if e.flags != 0 || !isRegular(e.st.mode) || e.st.size > limit {
			continue
		}
		names = append(names, d.name(n))
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
