package native

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/watcher"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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

func TestVerify(t *testing.T) {
	root := t.TempDir()
	w := newWatcher(t, root)
	file := filepath.Join(root, "f")
	write(t, file, "x")
	dir := filepath.Join(root, "d")
	os.Mkdir(dir, 0o755)
	now := time.Now()
	tests := []struct {
		in   watcher.Event
		want watcher.Op // 0: dropped
	}{
		{watcher.Event{Path: file, Op: watcher.Create}, watcher.Create},
		{watcher.Event{Path: file, Op: watcher.Write}, watcher.Write},
		{watcher.Event{Path: file, Op: watcher.Chmod}, watcher.Write},
		{watcher.Event{Path: dir, Op: watcher.Create}, 0},
		{watcher.Event{Path: filepath.Join(root, "gone"), Op: watcher.Write}, watcher.Remove},
		{watcher.Event{Path: filepath.Join(root, "gone"), Op: watcher.Create}, 0},
		{watcher.Event{Path: root, Op: watcher.Rescan}, watcher.Rescan},
	}
	for _, tc := range tests {
		tc.in.Time = now
		out := w.Verify([]watcher.Event{tc.in})
		var got watcher.Op
		if len(out) == 1 {
			got = out[0].Op
		}
		if got != tc.want {
			t.Errorf("Verify(%v) = %v, want %v", tc.in, got, tc.want)
		}
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
