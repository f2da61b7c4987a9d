//go:build linux

package poll

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/native"
)

// deafMount mounts a fresh backing directory with bindfs and returns the
// mount. Paths: m.Src (write here) and m.Dir (watch here).
func deafMount(t *testing.T) *testenv.Mount {
	t.Helper()
	base := t.TempDir()
	src, mnt := filepath.Join(base, "src"), filepath.Join(base, "mnt")
	must(t, os.Mkdir(src, 0o755))
	must(t, os.Mkdir(mnt, 0o755))
	return testenv.Bindfs(t, src, mnt)
}

// change is one edit made on the backing side, and what the poller must
// report for it on the mount side.
type change struct {
	do   func()
	want map[string]watcher.Op // mount-relative path → any of these ops
}

// TestDeafMountFiftyChanges is the deaf-mount test: 50 changes made on the
// backing side of a bindfs mount, every one reported by the poller watching
// the mount, none by the native watcher (which proves the mount is deaf).
func TestDeafMountFiftyChanges(t *testing.T) {
	m := deafMount(t)
	src := func(rel string) string { return filepath.Join(m.Src, rel) }
	for i := range 40 {
		mustWrite(t, src(fmt.Sprintf("e%02d.html", i)), fmt.Sprintf("existing %d", i))
	}
	for i := range 5 {
		mustWrite(t, src(fmt.Sprintf("sub/s%d.css", i)), "s")
		mustWrite(t, src(fmt.Sprintf("dd%d/f", i)), "f")
		mustWrite(t, src(fmt.Sprintf("rd%d/f", i)), "f")
	}
	mustWrite(t, src("untouched.html"), "never changes")

	nat, err := native.New([]string{m.Dir}, watcher.Options{})
	must(t, err)
	var natMu sync.Mutex
	var natEvents []watcher.Event
	natDone := make(chan struct{})
	go func() {
		defer close(natDone)
		for ev := range nat.Events() {
			natMu.Lock()
			natEvents = append(natEvents, ev)
			natMu.Unlock()
		}
	}()
	go func() {
		for range nat.Errors() {
		}
	}()
	t.Cleanup(func() { nat.Close(); <-natDone })

	r := start(t, []string{m.Dir}, fast())
	if roots := r.w.Roots(); !roots[0].VerifyContent {
		t.Errorf("bindfs mount not recognised as a filesystem whose stat lies: %+v", roots[0])
	}

	var changes []change
	for b := range 5 {
		e := func(k int) string { return fmt.Sprintf("e%02d.html", b*8+k) }
		ops := []change{
			{func() { mustWrite(t, src(e(0)), "written "+e(0)) }, map[string]watcher.Op{e(0): watcher.Write}},
			{func() { mustWrite(t, src(fmt.Sprintf("new%d.html", b)), "new") }, map[string]watcher.Op{fmt.Sprintf("new%d.html", b): watcher.Create}},
			{func() { must(t, os.Rename(src(e(1)), src(e(1)+".moved"))) }, map[string]watcher.Op{e(1): watcher.Rename | watcher.Remove, e(1) + ".moved": watcher.Create}},
			{func() { must(t, os.Remove(src(e(2)))) }, map[string]watcher.Op{e(2): watcher.Remove}},
			{func() { mustWrite(t, src(fmt.Sprintf("nd%d/x/f.js", b)), "x") }, map[string]watcher.Op{fmt.Sprintf("nd%d/x/f.js", b): watcher.Create}},
			{func() { mustWrite(t, src(fmt.Sprintf("sub/s%d.css", b)), "changed") }, map[string]watcher.Op{fmt.Sprintf("sub/s%d.css", b): watcher.Write}},
			{func() {
				// cp -p: same size, the old mtime put back.
				fi, err := os.Stat(src(e(3)))
				must(t, err)
				mustWrite(t, src(e(3)), strings.ToUpper(fmt.Sprintf("existing %d", b*8+3)))
				must(t, os.Chtimes(src(e(3)), fi.ModTime(), fi.ModTime()))
			}, map[string]watcher.Op{e(3): watcher.Write}},
			{func() {
				// An editor's rename-style save.
				mustWrite(t, src(e(4)+".tmp~"), "saved")
				must(t, os.Rename(src(e(4)+".tmp~"), src(e(4))))
			}, map[string]watcher.Op{e(4): watcher.Write}},
			{func() { must(t, os.RemoveAll(src(fmt.Sprintf("dd%d", b)))) }, map[string]watcher.Op{fmt.Sprintf("dd%d/f", b): watcher.Remove | watcher.Rename}},
			{func() { must(t, os.Rename(src(fmt.Sprintf("rd%d", b)), src(fmt.Sprintf("rn%d", b)))) }, map[string]watcher.Op{fmt.Sprintf("rn%d/f", b): watcher.Create}},
		}
		changes = append(changes, ops...)
	}
	if len(changes) != 50 {
		t.Fatalf("%d changes, want 50", len(changes))
	}
	missed := func(batch []change) []string {
		seen := r.ops()
		var out []string
		for _, c := range batch {
			for rel, op := range c.want {
				if !seen[filepath.Join(m.Dir, rel)].Has(op) {
					out = append(out, fmt.Sprintf("%v %s", op, rel))
				}
			}
		}
		return out
	}
	for b := 0; b < len(changes); b += 10 {
		batch := changes[b : b+10]
		for _, c := range batch {
			c.do()
		}
		testenv.Eventually(t, fmt.Sprintf("changes %d-%d to be reported", b+1, b+10), func() bool {
			if miss := missed(batch); len(miss) > 0 {
				t.Logf("waiting for %v", miss)
				return false
			}
			return true
		})
	}
	if miss := missed(changes); len(miss) != 0 {
		t.Errorf("missed %d of 50 changes: %v", len(miss), miss)
	}
	r.settle(t)
	for _, e := range r.events() {
		if e.Path == filepath.Join(m.Dir, "untouched.html") {
			t.Errorf("an untouched file was reported: %v", e)
		}
	}
	if errs := r.errors(); len(errs) != 0 {
		t.Errorf("poller errors: %v", errs)
	}
	natMu.Lock()
	defer natMu.Unlock()
	if len(natEvents) != 0 {
		t.Errorf("the native watcher saw %d events on the mount (%v ...): it is not deaf, the test proves nothing", len(natEvents), natEvents[0])
	}
}

