package watchertest

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reloadd/reloadd/debounce"
	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
)

// Settle is the debounce settle window the suite batches events with. It is
// longer than reloadd's default (10 ms) so that the steps of one save stay
// in one batch on a loaded 2-core CI machine; the suite never depends on
// where batches split (it folds them), but the editor tests, which count
// batches, do. As in reloadd without -debounce, the window is not fixed: a
// batch whose every change is complete is handed out after
// debounce.CompleteSettle, so the editor tests check that rule too.
const Settle = 50 * time.Millisecond

// markerPrefix names the files [Recorder.Sync] writes. They are left out
// of everything the Recorder reports.
const markerPrefix = ".watchertest-sync-"

// syncMarkers is how many markers Sync writes one after the other. One is
// enough for an event-driven backend (inotify keeps order); a poller may
// have read some directories of the scan that reports the first marker
// before the step's changes were made, so Sync waits for a second marker,
// written after the first was reported.
const syncMarkers = 2

// Change is one net change, as reloadd would build it.
type Change struct {
	// Path is relative to the watched root, slash-separated.
	Path string
	// Op is watcher.Create, watcher.Write or watcher.Remove.
	Op watcher.Op
}

// String returns e.g. "WRITE a/b.html".
func (c Change) String() string { return c.Op.String() + " " + c.Path }

// Recorder runs a backend's events through the same pipeline as reloadd —
// a debounce.Queue, then the backend's Verify if it implements
// watcher.Verifier — and records the batches that come out: each non-empty
// one is a build.
//
// A Recorder runs two goroutines (the batch consumer and the Errors
// reader); they stop, and the watcher is closed, when the test ends. Its
// methods are safe for concurrent use.
type Recorder struct {
	root   string
	w      watcher.Watcher
	notify chan struct{} // one slot: something was recorded

	mu       sync.Mutex
	batches  [][]Change
	net      map[string]watcher.Op
	markers  map[string]bool // marker name → reported
	nmarkers int
	bad      []string // protocol violations
	errs     []error
}

// Record starts recording w, which watches root, with the given settle
// window (see [Settle]). w is closed when the test ends.
func Record(t testing.TB, w watcher.Watcher, root string, settle time.Duration) *Recorder {
	t.Helper()
	r := &Recorder{
		root:    filepath.Clean(root),
		w:       w,
		notify:  make(chan struct{}, 1),
		net:     make(map[string]watcher.Op),
		markers: make(map[string]bool),
	}
	opts := debounce.Options{Settle: settle}
	if qw, ok := w.(watcher.Quieter); ok {
		opts.Quiet = qw.Quiet
	}
	q := debounce.New(w.Events(), opts)
	verifier, _ := w.(watcher.Verifier)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for b := range q.Batches() {
			evs := b.Events
			if verifier != nil {
				evs = verifier.Verify(evs)
			}
			r.add(evs)
			q.Done()
		}
	}()
	go func() {
		defer wg.Done()
		for err := range w.Errors() {
			r.mu.Lock()
			r.errs = append(r.errs, err)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		w.Close()
		q.Close()
		wg.Wait()
	})
	return r
}

