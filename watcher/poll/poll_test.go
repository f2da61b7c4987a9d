package poll

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
)

// fast are options for tests: everything looked at often, so waits are
// short even on a loaded machine. Nothing asserts timing.
func fast() Options {
	return Options{Interval: 10 * time.Millisecond, DirPeriod: 30 * time.Millisecond,
		ColdPeriod: 100 * time.Millisecond, ColdBudget: 0.5}
}

// recorder collects a watcher's events and errors.
type recorder struct {
	w    *Watcher
	mu   sync.Mutex
	evs  []watcher.Event
	errs []error
	done chan struct{}
}

func start(t *testing.T, roots []string, o Options) *recorder {
	t.Helper()
	w, err := New(roots, o)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{w: w, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		evs, errs := w.Events(), w.Errors()
		for evs != nil || errs != nil {
			select {
			case ev, ok := <-evs:
				if !ok {
					evs = nil
					continue
				}
				r.mu.Lock()
				r.evs = append(r.evs, ev)
				r.mu.Unlock()
			case err, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				r.mu.Lock()
				r.errs = append(r.errs, err)
				r.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		w.Close()
		<-r.done
	})
	return r
}

func (r *recorder) events() []watcher.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

func (r *recorder) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// ops returns the union of operations seen per path.
func (r *recorder) ops() map[string]watcher.Op {
	m := map[string]watcher.Op{}
	for _, e := range r.events() {
		m[e.Path] |= e.Op
	}
	return m
}

// waitOp waits until path has been reported with one of op.
func (r *recorder) waitOp(t *testing.T, path string, op watcher.Op) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("%v %s (seen: %v)", op, path, r.summary()), func() bool {
		return r.ops()[path].Has(op)
	})
}

func (r *recorder) summary() string {
	var s []string
	for _, e := range r.events() {
		s = append(s, e.String())
	}
	return strings.Join(s, ", ")
}

// settle waits until the poller has completed two full sweeps of files and
// two of directories: everything has been looked at after anything the
// test did before calling it.
func (r *recorder) settle(t *testing.T) {
	t.Helper()
	n, d := r.w.sweeps.Load(), r.w.dirSweeps.Load()
	testenv.Eventually(t, "two sweeps", func() bool {
		return r.w.sweeps.Load() >= n+2 && r.w.dirSweeps.Load() >= d+2
	})
}

// reset forgets what was seen.
func (r *recorder) reset() {
	r.mu.Lock()
	r.evs, r.errs = nil, nil
	r.mu.Unlock()
}

func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestLocalChanges(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "old.html"), "old")
	mustWrite(t, filepath.Join(root, "d", "cold.css"), "cold")
	r := start(t, []string{root}, fast())
	if r.w.WatchedFiles() != 2 || r.w.WatchedDirs() != 2 {
		t.Errorf("watching %d files, %d dirs; want 2, 2", r.w.WatchedFiles(), r.w.WatchedDirs())
	}
	p := func(rel string) string { return filepath.Join(root, rel) }
	steps := []struct {
		name string
		do   func()
		path string
		op   watcher.Op
	}{
		{"create", func() { mustWrite(t, p("new.html"), "x") }, "new.html", watcher.Create},
		{"write a recently changed file", func() { mustWrite(t, p("new.html"), "xy") }, "new.html", watcher.Write},
		{"write a cold file in place", func() { mustWrite(t, p("d/cold.css"), "COLD") }, "d/cold.css", watcher.Write},
		{"rename away", func() { must(t, os.Rename(p("new.html"), p("moved.html"))) }, "new.html", watcher.Rename},
		{"rename target", func() {}, "moved.html", watcher.Create},
		{"save by rename", func() {
			mustWrite(t, p(".old.html.tmp"), "new content")
			must(t, os.Rename(p(".old.html.tmp"), p("old.html")))
		}, "old.html", watcher.Write},
		{"new directory", func() { mustWrite(t, p("a/b/c/f.js"), "f") }, "a/b/c/f.js", watcher.Create},
		{"directory renamed: old path", func() { must(t, os.Rename(p("a"), p("z"))) }, "a/b/c/f.js", watcher.Rename | watcher.Remove},
		{"directory renamed: new path", func() {}, "z/b/c/f.js", watcher.Create},
		{"remove", func() { must(t, os.Remove(p("moved.html"))) }, "moved.html", watcher.Remove},
		{"remove a tree", func() { must(t, os.RemoveAll(p("z"))) }, "z/b/c/f.js", watcher.Remove},
	}
	for _, s := range steps {
		s.do()
		r.waitOp(t, p(s.path), s.op)
	}
	for _, e := range r.events() {
		if watcher.IsNoise(filepath.Base(e.Path)) || strings.HasSuffix(e.Path, ".tmp") && e.Op != watcher.Remove && e.Op != watcher.Create {
			t.Errorf("unexpected %v", e)
		}
	}
	if errs := r.errors(); len(errs) != 0 {
		t.Errorf("errors: %v", errs)
	}
}

