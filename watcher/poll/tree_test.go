package poll

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

const sec = int64(time.Second)

// newTestTree indexes m's /r at time m.now + 10 s, hashing everything.
func newTestTree(t *testing.T, m *memFS, distrust bool) *tree {
	t.Helper()
	tr := newTree(watcher.DefaultFilter())
	tr.now = time.Unix(0, m.now+10*sec)
	tr.hashUntil = time.Now().Add(time.Hour)
	racy := racyLocal
	if distrust {
		racy = racyRemote
	}
	if err := tr.addRoot("/r", m, distrust, "mem", racy); err != nil {
		t.Fatal(err)
	}
	if ev, errs := tr.take(); len(ev) != 0 || len(errs) != 0 {
		t.Fatalf("baseline reported %v %v", ev, errs)
	}
	return tr
}

func evStrings(evs []watcher.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Op.String()+" "+e.Path)
	}
	slices.Sort(out)
	return out
}

// TestScan is the table test of the core: a tree before, a change, and
// the events one full scan reports.
func TestScan(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(m *memFS)
		change func(m *memFS) // made 20 s after the setup
		verify bool
		want   []string
	}{
		{"nothing", nil, func(m *memFS) {}, false, nil},
		{"create", nil, func(m *memFS) { m.write("/r/a.html", "a") }, false, []string{"CREATE /r/a.html"}},
		{"write", func(m *memFS) { m.write("/r/a.html", "a") },
			func(m *memFS) { m.write("/r/a.html", "ab") }, false, []string{"WRITE /r/a.html"}},
		{"touch is no change", func(m *memFS) { m.write("/r/a.html", "a") },
			func(m *memFS) { m.write("/r/a.html", "a") }, false, nil},
		{"chmod is no change", func(m *memFS) { m.write("/r/a.html", "a") },
			func(m *memFS) { n := m.nodes["/r/a.html"]; n.st.mode = 0o600; n.st.ctime = m.now }, false, nil},
		{"remove", func(m *memFS) { m.write("/r/a.html", "a") },
			func(m *memFS) { m.remove("/r/a.html") }, false, []string{"REMOVE /r/a.html"}},
		{"rename within a directory", func(m *memFS) { m.write("/r/a.html", "a") },
			func(m *memFS) { m.rename("/r/a.html", "/r/b.html") }, false,
			[]string{"CREATE /r/b.html", "RENAME /r/a.html"}},
		{"rename across directories", func(m *memFS) { m.mkdir("/r/x"); m.mkdir("/r/y"); m.write("/r/y/a", "a") },
			func(m *memFS) { m.rename("/r/y/a", "/r/x/a") }, false,
			[]string{"CREATE /r/x/a", "RENAME /r/y/a"}},
		{"new directory with files", nil, func(m *memFS) {
			m.mkdir("/r/d")
			m.mkdir("/r/d/e")
			m.write("/r/d/e/f", "f")
			m.write("/r/d/g", "g")
		}, false, []string{"CREATE /r/d/e/f", "CREATE /r/d/g"}},
		{"directory removed", func(m *memFS) { m.mkdir("/r/d"); m.write("/r/d/f", "f") },
			func(m *memFS) { m.remove("/r/d") }, false, []string{"REMOVE /r/d/f"}},
		{"directory renamed", func(m *memFS) { m.mkdir("/r/d"); m.write("/r/d/f", "f") },
			func(m *memFS) { m.rename("/r/d", "/r/e") }, false,
			[]string{"CREATE /r/e/f", "RENAME /r/d/f"}},
		{"replaced by rename (vim, sed -i)", func(m *memFS) { m.write("/r/a", "one") }, func(m *memFS) {
			m.write("/r/.a.tmp", "two")
			m.rename("/r/.a.tmp", "/r/a")
		}, false, []string{"WRITE /r/a"}},
		{"replaced by rename with the same bytes", func(m *memFS) { m.write("/r/a", "one") }, func(m *memFS) {
			m.write("/r/.a.tmp", "one")
			m.rename("/r/.a.tmp", "/r/a")
		}, false, nil},
		{"same size, same mtime, ctime moved (cp -p on a local disk)", func(m *memFS) { m.write("/r/a", "one") }, func(m *memFS) {
			n := m.nodes["/r/a"]
			n.data = "two"
			n.st.ctime = m.now
		}, false, []string{"WRITE /r/a"}},
		{"same size, mtime and ctime, not verified: stat is trusted", func(m *memFS) { m.write("/r/a", "one") }, func(m *memFS) {
			m.nodes["/r/a"].data = "two"
		}, false, nil},
		{"same size, mtime and ctime, verified (FUSE passing ctime through, cp -p)", func(m *memFS) { m.write("/r/a", "one") }, func(m *memFS) {
			m.nodes["/r/a"].data = "two"
		}, true, []string{"WRITE /r/a"}},
		{"ignored and noise files", nil, func(m *memFS) {
			m.mkdir("/r/node_modules")
			m.write("/r/node_modules/x.js", "x")
			m.write("/r/4913", "")
			m.write("/r/a.html~", "")
			m.write("/r/.a.html.swp", "")
		}, false, nil},
		{"file becomes a directory", func(m *memFS) { m.write("/r/a", "a") }, func(m *memFS) {
			m.remove("/r/a")
			m.mkdir("/r/a")
			m.write("/r/a/b", "b")
		}, false, []string{"CREATE /r/a/b", "REMOVE /r/a"}},
		{"symlink created, retargeted", func(m *memFS) { m.symlink("/r/l", "a") }, func(m *memFS) {
			m.remove("/r/l")
			m.symlink("/r/l", "b")
			m.symlink("/r/up", "..") // a loop if followed: it is not
		}, false, []string{"CREATE /r/up", "WRITE /r/l"}},
		{"vanishes between listing and stat", nil, func(m *memFS) {
			m.write("/r/a", "a")
			m.gone["/r/a"] = true
		}, false, nil},
		{"too big to hash: stat decides", func(m *memFS) { m.limit = 2; m.write("/r/big", "large") }, func(m *memFS) {
			m.write("/r/big", "LARGE")
		}, false, []string{"WRITE /r/big"}},
		{"too big to hash, touched", func(m *memFS) { m.limit = 2; m.write("/r/big", "large") }, func(m *memFS) {
			n := m.nodes["/r/big"]
			n.st.ctime = m.now // chmod
		}, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemFS()
			if tc.setup != nil {
				tc.setup(m)
			}
			tr := newTestTree(t, m, false)
			m.now += 20 * sec
			tc.change(m)
			tr.now = time.Unix(0, m.now+10*sec)
			tr.scanAll(tc.verify)
			evs, errs := tr.take()
			if got := evStrings(evs); !slices.Equal(got, tc.want) {
				t.Errorf("events = %q, want %q", got, tc.want)
			}
			if len(errs) != 0 {
				t.Errorf("errors = %v", errs)
			}
			// A second scan with nothing changed reports nothing.
			tr.now = tr.now.Add(10 * time.Second)
			tr.scanAll(false)
			if evs, _ := tr.take(); len(evs) != 0 {
				t.Errorf("second scan reported %v", evStrings(evs))
			}
		})
	}
}

