package native

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/watchertest"
)

// waitErr waits for a report on rec's Errors that match accepts.
func waitErr(t *testing.T, rec *watchertest.Recorder, what string, match func(error) bool) {
	t.Helper()
	testenv.Eventually(t, what, func() bool { return slices.ContainsFunc(rec.Errors(), match) })
}

func TestWatchesFollowDirectories(t *testing.T) {
	root := t.TempDir()
	watchertest.MakeTree(t, root, map[string]string{
		"a/x": "x", "a/b/y": "y", "node_modules/m/z": "z", ".git/objects/o": "o",
		".gitignore": "dist/\n", "dist/out/app.js": "js", "c/": "",
	})
	w := start(t, root, watcher.Options{}).(*Watcher)
	rec := watchertest.Record(t, w, root, watchertest.Settle)
	dirs := func() int { return w.WatchedDirs() }
	// root, a, a/b, c: ignored directories are neither watched nor walked.
	if n := dirs(); n != 4 {
		t.Fatalf("WatchedDirs = %d, want 4 (root, a, a/b, c)", n)
	}
	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"mkdir -p", func() { os.MkdirAll(filepath.Join(root, "n/o/p"), 0o755) }, 7},
		{"rename within", func() { os.Rename(filepath.Join(root, "a"), filepath.Join(root, "c/a2")) }, 7},
		{"rename out", func() { os.Rename(filepath.Join(root, "c/a2"), filepath.Join(t.TempDir(), "away")) }, 5},
		{"remove", func() { os.RemoveAll(filepath.Join(root, "n")) }, 2},
		{"ignored created", func() { os.MkdirAll(filepath.Join(root, "dist/more/deep"), 0o755) }, 2},
	}
	for _, s := range steps {
		s.do()
		rec.Sync(t)
		testenv.Eventually(t, s.name+": watched directories", func() bool { return dirs() == s.want })
	}
}

func TestRootRemovedAndBack(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "site")
	watchertest.MakeTree(t, root, map[string]string{"a.html": "a", "d/b.html": "b"})
	w := start(t, root, watcher.Options{}).(*Watcher)
	rec := watchertest.Record(t, w, root, watchertest.Settle)

	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	rec.Wait(t, []watchertest.Change{{Path: "a.html", Op: watcher.Remove}, {Path: "d/b.html", Op: watcher.Remove}})
	waitErr(t, rec, "a report that the root is gone", func(err error) bool {
		var re *RootError
		return errors.As(err, &re) && re.Root == root && re.Change == RootRemoved
	})
	rec.Reset()
	// Back, with the parent removed and recreated in between: the watcher
	// follows the nearest existing ancestor.
	if err := os.RemoveAll(parent); err != nil {
		t.Fatal(err)
	}
	watchertest.MakeTree(t, root, map[string]string{"a.html": "a2", "e/f.html": "f"})
	rec.Wait(t, []watchertest.Change{{Path: "a.html", Op: watcher.Create}, {Path: "e/f.html", Op: watcher.Create}})
	waitErr(t, rec, "a report that the root is back", func(err error) bool {
		var re *RootError
		return errors.As(err, &re) && re.Root == root && re.Change == RootBack
	})
	rec.Sync(t)
	rec.Reset()
	if err := os.WriteFile(filepath.Join(root, "e/f.html"), []byte("f2"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec.Wait(t, []watchertest.Change{{Path: "e/f.html", Op: watcher.Write}})
	w.mu.Lock()
	anc := len(w.ancestors)
	w.mu.Unlock()
	if anc != 1 || w.WatchedDirs() != 2 {
		t.Errorf("after the root came back: %d ancestor watches (want 1: its parent), %d watched dirs (want 2)", anc, w.WatchedDirs())
	}
}

func TestGitignoreChangeTakesEffect(t *testing.T) {
	root := t.TempDir()
	watchertest.MakeTree(t, root, map[string]string{".gitignore": "*.tmp\nout/\n", "out/a.js": "a", "index.html": "i"})
	filter := watcher.DefaultFilter()
	w := start(t, root, watcher.Options{Filter: filter}).(*Watcher)
	rec := watchertest.Record(t, w, root, watchertest.Settle)
	write(t, filepath.Join(root, "x.tmp"), "x")
	rec.Sync(t)
	if got := rec.Changes(); len(got) != 0 {
		t.Fatalf("ignored file reported: %v", got)
	}
	write(t, filepath.Join(root, ".gitignore"), "# nothing ignored now\n")
	testenv.Eventually(t, "the new .gitignore to be read", func() bool {
		return !filter.Ignored(filepath.Join(root, "y.tmp"), false)
	})
	// The directory no longer ignored is watched, and its files reported.
	rec.Wait(t, []watchertest.Change{{Path: ".gitignore", Op: watcher.Write}, {Path: "out/a.js", Op: watcher.Create}})
	rec.Reset()
	write(t, filepath.Join(root, "y.tmp"), "y")
	write(t, filepath.Join(root, "out/b.js"), "b")
	rec.Wait(t, []watchertest.Change{{Path: "out/b.js", Op: watcher.Create}, {Path: "y.tmp", Op: watcher.Create}})
}

func TestIgnoreFilesOff(t *testing.T) {
	root := t.TempDir()
	watchertest.MakeTree(t, root, map[string]string{".gitignore": "*.tmp\n"})
	filter := watcher.DefaultFilter()
	filter.SetIgnoreFiles(false)
	w := start(t, root, watcher.Options{Filter: filter})
	rec := watchertest.Record(t, w, root, watchertest.Settle)
	write(t, filepath.Join(root, "x.tmp"), "x")
	rec.Wait(t, []watchertest.Change{{Path: "x.tmp", Op: watcher.Create}})
}

func TestCloseWhileBusy(t *testing.T) {
	// Close must not hang while the worker is blocked emitting into a full
	// Events channel that nobody reads.
	root := t.TempDir()
	w, err := New([]string{root}, watcher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range eventBuffer + 100 {
		write(t, filepath.Join(root, fmt.Sprintf("f%d", i)), "x")
	}
	done := make(chan struct{})
	go func() { w.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("Close hung")
	}
}