// add records one verified batch.
func (r *Recorder) add(evs []watcher.Event) {
	var batch []Change
	r.mu.Lock()
	for _, ev := range evs {
		rel, ok := r.rel(ev.Path)
		if !ok {
			r.bad = append(r.bad, fmt.Sprintf("event outside the root %s: %v", r.root, ev))
			continue
		}
		if base := filepath.Base(ev.Path); strings.HasPrefix(base, markerPrefix) {
			if _, mine := r.markers[base]; mine && ev.Op == watcher.Create {
				r.markers[base] = true
			}
			continue
		}
		switch ev.Op {
		case watcher.Create, watcher.Write, watcher.Remove:
		default:
			r.bad = append(r.bad, fmt.Sprintf("op %v after verification, want CREATE, WRITE or REMOVE: %v", ev.Op, ev))
			continue
		}
		batch = append(batch, Change{Path: rel, Op: ev.Op})
		if prev, seen := r.net[rel]; seen {
			if op, keep := fold(prev, ev.Op); keep {
				r.net[rel] = op
			} else {
				delete(r.net, rel)
			}
		} else {
			r.net[rel] = ev.Op
		}
	}
	if len(batch) > 0 {
		sortChanges(batch)
		r.batches = append(r.batches, batch)
	}
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// rel returns path relative to the root, slash-separated, if it is an
// absolute, clean path inside it.
func (r *Recorder) rel(path string) (string, bool) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return "", false
	}
	rel, err := filepath.Rel(r.root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// fold combines two net changes of one path from consecutive batches the
// way debounce combines events within one batch: keep=false means no net
// change.
func fold(prev, next watcher.Op) (op watcher.Op, keep bool) {
	switch {
	case prev == watcher.Create && next == watcher.Remove:
		return 0, false // a file that came and went
	case prev == watcher.Create:
		return watcher.Create, true
	case next == watcher.Remove:
		return watcher.Remove, true
	default: // Remove then Create is a Write, as are Write then anything
		return watcher.Write, true
	}
}

func sortChanges(cs []Change) {
	slices.SortFunc(cs, func(a, b Change) int { return cmp.Compare(a.Path, b.Path) })
}

// Batches returns the non-empty verified batches recorded since the last
// Reset, oldest first, each sorted by path. Each is one build.
func (r *Recorder) Batches() [][]Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]Change, len(r.batches))
	for i, b := range r.batches {
		out[i] = slices.Clone(b)
	}
	return out
}

// BuiltTwice returns the paths that are in more than one batch since the
// last Reset, each with the number of batches: a change built twice.
func (r *Recorder) BuiltTwice() map[string]int {
	seen := map[string]int{}
	for _, b := range r.Batches() {
		for _, c := range b {
			seen[c.Path]++
		}
	}
	for p, n := range seen {
		if n == 1 {
			delete(seen, p)
		}
	}
	return seen
}

// Changes returns the net changes recorded since the last Reset, batches
// folded together, sorted by path.
func (r *Recorder) Changes() []Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changesLocked()
}

func (r *Recorder) changesLocked() []Change {
	out := make([]Change, 0, len(r.net))
	for p, op := range r.net {
		out = append(out, Change{Path: p, Op: op})
	}
	sortChanges(out)
	return out
}

// Errors returns the reports the backend sent on its Errors channel so far.
func (r *Recorder) Errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// Reset forgets the batches and changes recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = nil
	clear(r.net)
}

// Wait waits until the net changes equal want (in any order) and fails the
// test if they do not within testenv.WaitLimit.
func (r *Recorder) Wait(t testing.TB, want []Change) {
	t.Helper()
	want = slices.Clone(want)
	sortChanges(want)
	r.waitFor(t, func() bool { return slices.Equal(r.changesLocked(), want) },
		func() string { return fmt.Sprintf("changes %v", want) })
}

// Sync returns once everything done before it has been seen and verified:
// it puts marker files into the root one after the other and waits until
// each is reported. Markers are never reported by the Recorder.
func (r *Recorder) Sync(t testing.TB) {
	t.Helper()
	for range syncMarkers {
		r.mu.Lock()
		r.nmarkers++
		name := fmt.Sprintf("%s%d", markerPrefix, r.nmarkers)
		r.markers[name] = false
		r.mu.Unlock()
		// Written under a name every filter ignores (editor noise), then
		// renamed into place: a file moved in whole is complete at once, so
		// a backend that says so (see watcher.Complete) reports it without
		// waiting for the whole settle window.
		tmp := filepath.Join(r.root, name+"~")
		if err := os.WriteFile(tmp, []byte(name), 0o644); err != nil {
			t.Fatalf("sync marker: %v", err)
		}
		if err := os.Rename(tmp, filepath.Join(r.root, name)); err != nil {
			t.Fatalf("sync marker: %v", err)
		}
		r.waitFor(t, func() bool { return r.markers[name] }, func() string { return "sync marker " + name })
	}
}

// waitFor waits until cond (called with r.mu held) is true.
func (r *Recorder) waitFor(t testing.TB, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.NewTimer(testenv.WaitLimit)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		bad := slices.Clone(r.bad)
		got, errs, batches := r.changesLocked(), slices.Clone(r.errs), len(r.batches)
		r.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("backend broke the watcher contract:\n  %s", strings.Join(bad, "\n  "))
		}
		if ok {
			return
		}
		select {
		case <-r.notify:
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s\n  net changes so far: %v (%d batches)\n  backend errors: %v",
				testenv.WaitLimit, what(), got, batches, errs)
		}
	}
}