// TestScanRacy: a write in the same timestamp tick as the stat that
// recorded the file leaves size, mtime and ctime as they were; the racy
// rule makes the next look hash it anyway.
func TestScanRacy(t *testing.T) {
	for _, tc := range []struct {
		name string
		gap  int64 // from the write to the scan that records it
		want []string
	}{
		{"written in the tick of the baseline", 0, []string{"WRITE /r/a"}},
		{"written 50 ms before the baseline", 50 * int64(time.Millisecond), []string{"WRITE /r/a"}},
		{"written long before the baseline", 10 * sec, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemFS()
			m.write("/r/a", "one")
			tr := newTree(watcher.DefaultFilter())
			tr.now = time.Unix(0, m.now+tc.gap)
			tr.hashUntil = time.Now().Add(time.Hour)
			if err := tr.addRoot("/r", m, false, "mem", racyLocal); err != nil {
				t.Fatal(err)
			}
			// The second write, same tick: same size, mtime and ctime.
			m.nodes["/r/a"].data = "two"
			tr.now = tr.now.Add(time.Second)
			tr.scanAll(false)
			evs, _ := tr.take()
			if got := evStrings(evs); !slices.Equal(got, tc.want) {
				t.Errorf("events = %q, want %q", got, tc.want)
			}
			// Looked at long after its mtime, the entry is no longer racy:
			// an unchanged stat is trusted and nothing is read.
			reads := m.hashes
			tr.now = tr.now.Add(time.Second)
			tr.scanAll(false)
			if m.hashes != reads {
				t.Errorf("a settled entry was read again")
			}
		})
	}
}

