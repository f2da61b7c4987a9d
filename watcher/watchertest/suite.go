// Package watchertest is the conformance suite every reloadd watcher
// backend runs: the same cases, as data, against watcher/native and
// watcher/poll.
//
// A case builds a tree, starts the backend on it, and then runs steps: each
// step changes files and says which net changes reloadd must build. The
// suite runs the backend's events through the same pipeline reloadd uses (a
// debounce.Queue, then the backend's Verify if it has one), folds all
// batches of the step together, and compares the resulting SET of changes —
// never the raw event sequence, which differs between backends (a poller
// sees no intermediate steps). After the expected set is reached it syncs
// (see [Recorder.Sync]) and checks that nothing else came.
//
// Use it from a backend's tests:
//
//	func TestConformance(t *testing.T) {
//		watchertest.Run(t, func(t *testing.T, root string, opts watcher.Options) watcher.Watcher {
//			w, err := poll.New([]string{root}, opts)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return w
//		})
//	}
//
// [Recorder] is the pipeline on its own, for backend-specific tests that
// count builds (the real-editor tests do).
package watchertest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

// Factory starts the backend under test on root with opts and returns it.
//
// It must return only once the backend has its baseline: a change made
// after it returns is reported, and a file present before that is touched,
// chmod-ed or rewritten with the same bytes is known to be unchanged. (A
// backend that hashes in the background waits for that here.)
//
// The suite closes the watcher when the case ends; the factory may also
// register its own cleanup.
type Factory func(t *testing.T, root string, opts watcher.Options) watcher.Watcher

// Step is one thing done to the tree and what it must cause.
type Step struct {
	// Name describes the step in failures.
	Name string
	// Do changes the tree under root.
	Do func(t *testing.T, root string)
	// Want is the set of net changes Do must cause: paths relative to
	// root, slash-separated, Op Create, Write or Remove. Empty means none.
	Want []Change
	// Diff, if set, replaces Want by the difference between the tree
	// before and after Do (files only; ignored paths left out): for steps
	// whose exact effect is random, such as the stress case.
	Diff bool
}

// Case is one scenario.
type Case struct {
	// Name names the subtest.
	Name string
	// Tree holds the files present before the backend starts: slash-
	// separated path → content. A path ending in "/" is an empty
	// directory. Files get a modification time an hour in the past, as in
	// a real project (a file modified within a clock tick of when a
	// backend records it cannot be trusted to be unchanged; see git's
	// "racy clean" problem).
	Tree map[string]string
	// Ignore holds extra gitignore patterns, anchored at root, added to the
	// filter the backend gets (which is watcher.DefaultFilter: editor
	// noise, .git, node_modules and .gitignore files).
	Ignore []string
	// Steps run in order, each checked on its own.
	Steps []Step
}

// Run runs every case of [Cases] against the backend newWatcher makes,
// each in a parallel subtest.
func Run(t *testing.T, newWatcher Factory) {
	RunCases(t, newWatcher, Cases())
}

// RunCases runs the given cases (for example a filtered [Cases]).
func RunCases(t *testing.T, newWatcher Factory, cases []Case) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			runCase(t, newWatcher, c)
		})
	}
}

// Outside returns a directory next to root, on the same filesystem, that
// the backend does not watch: a place to move things to and from. The
// suite creates it; steps refer to it as "../outside/...".
func Outside(root string) string { return filepath.Join(filepath.Dir(root), "outside") }

func runCase(t *testing.T, newWatcher Factory, c Case) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	for _, d := range []string{root, Outside(root)} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	MakeTree(t, root, c.Tree)
	w := newWatcher(t, root, watcher.Options{Filter: caseFilter(t, root, c)})
	rec := Record(t, w, root, Settle)
	for i, s := range c.Steps {
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("step %d", i+1)
		}
		var before map[string][]byte
		if s.Diff {
			before = snapshot(t, root, c)
		}
		rec.Reset()
		s.Do(t, root)
		want := s.Want
		if s.Diff {
			want = diff(before, snapshot(t, root, c))
		}
		want = slices.Clone(want)
		sortChanges(want)
		t.Logf("%s: want %v", name, want)
		rec.Wait(t, want)
		rec.Sync(t)
		if got := rec.Changes(); !slices.Equal(got, want) {
			t.Fatalf("%s: after settling, changes = %v, want %v", name, got, want)
		}
	}
}

// caseFilter is the filter a case's backend gets.
func caseFilter(t *testing.T, root string, c Case) *watcher.Filter {
	t.Helper()
	f := watcher.DefaultFilter()
	if err := f.Add(root, c.Ignore...); err != nil {
		t.Fatal(err)
	}
	return f
}

// MakeTree creates tree under root (see [Case.Tree]) with modification
// times an hour in the past.
func MakeTree(t testing.TB, root string, tree map[string]string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for rel, data := range tree {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if strings.HasSuffix(rel, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// snapshot reads every file under root that the case's filter does not
// ignore: relative path → content (a symlink's content is its target).
func snapshot(t *testing.T, root string, c Case) map[string][]byte {
	t.Helper()
	f := caseFilter(t, root, c)
	out := make(map[string][]byte)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return f.LoadIgnoreFile(p)
		}
		if f.Match(p, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return f.LoadIgnoreFile(p)
		}
		if strings.HasPrefix(d.Name(), markerPrefix) {
			return nil
		}
		var data []byte
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			data = []byte(target)
			if err != nil {
				return err
			}
		} else if data, err = os.ReadFile(p); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = data
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return out
}

// diff returns the changes that turn before into after.
func diff(before, after map[string][]byte) []Change {
	var out []Change
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			out = append(out, Change{p, watcher.Remove})
		case !bytes.Equal(a, b):
			out = append(out, Change{p, watcher.Write})
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			out = append(out, Change{p, watcher.Create})
		}
	}
	sortChanges(out)
	return out
}