// TestSameContentIsNoChange: touch, chmod, rewriting the same bytes in
// place or by rename: nothing to report.
func TestSameContentIsNoChange(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "index.html")
	mustWrite(t, f, "same")
	r := start(t, []string{root}, fast())
	// Make it hot first, so both the hot and the cold path look at it.
	mustWrite(t, f, "same!")
	r.waitOp(t, f, watcher.Write)
	r.settle(t)
	r.reset()
	later := time.Now().Add(time.Hour)
	must(t, os.Chtimes(f, later, later))
	must(t, os.Chmod(f, 0o600))
	mustWrite(t, f, "same!")
	mustWrite(t, f+".tmp", "same!")
	must(t, os.Rename(f+".tmp", f))
	r.settle(t)
	for _, e := range r.events() {
		if e.Path == f {
			t.Errorf("reported %v for a save with the same content", e)
		}
	}
}

// TestPreservedMtime: cp -p / rsync -t put the old mtime back after
// writing the same number of bytes.
func TestPreservedMtime(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "a.css")
	mustWrite(t, f, "aaaa")
	fi, err := os.Stat(f)
	must(t, err)
	r := start(t, []string{root}, fast())
	mustWrite(t, f, "bbbb")
	must(t, os.Chtimes(f, fi.ModTime(), fi.ModTime()))
	r.waitOp(t, f, watcher.Write)
}

// TestVanishingFiles: files created and removed as fast as possible while
// the poller lists and stats them are no errors, and when the churn stops
// the events tell the truth about every path.
func TestVanishingFiles(t *testing.T) {
	root := t.TempDir()
	o := fast()
	o.Interval = time.Millisecond
	r := start(t, []string{root}, o)
	for i := range 1500 {
		p := filepath.Join(root, fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%d", i%40))
		if i%3 == 2 {
			os.Remove(p)
			continue
		}
		if i%7 == 0 {
			os.RemoveAll(filepath.Dir(p))
			continue
		}
		mustWrite(t, p, fmt.Sprint(i))
	}
	marker := filepath.Join(root, "marker")
	mustWrite(t, marker, "m")
	r.waitOp(t, marker, watcher.Create)
	r.settle(t)
	last := map[string]watcher.Op{}
	for _, e := range r.events() {
		last[e.Path] = e.Op
	}
	for p, op := range last {
		_, err := os.Lstat(p)
		exists := err == nil
		if exists != (op&(watcher.Remove|watcher.Rename) == 0) {
			t.Errorf("%s: exists=%v, last event %v", p, exists, op)
			for _, e := range r.events() {
				if e.Path == p || strings.HasPrefix(p, e.Path+"/") {
					t.Logf("  %v at %v", e, e.Time.Format("15:04:05.000000"))
				}
			}
		}
	}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if !d.IsDir() && last[p] == 0 {
			t.Errorf("%s exists but was never reported", p)
		}
		return nil
	})
	if errs := r.errors(); len(errs) != 0 {
		t.Errorf("errors: %v", errs)
	}
}