func waitUnreachable(t *testing.T, r *recorder, root string) {
	t.Helper()
	testenv.Eventually(t, "an UnreachableError for "+root, func() bool {
		for _, err := range r.errors() {
			var ue *UnreachableError
			if errors.As(err, &ue) && ue.Root == root {
				return true
			}
		}
		return false
	})
}

// TestUnmountWhilePolling: fusermount -u is reported, reports no file
// removed; after the remount what changed meanwhile is reported, and
// nothing else.
func TestUnmountWhilePolling(t *testing.T) {
	m := deafMount(t)
	for _, f := range []string{"a.html", "b.html", "c/d.css"} {
		mustWrite(t, filepath.Join(m.Src, f), f)
	}
	r := start(t, []string{m.Dir}, fast())
	must(t, m.Unmount())
	waitUnreachable(t, r, m.Dir)
	mustWrite(t, filepath.Join(m.Src, "a.html"), "changed while unmounted")
	mustWrite(t, filepath.Join(m.Src, "new.html"), "new")
	must(t, os.Remove(filepath.Join(m.Src, "b.html")))
	r.settle(t)
	if evs := r.events(); len(evs) != 0 {
		t.Errorf("events while unmounted: %s", r.summary())
	}
	must(t, m.Mount())
	r.waitOp(t, filepath.Join(m.Dir, "a.html"), watcher.Write)
	r.waitOp(t, filepath.Join(m.Dir, "new.html"), watcher.Create)
	r.waitOp(t, filepath.Join(m.Dir, "b.html"), watcher.Remove)
	r.settle(t)
	if evs := r.events(); len(evs) != 3 {
		t.Errorf("after remount: %s; want exactly the three changes", r.summary())
	}
	// And polling goes on.
	mustWrite(t, filepath.Join(m.Src, "c/d.css"), "later")
	r.waitOp(t, filepath.Join(m.Dir, "c/d.css"), watcher.Write)
}

