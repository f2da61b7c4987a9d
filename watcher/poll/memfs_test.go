package poll

import (
	"io/fs"
	"slices"
	"strings"
	"syscall"

	"github.com/cespare/xxhash/v2"
)

// memFS is an in-memory fileSystem for the table tests: the tests set up a
// tree, change it, and compare what the index reports with what changed.
type memFS struct {
	nodes  map[string]*memNode
	errs   map[string]error // returned by stat, lstat, openDir and hash of that path
	gone   map[string]bool  // listed by the parent, but stat says ENOENT
	now    int64            // timestamp given to changes
	ino    uint64
	limit  int64
	hashes int            // hash calls
	hashed map[string]int // hash calls per path
}

type memNode struct {
	st   fstat
	data string // file content, or symlink target
}

func newMemFS() *memFS {
	m := &memFS{nodes: map[string]*memNode{}, errs: map[string]error{}, gone: map[string]bool{}, hashed: map[string]int{}, now: 1e18, limit: 1 << 20}
	m.mkdir("/r")
	return m
}

func (m *memFS) nextIno() uint64 { m.ino++; return m.ino }

func (m *memFS) touchParent(p string) {
	if n := m.nodes[parentOf(p)]; n != nil {
		n.st.mtime, n.st.ctime = m.now, m.now
	}
}

func (m *memFS) mkdir(p string) {
	m.nodes[p] = &memNode{st: fstat{ino: m.nextIno(), dev: 1, mode: fs.ModeDir | 0o755, mtime: m.now, ctime: m.now}}
	m.touchParent(p)
}

// write sets a file's content, keeping its inode if it exists (an in-place
// write), with mtime and ctime = now.
func (m *memFS) write(p, data string) {
	n, ok := m.nodes[p]
	if !ok {
		n = &memNode{st: fstat{ino: m.nextIno(), dev: 1, mode: 0o644}}
		m.nodes[p] = n
		m.touchParent(p)
	}
	n.data = data
	n.st.size = int64(len(data))
	n.st.mtime, n.st.ctime = m.now, m.now
}

func (m *memFS) symlink(p, target string) {
	m.nodes[p] = &memNode{data: target, st: fstat{ino: m.nextIno(), dev: 1, mode: fs.ModeSymlink | 0o777, size: int64(len(target)), mtime: m.now, ctime: m.now}}
	m.touchParent(p)
}

func (m *memFS) remove(p string) {
	for k := range m.nodes {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(m.nodes, k)
		}
	}
	m.touchParent(p)
}

func (m *memFS) rename(from, to string) {
	m.remove(to)
	for k, n := range m.nodes {
		if k == from || strings.HasPrefix(k, from+"/") {
			delete(m.nodes, k)
			m.nodes[to+k[len(from):]] = n
		}
	}
	m.nodes[to].st.ctime = m.now
	m.touchParent(from)
	m.touchParent(to)
}

func (m *memFS) stat(path string, follow bool) (fstat, error) {
	if err := m.errs[path]; err != nil {
		return fstat{}, err
	}
	n, ok := m.nodes[path]
	if !ok || m.gone[path] {
		return fstat{}, &fs.PathError{Op: "stat", Path: path, Err: syscall.ENOENT}
	}
	return n.st, nil
}

func (m *memFS) openDir(path string) (dirHandle, error) {
	if err := m.errs[path]; err != nil {
		return nil, err
	}
	n, ok := m.nodes[path]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.ENOENT}
	}
	if !n.st.mode.IsDir() {
		return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.ENOTDIR}
	}
	return memDir{m, path}, nil
}

func (m *memFS) hash(path string, mode fs.FileMode) (uint64, bool, error) {
	m.hashes++
	m.hashed[path]++
	if err := m.errs[path]; err != nil {
		return 0, false, err
	}
	n, ok := m.nodes[path]
	if !ok || m.gone[path] {
		return 0, false, &fs.PathError{Op: "open", Path: path, Err: syscall.ENOENT}
	}
	if int64(len(n.data)) > m.limit {
		return 0, false, nil
	}
	return xxhash.Sum64String(n.data), true, nil
}

type memDir struct {
	m    *memFS
	path string
}

func (d memDir) names() ([]string, error) {
	var out []string
	for k := range d.m.nodes {
		if parentOf(k) == d.path && k != d.path {
			out = append(out, k[len(d.path)+1:])
		}
	}
	slices.Reverse(out) // any order
	return out, nil
}

func (d memDir) lstat(name string) (fstat, error) { return d.m.stat(d.path+"/"+name, false) }

func (d memDir) close() {}

// pinMemFS is memFS with pins, as osFS has them on local disks: a pin holds
// a directory's node, which keeps its attributes after the directory is
// removed (nlink 0). The fake exists for what a real filesystem will not do
// on purpose: give a new directory the inode number of a removed one, as
// ext4 sometimes does at once.
type pinMemFS struct {
	*memFS
	pins map[int]*memNode
	next int
}

func newPinMemFS() *pinMemFS {
	return &pinMemFS{memFS: newMemFS(), pins: map[int]*memNode{}, next: 3}
}

func (m *pinMemFS) pin(path string) (int, bool) {
	n, ok := m.nodes[path]
	if !ok || !n.st.mode.IsDir() {
		return -1, false
	}
	m.next++
	m.pins[m.next] = n
	return m.next, true
}

// pathOf returns where node n is linked now, if anywhere.
func (m *pinMemFS) pathOf(n *memNode) (string, bool) {
	for p, x := range m.nodes {
		if x == n {
			return p, true
		}
	}
	return "", false
}

func (m *pinMemFS) statPin(fd int) (fstat, error) {
	n := m.pins[fd]
	st := n.st
	st.nlink = 2
	if _, ok := m.pathOf(n); !ok {
		st.nlink = 0
	}
	return st, nil
}

func (m *pinMemFS) pinned(fd int) dirHandle {
	p, ok := m.pathOf(m.pins[fd])
	if !ok {
		return deadDir{}
	}
	return memDir{m.memFS, p}
}

func (m *pinMemFS) unpin(fd int) { delete(m.pins, fd) }

// mkdirIno makes a directory with a given inode number.
func (m *pinMemFS) mkdirIno(p string, ino uint64) {
	m.mkdir(p)
	m.nodes[p].st.ino = ino
}

// deadDir is a pinned directory that was removed: nothing is in it.
type deadDir struct{}

func (deadDir) names() ([]string, error) { return nil, nil }
func (deadDir) lstat(name string) (fstat, error) {
	return fstat{}, &fs.PathError{Op: "statx", Path: name, Err: syscall.ENOENT}
}
func (deadDir) close() {}