func TestJudge(t *testing.T) {
	now := 100 * sec
	base := entry{size: 3, mtime: 50 * sec, ctime: 50 * sec, ino: 7, hash: 1, mode: 0o644, flags: fHashed}
	st := fstat{size: 3, mtime: 50 * sec, ctime: 50 * sec, ino: 7, mode: 0o644}
	tests := []struct {
		name     string
		e        func(e *entry)
		st       func(s *fstat)
		c        check
		sum      uint64
		ok       bool
		wantRead bool
		want     bool
		wantRacy bool
	}{
		{"unchanged", nil, nil, check{now: now}, 1, true, false, false, false},
		{"unchanged, verify, same bytes", nil, nil, check{now: now, verify: true}, 1, true, true, false, false},
		{"unchanged, verify, other bytes", nil, nil, check{now: now, verify: true}, 2, true, true, true, false},
		{"racy entry is read", func(e *entry) { e.flags |= fRacy }, nil, check{now: now}, 2, true, true, true, false},
		{"mtime moved, same bytes", nil, func(s *fstat) { s.mtime++ }, check{now: now}, 1, true, true, false, false},
		{"size moved", nil, func(s *fstat) { s.size = 4 }, check{now: now}, 2, true, true, true, false},
		{"inode moved, same bytes", nil, func(s *fstat) { s.ino = 8 }, check{now: now}, 1, true, true, false, false},
		{"fresh mtime is racy", nil, func(s *fstat) { s.mtime = now - 1; s.size = 4 }, check{now: now, racy: 5}, 2, true, true, true, true},
		{"no hash yet, stat moved", func(e *entry) { e.flags = 0 }, func(s *fstat) { s.mtime++ }, check{now: now}, 1, true, true, true, false},
		{"no hash yet, fill", func(e *entry) { e.flags = 0 }, nil, check{now: now, fill: true}, 1, true, true, false, false},
		{"no hash yet, racy: nothing to compare with", func(e *entry) { e.flags = fRacy }, nil, check{now: now}, 2, true, false, false, false},
		{"no hash yet, racy, the stat lies: read", func(e *entry) { e.flags = fRacy }, nil, check{now: now, lies: true}, 2, true, true, false, false},
		{"no hash yet, racy, the stat lies for a known time: left to the fill pass", func(e *entry) { e.flags = fRacy }, nil, check{now: now, lies: true, cacheBound: true}, 2, true, false, false, false},
		{"too big, touched", nil, func(s *fstat) { s.ctime++ }, check{now: now}, 0, false, true, false, false},
		{"too big, grew", nil, func(s *fstat) { s.size++ }, check{now: now}, 0, false, true, true, false},
		{"fifo, mtime moved", func(e *entry) { e.mode = fs.ModeNamedPipe }, func(s *fstat) { s.mode = fs.ModeNamedPipe; s.mtime++ }, check{now: now}, 0, false, false, true, false},
	}
	for _, tc := range tests {
		e, s := base, st
		if tc.e != nil {
			tc.e(&e)
		}
		if tc.st != nil {
			tc.st(&s)
		}
		read := false
		got, err := judge(&e, s, tc.c, func() (uint64, bool, error) { read = true; return tc.sum, tc.ok, nil })
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want || read != tc.wantRead || (e.flags&fRacy != 0) != tc.wantRacy {
			t.Errorf("%s: changed=%v read=%v racy=%v, want %v %v %v", tc.name, got, read, e.flags&fRacy != 0, tc.want, tc.wantRead, tc.wantRacy)
		}
	}
	// A vanished file is the hash function's error, passed on.
	e := base
	_, err := judge(&e, fstat{size: 9}, check{now: now}, func() (uint64, bool, error) { return 0, false, fs.ErrNotExist })
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("judge error = %v", err)
	}
}