// TestFUSEDaemonDies: a dead FUSE daemon answers ENOTCONN; the poller
// reports it, and carries on when the filesystem is mounted again.
func TestFUSEDaemonDies(t *testing.T) {
	m := deafMount(t)
	mustWrite(t, filepath.Join(m.Src, "a.html"), "a")
	r := start(t, []string{m.Dir}, fast())
	m.Kill()
	waitUnreachable(t, r, m.Dir)
	var ue *UnreachableError
	for _, err := range r.errors() {
		if errors.As(err, &ue) {
			break
		}
	}
	if !errors.Is(ue, syscall.ENOTCONN) {
		t.Errorf("error = %v, want ENOTCONN", ue)
	}
	must(t, m.Unmount())
	must(t, m.Mount())
	mustWrite(t, filepath.Join(m.Src, "a.html"), "A")
	r.waitOp(t, filepath.Join(m.Dir, "a.html"), watcher.Write)
	if evs := r.events(); len(evs) != 1 {
		t.Errorf("events: %s", r.summary())
	}
}

// TestSSHFS: through sshfs a stat stays stale for ~20 s; content
// verification of hot files sees changes made on the server side at once.
func TestSSHFS(t *testing.T) {
	base := t.TempDir()
	src, mnt := filepath.Join(base, "src"), filepath.Join(base, "mnt")
	must(t, os.MkdirAll(filepath.Join(src, "css"), 0o755))
	must(t, os.Mkdir(mnt, 0o755))
	mustWrite(t, filepath.Join(src, "index.html"), "<h1>0</h1>")
	mustWrite(t, filepath.Join(src, "css", "site.css"), "h1{}")
	m := testenv.SSHFS(t, src, mnt)
	r := start(t, []string{m.Dir}, fast())
	if !r.w.Roots()[0].VerifyContent {
		t.Errorf("sshfs not recognised as a filesystem whose stat lies")
	}
	for i := range 5 {
		f := "index.html"
		if i%2 == 1 {
			f = "css/site.css"
		}
		r.reset()
		mustWrite(t, filepath.Join(src, f), fmt.Sprintf("<h1>%d</h1>", i+1))
		r.waitOp(t, filepath.Join(mnt, f), watcher.Write)
	}
	// A rename-style save: the name stays, the file behind it is new.
	mustWrite(t, filepath.Join(src, ".index.html.tmp"), "saved by rename")
	must(t, os.Rename(filepath.Join(src, ".index.html.tmp"), filepath.Join(src, "index.html")))
	r.waitOp(t, filepath.Join(mnt, "index.html"), watcher.Write)
	// New names are not tested here: sshfs caches directory listings for
	// ~20 s (dir_cache), so a new file is seen only then. See
	// TestSSHFSWithoutDirCache.
}

