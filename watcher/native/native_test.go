package native

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/watcher"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, goleak.Cleanup(removeBenchTree)) }

// waitLimit bounds every wait; generous for a loaded 2-core machine.
const waitLimit = 10 * time.Second

func newWatcher(t *testing.T, root string) *Watcher {
	t.Helper()
	w, err := New([]string{root}, watcher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// collect gathers events until want reports true for the set of ops seen per
// path, or fails at the deadline.
func collect(t *testing.T, w *Watcher, want func(seen map[string]watcher.Op) bool) map[string]watcher.Op {
	t.Helper()
	seen := make(map[string]watcher.Op)
	deadline := time.After(waitLimit)
	for !want(seen) {
		select {
		case ev := <-w.Events():
			seen[ev.Path] |= ev.Op
		case err := <-w.Errors():
			t.Logf("watcher error: %v", err)
		case <-deadline:
			t.Fatalf("timed out; seen %v", seen)
		}
	}
	return seen
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFileOperations(t *testing.T) {
	root := t.TempDir()
	existing := filepath.Join(root, "old.html")
	write(t, existing, "old")
	tests := []struct {
		name   string
		do     func(t *testing.T)
		path   string
		wantOp watcher.Op
	}{
		{"create", func(t *testing.T) { write(t, filepath.Join(root, "new.html"), "x") }, "new.html", watcher.Create},
		{"write", func(t *testing.T) {
			f, err := os.OpenFile(existing, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("more")
			f.Close()
		}, "old.html", watcher.Write},
		{"rename away", func(t *testing.T) {
			if err := os.Rename(filepath.Join(root, "new.html"), filepath.Join(root, "moved.html")); err != nil {
				t.Fatal(err)
			}
		}, "new.html", watcher.Rename},
		{"rename target", func(t *testing.T) {}, "moved.html", watcher.Create},
		{"remove", func(t *testing.T) {
			if err := os.Remove(existing); err != nil {
				t.Fatal(err)
			}
		}, "old.html", watcher.Remove},
	}
	w := newWatcher(t, root)
	seen := map[string]watcher.Op{}
	for _, tc := range tests {
		tc.do(t)
		p := filepath.Join(root, tc.path)
		got := collect(t, w, func(s map[string]watcher.Op) bool {
			for k, v := range s {
				seen[k] |= v
			}
			clear(s)
			return seen[p].Has(tc.wantOp)
		})
		_ = got
	}
}

func TestNewNestedTreeIsReported(t *testing.T) {
	root := t.TempDir()
	w := newWatcher(t, root)
	// mkdir -p a/b/c && echo > a/b/c/f: the file lands before any watch on
	// a/b/c can exist.
	f := filepath.Join(root, "a", "b", "c", "f")
	write(t, f, "\n")
	collect(t, w, func(s map[string]watcher.Op) bool { return s[f].Has(watcher.Create) })

	// And the new directories are watched: a later write is seen.
	g := filepath.Join(root, "a", "b", "c", "g")
	write(t, g, "later")
	collect(t, w, func(s map[string]watcher.Op) bool { return s[g] != 0 })
	if n := w.WatchedDirs(); n != 4 {
		t.Errorf("WatchedDirs = %d, want 4 (root, a, a/b, a/b/c)", n)
	}
}

func TestEditorNoiseAndIgnoredDirsAreNotReported(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "node_modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := newWatcher(t, root)
	noise := []string{"4913", "index.html~", ".index.html.swp", ".index.html.swx",
		"index.html___jb_tmp___", "index.html___jb_old___", ".#index.html", "#index.html#", ".DS_Store",
		"node_modules/x.js", ".git/HEAD"}
	for _, n := range noise {
		write(t, filepath.Join(root, n), "noise")
	}
	// A real file written last: once it is seen, every noise event that
	// could have come has come (inotify preserves order per watch).
	marker := filepath.Join(root, "zz.html")
	write(t, marker, "real")
	seen := collect(t, w, func(s map[string]watcher.Op) bool { return s[marker] != 0 })
	for p := range seen {
		if p != marker && p != filepath.Join(root, ".git") {
			t.Errorf("noise reported: %s %v", p, seen[p])
		}
	}
}

// verifyAll runs Verify on a batch naming paths (with op) and returns the
// result as path → op.
func verifyAll(w *Watcher, op watcher.Op, paths ...string) map[string]watcher.Op {
	batch := make([]watcher.Event, len(paths))
	for i, p := range paths {
		batch[i] = watcher.Event{Path: p, Op: op, Time: time.Now()}
	}
	out := make(map[string]watcher.Op)
	for _, ev := range w.Verify(batch) {
		out[ev.Path] = ev.Op
	}
	return out
}

func TestVerify(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-time.Hour)
	pre := filepath.Join(root, "pre.html")
	write(t, pre, "pre")
	if err := os.Chtimes(pre, old, old); err != nil {
		t.Fatal(err)
	}
	w := newWatcher(t, root)
	<-w.Warmed()
	p := func(name string) string { return filepath.Join(root, name) }
	type want = map[string]watcher.Op
	steps := []struct {
		name  string
		do    func(t *testing.T)
		op    watcher.Op
		paths []string
		want  want
	}{
		{"unchanged file", nil, watcher.Write, []string{pre}, want{}},
		{"touched file", func(t *testing.T) { os.Chtimes(pre, time.Now(), time.Now()) }, watcher.Chmod, []string{pre}, want{}},
		{"chmod", func(t *testing.T) { os.Chmod(pre, 0o600) }, watcher.Chmod, []string{pre}, want{}},
		{"same bytes", func(t *testing.T) { write(t, pre, "pre") }, watcher.Write, []string{pre}, want{}},
		{"new bytes", func(t *testing.T) { write(t, pre, "pre2") }, watcher.Write, []string{pre}, want{pre: watcher.Write}},
		{"chmod-only event, new bytes (Lima)", func(t *testing.T) { write(t, pre, "pre3") }, watcher.Chmod, []string{pre}, want{pre: watcher.Write}},
		{"new file", func(t *testing.T) { write(t, p("f"), "1") }, watcher.Create, []string{p("f")}, want{p("f"): watcher.Create}},
		{"reported already", nil, watcher.Create, []string{p("f")}, want{}},
		{"removed", func(t *testing.T) { os.Remove(p("f")) }, watcher.Remove, []string{p("f")}, want{p("f"): watcher.Remove}},
		{"removed already", nil, watcher.Write, []string{p("f")}, want{}},
		{"came and went", func(t *testing.T) { write(t, p("g"), "x"); os.Remove(p("g")) }, watcher.Create, []string{p("g")}, want{}},
		{"directory", func(t *testing.T) { os.Mkdir(p("d"), 0o755) }, watcher.Create, []string{p("d")}, want{}},
		{"file replaced by directory", func(t *testing.T) { os.Remove(pre); os.Mkdir(pre, 0o755) }, watcher.Create, []string{pre}, want{pre: watcher.Remove}},
		{"noise", func(t *testing.T) { write(t, p(".x.swp"), "s") }, watcher.Create, []string{p(".x.swp")}, want{}},
		{"outside the roots", nil, watcher.Write, []string{"/elsewhere/x"}, want{}},
		{"the root itself", nil, watcher.Write, []string{root}, want{}},
		{"symlink", func(t *testing.T) { os.Symlink("a", p("l")) }, watcher.Create, []string{p("l")}, want{p("l"): watcher.Create}},
		{"symlink retargeted", func(t *testing.T) { os.Remove(p("l")); os.Symlink("b", p("l")) }, watcher.Create, []string{p("l")}, want{p("l"): watcher.Write}},
		{"symlink replaced, same target", func(t *testing.T) { os.Remove(p("l")); os.Symlink("b", p("l")) }, watcher.Create, []string{p("l")}, want{}},
		{"rescan finds what events missed", func(t *testing.T) {
			write(t, p("d/new.html"), "n")
			os.Remove(p("l"))
		}, watcher.Rescan, []string{root}, want{p("d/new.html"): watcher.Create, p("l"): watcher.Remove}},
		{"rescan again: nothing", nil, watcher.Rescan, []string{root}, want{}},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do(t)
		}
		got := verifyAll(w, s.op, s.paths...)
		if !maps.Equal(got, s.want) {
			t.Errorf("%s: Verify = %v, want %v", s.name, got, s.want)
		}
	}
}

func TestVerifyRacyRecordIsReread(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "f")
	write(t, f, "aaaa")
	w := newWatcher(t, root)
	<-w.Warmed()
	cur, err := lstatState(f)
	if err != nil {
		t.Fatal(err)
	}
	// A record with the current stat but other content, as left by a
	// write in the same clock tick as the recording: trusted, it hides the
	// change; racy, it is re-read.
	w.idx.put(f, entry{st: cur, hash: 42, flags: flagHashed})
	if got := verifyAll(w, watcher.Write, f); len(got) != 0 {
		t.Errorf("trusted equal stat: Verify = %v, want nothing", got)
	}
	w.idx.put(f, entry{st: cur, hash: 42, flags: flagHashed | flagRacy})
	if got := verifyAll(w, watcher.Write, f); got[f] != watcher.Write {
		t.Errorf("racy equal stat: Verify = %v, want a Write", got)
	}
}

func TestRacyFlag(t *testing.T) {
	at := time.Unix(1_700_000_000, 500_000_000)
	tests := []struct {
		mtime time.Time
		want  uint8
	}{
		{at.Add(-time.Hour), 0},
		{at.Add(-racyWindow - time.Millisecond), 0},
		{at.Add(-racyWindow + time.Millisecond), flagRacy},
		{at, flagRacy},
		{at.Add(time.Second), flagRacy},            // clock skew: never trusted
		{time.Unix(1_700_000_000-1, 0), flagRacy},  // whole seconds: 2 s window
		{time.Unix(1_700_000_000-3, 0), 0},         // whole seconds, old enough
		{time.Unix(1_700_000_000, 400_000_000), 0}, // fine-grained, 100 ms old
	}
	for _, tc := range tests {
		if got := racyFlag(fileState{mtime: tc.mtime.UnixNano()}, at); got != tc.want {
			t.Errorf("racyFlag(mtime %v) = %d, want %d", tc.mtime, got, tc.want)
		}
	}
}

func TestBaseline(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for _, n := range []string{"a", "b", "sub/c"} {
		write(t, filepath.Join(root, n), n)
		if err := os.Chtimes(filepath.Join(root, n), old, old); err != nil {
			t.Fatal(err)
		}
	}
	fresh := filepath.Join(root, "fresh") // modified just now: racy
	write(t, fresh, "fresh")
	big := filepath.Join(root, "big")
	write(t, big, strings.Repeat("x", 100))
	if err := os.Chtimes(big, old, old); err != nil {
		t.Fatal(err)
	}
	w, err := New([]string{root}, watcher.Options{MaxHashSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	select {
	case <-w.Warmed():
	case <-time.After(waitLimit):
		t.Fatal("not warmed")
	}
	for _, n := range []string{"a", "b", "sub/c"} {
		if e, ok := w.idx.get(filepath.Join(root, n)); !ok || e.flags != flagHashed {
			t.Errorf("%s: flags %b, want hashed", n, e.flags)
		}
	}
	if e, _ := w.idx.get(fresh); e.flags != flagRacy {
		t.Errorf("fresh: flags %b, want racy (no baseline hash)", e.flags)
	}
	if e, _ := w.idx.get(big); e.flags != flagNoHash {
		t.Errorf("big: flags %b, want no hash", e.flags)
	}
	if n := w.Files(); n != 5 {
		t.Errorf("Files = %d, want 5", n)
	}

	// Without a baseline hash, a touch counts as a change; with one, not.
	now := time.Now()
	os.Chtimes(fresh, now, now)
	os.Chtimes(filepath.Join(root, "a"), now, now)
	if got := verifyAll(w, watcher.Chmod, fresh, filepath.Join(root, "a")); !maps.Equal(got, map[string]watcher.Op{fresh: watcher.Write}) {
		t.Errorf("touch: Verify = %v, want only fresh as a Write", got)
	}
	// Above the hash limit: size, mtime and inode decide.
	if err := os.Chmod(big, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := verifyAll(w, watcher.Chmod, big); len(got) != 0 {
		t.Errorf("chmod of a big file: Verify = %v, want nothing", got)
	}
	os.Chtimes(big, now, now)
	if got := verifyAll(w, watcher.Chmod, big); got[big] != watcher.Write {
		t.Errorf("touch of a big file: Verify = %v, want a Write", got)
	}
}

func TestWarmUpDiscardsRacingWrites(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "f")
	write(t, f, "one")
	st, err := lstatState(f)
	if err != nil {
		t.Fatal(err)
	}
	x := newIndex()
	x.put(f, entry{st: st})
	// The file changed after its start-up record: the hash of the new
	// content must not become the baseline.
	write(t, f, "two, longer")
	before, sum, ok, stable, err := hashFile(f, 1<<20)
	if err != nil || !ok || !stable {
		t.Fatal(err, ok, stable)
	}
	if before == st {
		t.Fatal("state did not change")
	}
	if x.setHash(f, before, sum) {
		t.Error("setHash accepted a state other than the record's")
	}
	if x.setHash(f, st, sum); true {
		if e, _ := x.get(f); e.flags&flagHashed == 0 {
			t.Error("setHash refused the record's own state")
		}
	}
	if x.setHash(f, st, sum+1) {
		t.Error("setHash replaced a hash")
	}
}

func TestNewErrors(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "f")
	write(t, file, "x")
	for _, r := range []string{filepath.Join(root, "missing"), file} {
		if w, err := New([]string{r}, watcher.Options{}); err == nil {
			w.Close()
			t.Errorf("New(%s) succeeded", r)
		}
	}
}

func TestCloseIsIdempotentAndClosesChannels(t *testing.T) {
	w, err := New([]string{t.TempDir()}, watcher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	w.Close()
	if _, ok := <-w.Events(); ok {
		t.Error("Events open after Close")
	}
}