func TestScanUnhashedStatChangeIsReported(t *testing.T) {
	m := newMemFS()
	m.write("/r/a", "a")
	tr := newTree(watcher.DefaultFilter())
	tr.now = time.Unix(0, m.now+10*sec)
	// hashUntil zero: the baseline hashes nothing.
	if err := tr.addRoot("/r", m, false, "mem", racyLocal); err != nil {
		t.Fatal(err)
	}
	m.now += 20 * sec
	m.write("/r/a", "a") // touch: without a recorded hash, a change
	tr.now = time.Unix(0, m.now+10*sec)
	tr.scanAll(false)
	if evs, _ := tr.take(); !slices.Equal(evStrings(evs), []string{"WRITE /r/a"}) {
		t.Errorf("events = %v", evStrings(evs))
	}
	m.now += 20 * sec
	m.write("/r/a", "a") // now hashed: a touch is no change
	tr.now = time.Unix(0, m.now+10*sec)
	tr.scanAll(false)
	if evs, _ := tr.take(); len(evs) != 0 {
		t.Errorf("events = %v", evStrings(evs))
	}
}

func TestScanUnreadableDirReportedOnce(t *testing.T) {
	m := newMemFS()
	m.mkdir("/r/d")
	m.write("/r/d/f", "f")
	tr := newTestTree(t, m, false)
	m.now += 20 * sec
	m.errs["/r/d"] = &fs.PathError{Op: "open", Path: "/r/d", Err: syscall.EACCES}
	m.nodes["/r/d"].st.ctime = m.now // chmod 000
	delete(m.errs, "/r/d")
	denied := &fs.PathError{Op: "open", Path: "/r/d", Err: syscall.EACCES}
	// stat works, listing does not
	mfs := &deniedFS{memFS: m, path: "/r/d", err: denied}
	tr.roots[0].fs = mfs
	var errs []error
	for i := range 3 {
		tr.now = time.Unix(0, m.now+int64(i+10)*sec)
		m.nodes["/r/d"].st.ctime = tr.now.UnixNano() // keeps changing
		tr.scanAll(false)
		evs, e := tr.take()
		if len(evs) != 0 {
			t.Errorf("events = %v", evStrings(evs))
		}
		errs = append(errs, e...)
	}
	if len(errs) != 1 || !errors.Is(errs[0], syscall.EACCES) || !strings.Contains(errs[0].Error(), "/r/d") {
		t.Fatalf("errors = %v, want one EACCES for /r/d", errs)
	}
	// Readable again: what changed meanwhile is reported.
	mfs.err = nil
	m.write("/r/d/g", "g")
	tr.now = time.Unix(0, m.now+100*sec)
	tr.scanAll(false)
	if evs, _ := tr.take(); !slices.Equal(evStrings(evs), []string{"CREATE /r/d/g"}) {
		t.Errorf("events = %v", evStrings(evs))
	}
}

// deniedFS fails listing one directory.
type deniedFS struct {
	*memFS
	path string
	err  error
}

func (d *deniedFS) openDir(p string) (dirHandle, error) {
	if p == d.path && d.err != nil {
		return nil, d.err
	}
	return d.memFS.openDir(p)
}