// TestSSHFSGrowingFileReportedOnce: through sshfs, a read stops at the
// size the kernel has cached, so a file that grew read as its new bytes
// cut to the old length until that cache expired: the poller reported the
// cut content, then the whole, for one save (issue 13, item 8). Each save
// here is atomic on the backing side (a rename), so exactly one event per
// save is the only right answer.
func TestSSHFSGrowingFileReportedOnce(t *testing.T) {
	base := t.TempDir()
	src, mnt := filepath.Join(base, "src"), filepath.Join(base, "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	mustWrite(t, filepath.Join(src, "index.html"), "<h1>0</h1>")
	testenv.SSHFS(t, src, mnt)
	r := start(t, []string{mnt}, fast())
	f := filepath.Join(mnt, "index.html")
	const saves = 12
	for i := 1; i <= saves; i++ {
		tmp := filepath.Join(src, ".index.html.tmp")
		mustWrite(t, tmp, fmt.Sprintf("<h1>%d %s</h1>", i, strings.Repeat("x", 10*i)))
		must(t, os.Rename(tmp, filepath.Join(src, "index.html")))
		testenv.Eventually(t, fmt.Sprintf("save %d to be reported", i), func() bool {
			n := 0
			for _, e := range r.events() {
				if e.Path == f {
					n++
				}
			}
			return n >= i
		})
		r.settle(t) // every later look at the file, with the whole file showing
	}
	n := 0
	for _, e := range r.events() {
		if e.Path == f {
			n++
		}
	}
	if n != saves {
		t.Errorf("%d events for %d saves: %s", n, saves, r.summary())
	}
}

// TestSSHFSChangeBeforeTheFirstReadIsNotLost: files the baseline had no
// time to hash get their first hash later. Through sshfs a file changed
// after the baseline still stats as it was until sshfs's cache expires, so
// its first read took the new bytes for the baseline and lost the change
// for good. The file as read (its stat through the open descriptor asks
// the server) tells that it changed.
func TestSSHFSChangeBeforeTheFirstReadIsNotLost(t *testing.T) {
	base := t.TempDir()
	src, mnt := filepath.Join(base, "src"), filepath.Join(base, "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	newer := time.Now().Add(-time.Minute)
	for i := range 5000 {
		f := filepath.Join(src, "aa", fmt.Sprintf("f%04d.html", i))
		mustWrite(t, f, fmt.Sprint("page ", i))
		must(t, os.Chtimes(f, newer, newer))
	}
	// The oldest file: the baseline's second of hashing ends before it.
	target := filepath.Join(src, "zz", "target.html")
	mustWrite(t, target, "before")
	oldest := time.Now().Add(-time.Hour)
	must(t, os.Chtimes(target, oldest, oldest))
	testenv.SSHFS(t, src, mnt)
	o := fast()
	o.ColdPeriod = time.Hour
	o.MountType = "fuse.sshfs"
	r := start(t, []string{mnt}, o)
	mnTarget := filepath.Join(mnt, "zz", "target.html")
	idx, err := r.w.Manifest(mnt)
	must(t, err)
	for _, e := range idx {
		if e.Path == "zz/target.html" && e.HasHash {
			t.Skip("the baseline hashed every file: nothing to test on this machine")
		}
	}
	mustWrite(t, target, "after!") // same size; the mtime moves
	r.w.MarkHot(mnTarget)          // read at once, while sshfs's stat is stale
	r.waitOp(t, mnTarget, watcher.Write)
}

// TestSSHFSWithoutDirCache: mounted with -o dir_cache=no (what reloadd's
// start-up line advises for sshfs), names created and removed on the
// server side are seen at once.
func TestSSHFSWithoutDirCache(t *testing.T) {
	base := t.TempDir()
	src, mnt := filepath.Join(base, "src"), filepath.Join(base, "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	mustWrite(t, filepath.Join(src, "index.html"), "<h1>0</h1>")
	testenv.SSHFS(t, src, mnt, "dir_cache=no")
	r := start(t, []string{mnt}, fast())
	mustWrite(t, filepath.Join(src, "new.html"), "new")
	r.waitOp(t, filepath.Join(mnt, "new.html"), watcher.Create)
	mustWrite(t, filepath.Join(src, "newdir", "x.css"), "x")
	r.waitOp(t, filepath.Join(mnt, "newdir", "x.css"), watcher.Create)
	must(t, os.Remove(filepath.Join(src, "index.html")))
	r.waitOp(t, filepath.Join(mnt, "index.html"), watcher.Remove)
}

// TestUnreadableDir: a directory that cannot be read is reported once and
// skipped; when it is readable again its changes are reported. Root reads
// everything, so as root the test runs itself again as nobody.
func TestUnreadableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		runAsNobody(t, "TestUnreadableDir")
		return
	}
	root := t.TempDir()
	locked := filepath.Join(root, "locked")
	mustWrite(t, filepath.Join(locked, "f"), "f")
	r := start(t, []string{root}, fast())
	must(t, os.Chmod(locked, 0))
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	testenv.Eventually(t, "the unreadable directory to be reported", func() bool { return len(r.errors()) > 0 })
	other := filepath.Join(root, "other.html")
	mustWrite(t, other, "polling goes on")
	r.waitOp(t, other, watcher.Create)
	r.settle(t)
	r.settle(t)
	if errs := r.errors(); len(errs) != 1 || !errors.Is(errs[0], os.ErrPermission) || !strings.Contains(errs[0].Error(), locked) {
		t.Errorf("errors = %v, want one permission error naming %s", errs, locked)
	}
	must(t, os.Chmod(locked, 0o755))
	mustWrite(t, filepath.Join(locked, "g"), "g")
	r.waitOp(t, filepath.Join(locked, "g"), watcher.Create)
	for _, e := range r.events() {
		if e.Path == filepath.Join(locked, "f") {
			t.Errorf("unchanged file reported: %v", e)
		}
	}
}

// runAsNobody runs the named test of this test binary again as user
// nobody, and fails if it does not pass there.
func runAsNobody(t *testing.T, name string) {
	t.Helper()
	exe, err := os.Executable()
	must(t, err)
	dir, err := os.MkdirTemp("", "reloadd-nobody-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "poll.test")
	in, err := os.Open(exe)
	must(t, err)
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	must(t, err)
	_, err = io.Copy(out, in)
	in.Close()
	must(t, err)
	must(t, out.Close())
	cmd := exec.Command(bin, "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "TMPDIR=/tmp")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "--- PASS: "+name) {
		t.Fatalf("as nobody: %v\n%s", err, b)
	}
}

// TestShareVerdict: the poller learns from what it reads whether a forced
// stat tells the truth. Through bindfs it does (the kernel asks bindfs,
// bindfs the backing file): after a few saves of a hot file the verdict is
// truthful. Through sshfs it does not (sshfs answers from its own cache,
// here shortened to 2 s): the verdict is lies, and the lag is measured
// once the stat catches up.
func TestShareVerdict(t *testing.T) {
	saves := func(t *testing.T, r *recorder, src, mnt string) {
		t.Helper()
		for i := range evidenceMin + 1 {
			mustWrite(t, src, fmt.Sprintf("<h1>save %d %s</h1>", i, strings.Repeat("x", i)))
			testenv.Eventually(t, fmt.Sprintf("save %d", i), func() bool {
				n := 0
				for _, e := range r.events() {
					if e.Path == mnt {
						n++
					}
				}
				return n > i
			})
		}
	}
	t.Run("bindfs", func(t *testing.T) {
		m := deafMount(t)
		mustWrite(t, filepath.Join(m.Src, "index.html"), "<h1>0</h1>")
		r := start(t, []string{m.Dir}, fast())
		if st := r.w.Stats()[0]; st.Stat != StatUnproven {
			t.Errorf("verdict at the start = %q, want %q", st.Stat, StatUnproven)
		}
		saves(t, r, filepath.Join(m.Src, "index.html"), filepath.Join(m.Dir, "index.html"))
		testenv.Eventually(t, "a truthful verdict", func() bool { return r.w.Stats()[0].Stat == StatTruthful })
		if st := r.w.Stats()[0]; st.StatMissed != 0 || st.StatShowed < evidenceMin || st.StatCost <= 0 || st.SweepTime <= 0 {
			t.Errorf("stats = %+v", st)
		}
	})
	t.Run("sshfs", func(t *testing.T) {
		// A file nobody touched lately, looked at while sshfs still
		// answers its stat from the cache (reading a file refreshes that,
		// so only a file not read lately shows the lie).
		base := t.TempDir()
		src, mnt := filepath.Join(base, "src"), filepath.Join(base, "mnt")
		must(t, os.Mkdir(mnt, 0o755))
		f := filepath.Join(src, "old.html")
		mustWrite(t, f, "<h1>old</h1>")
		old := time.Now().Add(-time.Hour)
		must(t, os.Chtimes(f, old, old))
		testenv.SSHFS(t, src, mnt, "cache_timeout=8")
		o := fast()
		o.ColdPeriod = 3 * time.Second
		r := start(t, []string{mnt}, o) // no MountType: the evidence alone decides
		p := filepath.Join(mnt, "old.html")
		// Only a change compared with a recorded hash is evidence. The
		// baseline hashes for a second; on a loaded machine that can pass
		// before it reaches the file, and the read sweep (one pass per
		// ColdPeriod) fills the hash in later.
		testenv.Eventually(t, "the file's hash in the index", func() bool {
			m, err := r.w.Manifest(mnt)
			return err == nil && slices.ContainsFunc(m, func(e ManifestEntry) bool { return e.Path == "old.html" && e.HasHash })
		})
		mustWrite(t, f, "<h1>new</h1>")
		r.w.MarkHot(p)
		r.waitOp(t, p, watcher.Write)
		var st RootStats
		testenv.EventuallyShow(t, "a lies verdict with a measured lag", func() bool {
			st = r.w.Stats()[0]
			return st.Stat == StatLies && st.StatMissed > 0 && st.StatLagMax > 0
		}, func() string { return fmt.Sprintf("stats %+v\nevents: %s", st, r.summary()) })
		if st := r.w.Stats()[0]; st.StatLagMax > 15*time.Second {
			t.Errorf("lag %v with an 8 s cache", st.StatLagMax)
		}
	})
}

// TestProbe: -check's look at a tree, without watching it: a bindfs mount
// is a share whose forced stat is unproven, with measured costs and a
// sweep estimate, priced by plain stat as its sweep will stat (forced
// where a cache of known lifetime rules plain stats out); a local
// directory is local.
func TestProbe(t *testing.T) {
	m := deafMount(t)
	for i := range 50 {
		mustWrite(t, filepath.Join(m.Src, fmt.Sprintf("d%d/f%d.html", i%5, i)), "x")
	}
	rs, err := Probe(m.Dir, Options{}, 0)
	must(t, err)
	if rs.Stat != StatUnproven || rs.ProbedFiles != 50 || !rs.ProbeComplete || rs.StatCost <= 0 || rs.ReadCost <= 0 || rs.SweepTime < sharePeriod ||
		rs.SweepTimeEditing < sharePeriod || rs.SweepTimeEditing > rs.SweepTime || rs.SweepStat != "plain stat" {
		t.Errorf("bindfs probe = %+v", rs)
	}
	rs, err = Probe(m.Dir, Options{StatCache: 20 * time.Second}, 0)
	must(t, err)
	if rs.Stat != StatLies || rs.SweepStat != "forced stat" || rs.ProbedFiles != 50 {
		t.Errorf("probe with a 20 s attribute cache = %+v", rs)
	}
	rs, err = Probe(m.Src, Options{}, 0)
	must(t, err)
	if rs.Stat != StatLocal || rs.ProbedFiles != 50 || rs.SweepTimeEditing != 0 || rs.SweepStat != "" {
		t.Errorf("local probe = %+v", rs)
	}
	if _, err := Probe(filepath.Join(m.Src, "missing"), Options{}, 0); err == nil {
		t.Error("probe of a missing directory succeeded")
	}
}

// TestSweepByPlainStat: on a FUSE mount whose attributes expire between
// two visits of the stat sweep, the sweep stats plainly (one lookup, where
// a forced stat takes two) and still sees every in-place write made on the
// other side; where the kernel keeps them for an hour, plain stats come
// from the cache, so the sweep goes back to forced stats, and still sees
// every write. A write in each case goes to a file the sweep has looked at
// many times, so that only the sweep's own stat can show it.
func TestSweepByPlainStat(t *testing.T) {
	tests := []struct {
		name, opts string
		want       string // the start of RootStats.SweepStat once judged
	}{
		{"attributes expire between visits", "attr_timeout=0.2,entry_timeout=0.2", "plain stat"},
		{"attributes kept for an hour", "attr_timeout=3600,entry_timeout=3600", "forced stat: most plain stats were answered from the kernel's cache"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			src, mnt := filepath.Join(base, "src"), filepath.Join(base, "mnt")
			must(t, os.Mkdir(mnt, 0o755))
			const dirs, per = 6, 100
			for d := range dirs {
				for f := range per {
					mustWrite(t, filepath.Join(src, fmt.Sprintf("d%d/f%03d.txt", d, f)), fmt.Sprintf("file %d/%d", d, f))
				}
			}
			testenv.BindfsWith(t, src, mnt, tc.opts)
			o := fast()
			o.ColdPeriod = time.Second // a visit every second: longer than the short timeouts
			o.HotWindow = 50 * time.Millisecond
			r := start(t, []string{mnt}, o)
			testenv.Eventually(t, "the sweep judged plain stats ("+tc.want+")", func() bool {
				st := r.w.Stats()[0]
				// Judged: plain stats still in use after two windows, or
				// turned off (which takes a window's judgement).
				return strings.HasPrefix(st.SweepStat, tc.want) && (tc.want != "plain stat" || st.PlainStats >= 2*lookupWindow*per)
			})
			st := r.w.Stats()[0]
			if tc.want == "plain stat" && 2*st.PlainCached > st.PlainStats {
				t.Errorf("plain stats in use, but %d of %d timed like the cache's answer", st.PlainCached, st.PlainStats)
			}
			if tc.want != "plain stat" && 2*st.PlainCached <= st.PlainStats {
				t.Errorf("back to forced stats, but only %d of %d plain stats timed like the cache's answer", st.PlainCached, st.PlainStats)
			}
			for i := range 5 {
				rel := fmt.Sprintf("d%d/f%03d.txt", i, 17*i+3)
				f, err := os.OpenFile(filepath.Join(src, rel), os.O_WRONLY|os.O_APPEND, 0)
				must(t, err)
				_, err = f.WriteString(" changed")
				must(t, errors.Join(err, f.Close()))
				r.waitOp(t, filepath.Join(mnt, rel), watcher.Write)
			}
		})
	}
}