// TestSymlinksAreNotFollowed: symlink loops cost nothing and hang nothing;
// a symlink is an entry whose content is its target.
func TestSymlinksAreNotFollowed(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "d", "f"), "f")
	must(t, os.Symlink("..", filepath.Join(root, "d", "up")))
	must(t, os.Symlink(".", filepath.Join(root, "self")))
	r := start(t, []string{root}, fast())
	if n := r.w.WatchedDirs(); n != 2 {
		t.Errorf("WatchedDirs = %d, want 2", n)
	}
	loop := filepath.Join(root, "d", "loop")
	must(t, os.Symlink("../d", loop))
	r.waitOp(t, loop, watcher.Create)
	must(t, os.Remove(loop))
	must(t, os.Symlink("/", loop))
	r.waitOp(t, loop, watcher.Write|watcher.Remove)
	r.settle(t)
	if n := r.w.WatchedDirs(); n != 2 {
		t.Errorf("WatchedDirs = %d after the loops, want 2", n)
	}
}

func TestIgnoredAndNoise(t *testing.T) {
	root := t.TempDir()
	f := watcher.DefaultFilter()
	must(t, f.Add(root, "*.log", "/build/"))
	o := fast()
	o.Filter = f
	r := start(t, []string{root}, o)
	for _, n := range []string{"x.log", "build/out.js", "node_modules/m/i.js", ".git/HEAD", "4913", "a.html~", ".a.html.swp"} {
		mustWrite(t, filepath.Join(root, n), "noise")
	}
	marker := filepath.Join(root, "real.html")
	mustWrite(t, marker, "real")
	r.waitOp(t, marker, watcher.Create)
	r.settle(t)
	for _, e := range r.events() {
		if e.Path != marker {
			t.Errorf("ignored path reported: %v", e)
		}
	}
}

func TestNewErrorsAndClose(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "f")
	mustWrite(t, file, "x")
	for _, bad := range []string{filepath.Join(root, "missing"), file} {
		if w, err := New([]string{bad}, Options{}); err == nil {
			w.Close()
			t.Errorf("New(%s) succeeded", bad)
		} else if !strings.Contains(err.Error(), bad) {
			t.Errorf("New(%s): error %q does not name the path", bad, err)
		}
	}
	w, err := New([]string{root, filepath.Join(root, "."), root + "/sub/.."}, Options{})
	must(t, err)
	if len(w.Roots()) != 1 {
		t.Errorf("roots = %v, want one", w.Roots())
	}
	must(t, w.Close())
	must(t, w.Close())
	if _, ok := <-w.Events(); ok {
		t.Error("Events open after Close")
	}
	if _, ok := <-w.Errors(); ok {
		t.Error("Errors open after Close")
	}
}

// TestRootRemovedAndRecreated: the root going away is reported, not a
// flood of removals; when it is back, what differs is reported.
func TestRootRemovedAndRecreated(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "site")
	mustWrite(t, filepath.Join(root, "a"), "a")
	mustWrite(t, filepath.Join(root, "b"), "b")
	r := start(t, []string{root}, fast())
	must(t, os.RemoveAll(root))
	testenv.Eventually(t, "an UnreachableError", func() bool {
		var ue *UnreachableError
		for _, err := range r.errors() {
			if errors.As(err, &ue) && ue.Root == root {
				return true
			}
		}
		return false
	})
	// Recreated whole, by a rename: a poller that looks between a file's
	// creation and its write would see it empty, and rightly report that.
	tmp := filepath.Join(parent, "site.tmp")
	mustWrite(t, filepath.Join(tmp, "a"), "a")
	mustWrite(t, filepath.Join(tmp, "b"), "B")
	must(t, os.Rename(tmp, root))
	r.waitOp(t, filepath.Join(root, "b"), watcher.Write)
	r.settle(t)
	if got := r.summary(); got != `WRITE "`+filepath.Join(root, "b")+`"` {
		t.Errorf("events = %s, want only b's write", got)
	}
}

func TestVerify(t *testing.T) {
	w := &Watcher{}
	now := time.Now()
	in := []watcher.Event{
		{Path: "/r/b", Op: watcher.Rename, Time: now},
		{Path: "/r/a", Op: watcher.Write, Time: now},
		{Path: "/r/c", Op: watcher.Create, Time: now},
	}
	got := w.Verify(in)
	want := []string{`WRITE "/r/a"`, `REMOVE "/r/b"`, `CREATE "/r/c"`}
	var s []string
	for _, e := range got {
		s = append(s, e.String())
	}
	if !slices.Equal(s, want) {
		t.Errorf("Verify = %v, want %v", s, want)
	}
}