func TestScanRootUnreachableAndBack(t *testing.T) {
	m := newMemFS()
	m.mkdir("/r/d")
	m.write("/r/d/f", "f")
	m.write("/r/g", "g")
	tr := newTestTree(t, m, true)
	m.now += 20 * sec
	m.errs["/r"] = &fs.PathError{Op: "statx", Path: "/r", Err: syscall.ENOTCONN}
	m.errs["/r/d"] = &fs.PathError{Op: "statx", Path: "/r/d", Err: syscall.ENOTCONN}
	m.errs["/r/g"] = &fs.PathError{Op: "statx", Path: "/r/g", Err: syscall.ENOTCONN}
	tr.now = time.Unix(0, m.now+10*sec)
	tr.scanAll(true)
	evs, errs := tr.take()
	var ue *UnreachableError
	if len(evs) != 0 || len(errs) != 1 || !errors.As(errs[0], &ue) || !errors.Is(errs[0], syscall.ENOTCONN) {
		t.Fatalf("events %v, errors %v; want one UnreachableError", evStrings(evs), errs)
	}
	if tr.tryRoot(0) {
		t.Fatal("root back while unreachable")
	}
	// Back, renumbered (a remount) with one change made meanwhile.
	clear(m.errs)
	for _, n := range m.nodes {
		n.st.ino += 1000
		n.st.dev = 2
	}
	m.write("/r/d/f", "F")
	tr.now = tr.now.Add(time.Second)
	if !tr.tryRoot(0) {
		t.Fatal("root not back")
	}
	evs, errs = tr.take()
	if !slices.Equal(evStrings(evs), []string{"WRITE /r/d/f"}) || len(errs) != 0 {
		t.Errorf("after coming back: events %v, errors %v", evStrings(evs), errs)
	}
	tr.now = tr.now.Add(10 * time.Second)
	tr.scanAll(true)
	if evs, _ := tr.take(); len(evs) != 0 {
		t.Errorf("then: %v", evStrings(evs))
	}
}

func TestEntrySize(t *testing.T) {
	// The index's memory floor: keep entries fixed-size and small.
	if n := entrySize(); n > 56 {
		t.Errorf("entry is %d bytes, want ≤ 56", n)
	}
}

// TestFillHash: files the baseline left unhashed get a hash in the
// background; a file that changes while it is read keeps none, so the
// change is still reported.
func TestFillHash(t *testing.T) {
	m := newMemFS()
	m.write("/r/a", "a")
	m.write("/r/b", "b")
	tr := newTree(watcher.DefaultFilter())
	tr.now = time.Unix(0, m.now+10*sec)
	if err := tr.addRoot("/r", m, false, "mem", racyLocal); err != nil { // hashes nothing
		t.Fatal(err)
	}
	sneaky := &changingFS{memFS: m, path: "/r/b", data: "B!"}
	tr.roots[0].fs = sneaky
	d := &tr.dirs[tr.roots[0].dir]
	for i := range d.ents {
		if !tr.fillHash(tr.roots[0].dir, i) {
			t.Errorf("%s: nothing to do", d.name(&d.ents[i]))
		}
	}
	if tr.fillHash(tr.roots[0].dir, 0) {
		t.Error("hashed twice")
	}
	m.now += 20 * sec
	m.write("/r/a", "a") // touch: a is hashed now, so no change
	tr.now = time.Unix(0, m.now+10*sec)
	tr.scanAll(false)
	if evs, _ := tr.take(); !slices.Equal(evStrings(evs), []string{"WRITE /r/b"}) {
		t.Errorf("events = %v, want only b, which changed while the fill pass read it", evStrings(evs))
	}
}

// changingFS rewrites one file while it is being hashed.
type changingFS struct {
	*memFS
	path, data string
}

