package auto

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/watchertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// factory is the conformance factory for a forced mode.
func factory(mode Mode) watchertest.Factory {
	return func(t *testing.T, root string, opts watcher.Options) watcher.Watcher {
		t.Helper()
		w, err := New([]string{root}, Options{Options: opts, Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			w.Close()
			for err := range w.Errors() {
				var se *SwitchError
				if errors.As(err, &se) {
					t.Errorf("a local tree was switched to polling: %v", err)
				}
			}
		})
		if !w.WaitWarmed(testenv.WaitLimit) {
			t.Fatal("baseline not hashed in time")
		}
		return w
	}
}

// TestConformanceHybrid runs the shared suite through hybrid mode: native
// events and the verifying sweep both report every change on a local tree;
// each is still one build, and the mount is never switched.
func TestConformanceHybrid(t *testing.T) {
	watchertest.Run(t, factory(Hybrid))
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

func mountOf(t *testing.T, w *Watcher, path string) MountStatus {
	t.Helper()
	for _, m := range w.Mounts() {
		if m.Path == path {
			return m
		}
	}
	t.Fatalf("no mount %s in %+v", path, w.Mounts())
	return MountStatus{}
}

// deafTree is a local tree with a bindfs mount inside it; writes to the
// mount's backing directory produce no inotify event under the mount.
func deafTree(t *testing.T) (root, mnt, backing string) {
	t.Helper()
	root = t.TempDir()
	backing = t.TempDir()
	mnt = filepath.Join(root, "shared")
	write(t, filepath.Join(root, "index.html"), "local")
	write(t, filepath.Join(backing, "page.html"), "remote")
	// Files written just before the watch starts are "racy" (their first
	// event counts as a change); these are an hour old.
	old := time.Now().Add(-time.Hour)
	for _, f := range []string{filepath.Join(root, "index.html"), filepath.Join(backing, "page.html")} {
		if err := os.Chtimes(f, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.Bindfs(t, backing, mnt)
	return root, mnt, backing
}

// TestAutoPollsTheMountAndWatchesTheRestNatively: a project on local disk
// with one FUSE mount inside gets native watching for the disk and polling
// for the mount, and sees changes in both — including changes made behind
// the mount, which inotify never reports.
func TestAutoPollsTheMountAndWatchesTheRestNatively(t *testing.T) {
	root, mnt, backing := deafTree(t)
	w, err := New([]string{root}, Options{PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := mountOf(t, w, root); got.Mode != Native || got.NativeWatches < 1 {
		t.Errorf("root: %+v, want native", got)
	}
	if got := mountOf(t, w, mnt); got.Mode != Poll || got.PolledFiles != 1 || got.NativeWatches != 0 {
		t.Errorf("mount: %+v, want poll with its one file", got)
	}
	r := watchertest.Record(t, w, root, watchertest.Settle)
	write(t, filepath.Join(backing, "page.html"), "changed behind the mount")
	write(t, filepath.Join(backing, "new", "deep.html"), "new behind the mount")
	write(t, filepath.Join(root, "index.html"), "changed locally")
	r.Wait(t, []watchertest.Change{
		{Path: "index.html", Op: watcher.Write},
		{Path: "shared/new/deep.html", Op: watcher.Create},
		{Path: "shared/page.html", Op: watcher.Write},
	})
	// Nothing from the native watcher leaked in from under the mount: the
	// native side must not even have watched it.
	if got := mountOf(t, w, root); got.Dirs != 1 {
		t.Errorf("root mount covers %d directories, want 1 (the mount excluded): %+v", got.Dirs, got)
	}
}

// TestHybridSwitchesADeafMountToPolling: the detector is made to misjudge a
// bindfs mount as an overlay (hybrid). A change made behind it is found by
// the verifying sweep — late, not lost — and the mount switches to polling,
// once; later changes are seen by the poller.
func TestHybridSwitchesADeafMountToPolling(t *testing.T) {
	root, mnt, backing := deafTree(t)
	plan := func(roots []string) ([]Choice, error) {
		return []Choice{
			{Path: root, FSType: "ext4", Mode: Native, Reason: "test"},
			{Path: mnt, FSType: "overlay", Mode: Hybrid, Reason: "test: misjudged"},
		}, nil
	}
	w, err := New([]string{root}, Options{PollInterval: 20 * time.Millisecond, Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	if got := mountOf(t, w, mnt); got.Mode != Hybrid || got.NativeWatches != 1 {
		t.Fatalf("mount before: %+v", got)
	}
	r := watchertest.Record(t, w, root, watchertest.Settle)
	write(t, filepath.Join(backing, "first.html"), "one")
	r.Wait(t, []watchertest.Change{{Path: "shared/first.html", Op: watcher.Create}})
	testenv.Eventually(t, "the mount to switch to polling", func() bool {
		m := mountOf(t, w, mnt)
		return m.Mode == Poll && m.Switched
	})
	switches := func() (n int) {
		for _, err := range r.Errors() {
			var se *SwitchError
			if errors.As(err, &se) {
				n++
				if se.Mount != mnt || se.Path != filepath.Join(mnt, "first.html") {
					t.Errorf("switch report: %+v", se)
				}
			}
		}
		return n
	}
	// The report goes out right after the switch is asked for.
	testenv.Eventually(t, "the switch report", func() bool { return switches() > 0 })
	r.Reset()
	write(t, filepath.Join(backing, "first.html"), "two")
	write(t, filepath.Join(backing, "second.html"), "x")
	r.Wait(t, []watchertest.Change{
		{Path: "shared/first.html", Op: watcher.Write},
		{Path: "shared/second.html", Op: watcher.Create},
	})
	// page.html, first.html, second.html — all polled, none watched. (The
	// poller publishes its counts at the end of the tick that reported
	// the change, so wait for them.)
	testenv.Eventually(t, "the mount to count 3 polled files and no watches", func() bool {
		got := mountOf(t, w, mnt)
		return got.NativeWatches == 0 && got.PolledFiles == 3
	})
	if n := switches(); n != 1 {
		t.Errorf("%d switch reports, want 1: %v", n, r.Errors())
	}
}

// TestHybridStaleEventIsNotAMiss: on a hybrid mount an event can come before
// the content (VirtioFS). Here an event arrives (a touch through the mount)
// while the bytes are unchanged; the new bytes then land behind the mount.
// The change is delivered, and the mount is not taken for deaf: native
// watching did report the file.
func TestHybridStaleEventIsNotAMiss(t *testing.T) {
	root, mnt, backing := deafTree(t)
	plan := func(roots []string) ([]Choice, error) {
		return []Choice{
			{Path: root, FSType: "ext4", Mode: Native, Reason: "test"},
			{Path: mnt, FSType: "virtiofs-like", Mode: Hybrid, Reason: "test"},
		}, nil
	}
	w, err := New([]string{root}, Options{PollInterval: 20 * time.Millisecond, Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	if !w.WaitWarmed(testenv.WaitLimit) {
		t.Fatal("not warmed")
	}
	r := watchertest.Record(t, w, root, watchertest.Settle)
	page := filepath.Join(mnt, "page.html")
	now := time.Now()
	if err := os.Chtimes(page, now, now); err != nil { // the event, without new bytes
		t.Fatal(err)
	}
	r.Sync(t)
	if got := r.Changes(); len(got) != 0 {
		t.Fatalf("a touch was reported as a change: %v", got)
	}
	write(t, filepath.Join(backing, "page.html"), "the bytes arrive late")
	r.Wait(t, []watchertest.Change{{Path: "shared/page.html", Op: watcher.Write}})
	if m := mountOf(t, w, mnt); m.Mode != Hybrid || m.Switched {
		t.Errorf("mount: %+v, want still hybrid", m)
	}
}

func TestForcedModes(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "a.html"), "a")
	for _, mode := range []Mode{Native, Poll, Hybrid} {
		w, err := New([]string{root}, Options{Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		ms := w.Mounts()
		if len(ms) != 1 || ms[0].Mode != mode || ms[0].Reason != "forced by -watch "+string(mode) || ms[0].Files != 1 {
			t.Errorf("-watch %s: %+v", mode, ms)
		}
		w.Close()
	}
	if _, err := New([]string{root}, Options{Mode: "sometimes"}); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := New([]string{filepath.Join(root, "missing")}, Options{}); err == nil {
		t.Error("missing root accepted")
	}
}

// TestVerifyTimesAChangeByItsLatestNativeSighting: a sweep's late report of
// a change already built can share a batch with a new native event for the
// same file, and the batch's event then carries the old report's time; the
// verified change must carry the native sighting's time, so changed_at is
// not set before the save that caused the build.
func TestVerifyTimesAChangeByItsLatestNativeSighting(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "a.html")
	write(t, f, "one")
	old := time.Now().Add(-time.Hour)
	os.Chtimes(f, old, old)
	w, err := New([]string{root}, Options{Mode: Hybrid})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !w.WaitWarmed(testenv.WaitLimit) {
		t.Fatal("not warmed")
	}
	sweepTime := time.Now() // the stale report, from before the save
	write(t, f, "two")
	var nativeTime time.Time
	testenv.Eventually(t, "the native event", func() bool {
		w.seenMu.Lock()
		defer w.seenMu.Unlock()
		nativeTime = w.seen[f]
		return !nativeTime.IsZero()
	})
	got := w.Verify([]watcher.Event{{Path: f, Op: watcher.Write, Time: sweepTime}})
	if len(got) != 1 || got[0].Time.Before(nativeTime) {
		t.Errorf("Verify = %v timed %v, want one change timed at or after the native sighting %v", got, got[0].Time, nativeTime)
	}
}

// TestAgentWrittenIsBounded: the write times an agent's records carry are
// kept until asked for, but never more than maxWritten, the old ones
// going first.
func TestAgentWrittenIsBounded(t *testing.T) {
	var a agentState
	old := time.Now().Add(-2 * writtenKeep)
	var hs []Hint
	for i := range maxWritten {
		hs = append(hs, Hint{Path: fmt.Sprintf("/m/old%d", i), Written: old})
	}
	a.noteWritten(hs)
	a.noteWritten([]Hint{{Path: "/m/new", Written: time.Now()}, {Path: "/m/none"}})
	if n := len(a.written); n != 1 {
		t.Errorf("%d write times kept after the old ones were pruned, want 1", n)
	}
	if _, ok := a.written["/m/new"]; !ok {
		t.Error("the newest write time was dropped")
	}
	if _, ok := a.written["/m/none"]; ok {
		t.Error("a record without a write time was kept")
	}
}