func (c *changingFS) hash(p string, mode fs.FileMode) (uint64, bool, error) {
	sum, ok, err := c.memFS.hash(p, mode)
	if p == c.path && c.data != "" {
		c.memFS.write(p, c.data)
		c.data = ""
	}
	return sum, ok, err
}

// TestPinnedDirectoryReplacedWithSameInode: a directory removed and made
// again at the same path with the same inode number (ext4 reuses them at
// once) looks unchanged to its parent's rescan. The pin still holds the
// removed one; the poller must go by the path from then on, report what is
// in the new directory, and keep seeing changes in it.
func TestPinnedDirectoryReplacedWithSameInode(t *testing.T) {
	m := newPinMemFS()
	m.mkdir("/r/d")
	m.write("/r/d/a", "a")
	tr := newTree(watcher.DefaultFilter())
	tr.now = time.Unix(0, m.now+10*sec)
	tr.hashUntil = time.Now().Add(time.Hour)
	must(t, tr.addRoot("/r", m, false, "mem", racyLocal))
	tr.take()
	di, _, _ := tr.lookup("/r/d")
	if tr.dirs[di].pin < 0 {
		t.Fatal("/r/d is not pinned")
	}
	ino := m.nodes["/r/d"].st.ino

	scan := func() []string {
		m.now += 20 * sec
		tr.now = time.Unix(0, m.now+10*sec)
		tr.scanAll(false)
		ev, _ := tr.take()
		return evStrings(ev)
	}
	m.now += 20 * sec
	m.remove("/r/d")
	m.mkdirIno("/r/d", ino)
	m.write("/r/d/b", "b")
	got := scan()
	if want := []string{"CREATE /r/d/b", "REMOVE /r/d/a"}; !slices.Equal(got, want) {
		t.Errorf("after the directory was replaced: %v, want %v", got, want)
	}
	if got := scan(); len(got) != 0 {
		t.Errorf("a scan later: %v, want nothing", got)
	}
	m.now += 20 * sec
	m.write("/r/d/c", "c")
	if got, want := scan(), []string{"CREATE /r/d/c"}; !slices.Equal(got, want) {
		t.Errorf("a new file in the new directory: %v, want %v", got, want)
	}
	if pin := tr.dirs[di].pin; pin >= 0 {
		if _, linked := m.pathOf(m.pins[int(pin)]); !linked {
			t.Errorf("still pinned to the removed directory")
		}
	}
}

// TestCheckPin: the cold sweep's once-a-pass check tells a pin on the
// directory at its path from a pin on a removed one whose inode number the
// new directory got, and from a directory replaced by another.
func TestCheckPin(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *pinMemFS, ino uint64)
		same   bool
	}{
		{"unchanged", func(m *pinMemFS, ino uint64) {}, true},
		{"file added", func(m *pinMemFS, ino uint64) { m.write("/r/d/x", "x") }, true},
		{"replaced, same inode number", func(m *pinMemFS, ino uint64) { m.remove("/r/d"); m.mkdirIno("/r/d", ino) }, false},
		{"replaced, new inode number", func(m *pinMemFS, ino uint64) { m.remove("/r/d"); m.mkdir("/r/d") }, false},
		{"removed", func(m *pinMemFS, ino uint64) { m.remove("/r/d") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newPinMemFS()
			m.mkdir("/r/d")
			tr := newTree(watcher.DefaultFilter())
			tr.now = time.Unix(0, m.now+10*sec)
			must(t, tr.addRoot("/r", m, false, "mem", racyLocal))
			di, _, _ := tr.lookup("/r/d")
			tc.change(m, m.nodes["/r/d"].st.ino)
			if got := tr.checkPin(di); got != tc.same {
				t.Fatalf("checkPin = %v, want %v", got, tc.same)
			}
			if !tc.same && (tr.dirs[di].pin >= 0 || len(m.pins) != 0) {
				t.Errorf("the pin was not released")
			}
			if !tc.same && tr.dirs[0].flags&dDirty == 0 {
				t.Errorf("the parent is not queued for a rescan")
			}
		})
	}
}
