//go:build linux

package native

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/watchertest"
)

// The mount tests mount real tmpfs filesystems. They run in a child
// process (this test binary, re-executed) in its own user and mount
// namespaces, so the machine's mount table never changes and a failed test
// leaves no mount behind.
const mountChildEnv = "RELOADD_NATIVE_MOUNT_CHILD" // the directory the child works in

func TestUnmountedRoot(t *testing.T) {
	testenv.InMountNamespace(t, "^TestUnmountedRootChild$", mountChildEnv+"="+t.TempDir())
}

func TestUnmountedSubdirectory(t *testing.T) {
	testenv.InMountNamespace(t, "^TestUnmountedSubdirectoryChild$", mountChildEnv+"="+t.TempDir())
}

// mountChild returns the child's directory, or skips when not re-executed.
func mountChild(t *testing.T) string {
	dir := os.Getenv(mountChildEnv)
	if dir == "" {
		t.Skip("runs in a mount namespace, as the child of the test without Child")
	}
	return dir
}

func mountTmpfs(t *testing.T, dir string) {
	t.Helper()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
}

func unmount(t *testing.T, dir string) {
	t.Helper()
	if err := unix.Unmount(dir, 0); err != nil {
		t.Fatalf("umount %s: %v", dir, err)
	}
}

// waitRootError waits for a *RootError about dir with the given change.
func waitRootError(t *testing.T, rec *watchertest.Recorder, dir string, change RootChange) {
	t.Helper()
	waitErr(t, rec, "a RootError "+(&RootError{Root: dir, Change: change}).Error(), func(err error) bool {
		var re *RootError
		return errors.As(err, &re) && re.Root == dir && re.Change == change
	})
}

// countRootErrors counts the *RootErrors about dir with the given change.
func countRootErrors(rec *watchertest.Recorder, dir string, change RootChange) int {
	n := 0
	for _, err := range rec.Errors() {
		var re *RootError
		if errors.As(err, &re) && re.Root == dir && re.Change == change {
			n++
		}
	}
	return n
}

// The reproduction: a tmpfs watched at its mount point, unmounted
// (the directory underneath shows), written to, mounted again, written to
// twice. Every step must build, be reported once, and leave the root
// watched.
func TestUnmountedRootChild(t *testing.T) {
	mnt := filepath.Join(mountChild(t), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, mnt)
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	watchertest.MakeTree(t, mnt, map[string]string{"a.html": "a", "sub/b.html": "b"})
	w := start(t, mnt, watcher.Options{}).(*Watcher)
	rec := watchertest.Record(t, w, mnt, watchertest.Settle)
	ch := func(op watcher.Op, paths ...string) []watchertest.Change {
		var out []watchertest.Change
		for _, p := range paths {
			out = append(out, watchertest.Change{Path: p, Op: op})
		}
		return out
	}

	write(t, filepath.Join(mnt, "a.html"), "a2")
	rec.Wait(t, ch(watcher.Write, "a.html"))
	rec.Reset()

	// Unmounted: the files are gone from the path, which is the (empty)
	// directory underneath now, watched.
	unmount(t, mnt)
	rec.Wait(t, ch(watcher.Remove, "a.html", "sub/b.html"))
	waitRootError(t, rec, mnt, RootUnmounted)
	if n := w.WatchedDirs(); n != 1 {
		t.Errorf("after the unmount: %d watched directories, want 1 (the directory underneath)", n)
	}
	rec.Reset()
	write(t, filepath.Join(mnt, "under.html"), "u")
	rec.Wait(t, ch(watcher.Create, "under.html"))
	rec.Reset()

	// Mounted again (a new, empty tmpfs): noticed by the root check, the
	// file underneath is hidden, and writes build again.
	mountTmpfs(t, mnt)
	write(t, filepath.Join(mnt, "new.html"), "n1")
	rec.Wait(t, append(ch(watcher.Remove, "under.html"), ch(watcher.Create, "new.html")...))
	waitRootError(t, rec, mnt, RootMounted)
	rec.Reset()
	write(t, filepath.Join(mnt, "new.html"), "n2")
	rec.Wait(t, ch(watcher.Write, "new.html"))
	rec.Reset()
	write(t, filepath.Join(mnt, "d/deep.html"), "d")
	rec.Wait(t, ch(watcher.Create, "d/deep.html"))
	rec.Sync(t)
	if n := w.WatchedDirs(); n != 2 {
		t.Errorf("after the remount: %d watched directories, want 2", n)
	}

	// A filesystem mounted over the live one (no unmount in between).
	rec.Reset()
	mountTmpfs(t, mnt)
	rec.Wait(t, ch(watcher.Remove, "new.html", "d/deep.html"))
	waitRootError(t, rec, mnt, RootMounted)
	rec.Reset()
	write(t, filepath.Join(mnt, "top.html"), "t")
	rec.Wait(t, ch(watcher.Create, "top.html"))
	rec.Reset()
	unmount(t, mnt) // back to the second tmpfs
	rec.Wait(t, append(ch(watcher.Remove, "top.html"), ch(watcher.Create, "new.html", "d/deep.html")...))
	rec.Sync(t)

	for _, c := range []RootChange{RootUnmounted, RootMounted} {
		if n := countRootErrors(rec, mnt, c); n != 2 {
			t.Errorf("%d reports %q, want 2 (one per unmount or mount)", n, (&RootError{Root: mnt, Change: c}).Error())
		}
	}
	for _, err := range rec.Errors() {
		var re *RootError
		if !errors.As(err, &re) {
			t.Errorf("unexpected report: %v", err)
		}
	}
}

// A filesystem mounted at a directory below the root, unmounted: the
// directory underneath is watched in its place.
func TestUnmountedSubdirectoryChild(t *testing.T) {
	root := filepath.Join(mountChild(t), "root")
	sub := filepath.Join(root, "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, sub)
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	watchertest.MakeTree(t, root, map[string]string{"a.html": "a", "sub/m.html": "m", "sub/d/n.html": "n"})
	w := start(t, root, watcher.Options{}).(*Watcher)
	rec := watchertest.Record(t, w, root, watchertest.Settle)
	unmount(t, sub)
	rec.Wait(t, []watchertest.Change{{Path: "sub/d/n.html", Op: watcher.Remove}, {Path: "sub/m.html", Op: watcher.Remove}})
	waitRootError(t, rec, sub, RootUnmounted)
	rec.Reset()
	write(t, filepath.Join(sub, "u.html"), "u")
	write(t, filepath.Join(root, "a.html"), "a2")
	rec.Wait(t, []watchertest.Change{{Path: "a.html", Op: watcher.Write}, {Path: "sub/u.html", Op: watcher.Create}})
	rec.Sync(t)
	if n := w.WatchedDirs(); n != 2 {
		t.Errorf("%d watched directories, want 2 (root, sub)", n)
	}
	if n := countRootErrors(rec, sub, RootUnmounted); n != 1 {
		t.Errorf("unmount reported %d times, want once", n)
	}
	if errs := rec.Errors(); len(errs) != 1 {
		t.Errorf("reports %v, want only the unmount", errs)
	}
}

// A root removed and created again while another process holds the old
// directory open (the static server did): the kernel reports the old
// directory's deletion only when the last descriptor closes, so only the
// sentinel on its parent sees it go.
func TestRootReplacedWhileHeldOpen(t *testing.T) {
	for _, how := range []string{"removed", "renamed away"} {
		t.Run(how, func(t *testing.T) {
			parent := t.TempDir()
			root := filepath.Join(parent, "site")
			watchertest.MakeTree(t, root, map[string]string{"a.html": "a", "d/b.html": "b"})
			w := start(t, root, watcher.Options{}).(*Watcher)
			rec := watchertest.Record(t, w, root, watchertest.Settle)
			held, err := os.Open(root)
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			if how == "removed" {
				err = os.RemoveAll(root)
			} else {
				err = os.Rename(root, filepath.Join(parent, "old"))
			}
			if err != nil {
				t.Fatal(err)
			}
			rec.Wait(t, []watchertest.Change{{Path: "a.html", Op: watcher.Remove}, {Path: "d/b.html", Op: watcher.Remove}})
			waitRootError(t, rec, root, RootRemoved)
			rec.Reset()
			write(t, filepath.Join(root, "a.html"), "a2")
			rec.Wait(t, []watchertest.Change{{Path: "a.html", Op: watcher.Create}})
			waitRootError(t, rec, root, RootBack)
			rec.Reset()
			write(t, filepath.Join(root, "a.html"), "a3")
			write(t, filepath.Join(root, "e/c.html"), "c")
			rec.Wait(t, []watchertest.Change{{Path: "a.html", Op: watcher.Write}, {Path: "e/c.html", Op: watcher.Create}})
			rec.Sync(t)
			// The old directory, still open, changes: none of it is ours.
			if how == "renamed away" {
				write(t, filepath.Join(parent, "old", "a.html"), "old")
				rec.Sync(t)
				if got := rec.Changes(); len(got) != 2 {
					t.Errorf("changes in the old directory reported: %v", got)
				}
			}
			held.Close()
			rec.Sync(t)
			for _, c := range []RootChange{RootRemoved, RootBack} {
				if n := countRootErrors(rec, root, c); n != 1 {
					t.Errorf("%q reported %d times, want once", (&RootError{Root: root, Change: c}).Error(), n)
				}
			}
			if n := w.WatchedDirs(); n != 2 {
				t.Errorf("%d watched directories, want 2 (site, site/e)", n)
			}
		})
	}
}

// Removed and created again at once: one report, "replaced".
func TestRootReplacedAtOnce(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "site")
	watchertest.MakeTree(t, root, map[string]string{"a.html": "a"})
	w := start(t, root, watcher.Options{}).(*Watcher)
	rec := watchertest.Record(t, w, root, watchertest.Settle)
	held, err := os.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	// rm -rf site && mkdir site && cp … site/, as fast as a build script.
	tmp := filepath.Join(parent, "next")
	watchertest.MakeTree(t, tmp, map[string]string{"a.html": "a2", "b.html": "b"})
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, root); err != nil {
		t.Fatal(err)
	}
	rec.Wait(t, []watchertest.Change{{Path: "a.html", Op: watcher.Write}, {Path: "b.html", Op: watcher.Create}})
	rec.Sync(t)
	var changes []RootChange
	for _, err := range rec.Errors() {
		var re *RootError
		if errors.As(err, &re) {
			changes = append(changes, re.Change)
		}
	}
	if !slices.Equal(changes, []RootChange{RootReplaced}) && !slices.Equal(changes, []RootChange{RootRemoved, RootBack}) {
		t.Errorf("reports %v, want one RootReplaced (or removed, then back, if the worker looked in between)", rec.Errors())
	}
	_ = w
}

// TestQuiet: the watcher is quiet when no event is on its way, and not
// while one waits in the kernel's queue or in Events.
func TestQuiet(t *testing.T) {
	// The kernel's queue, through the backend alone (nothing reads it).
	dir := t.TempDir()
	be, err := newBackend()
	if err != nil {
		t.Fatal(err)
	}
	defer be.close()
	if _, err := be.add(dir, watchTree); err != nil {
		t.Fatal(err)
	}
	if be.pending() {
		t.Error("pending with nothing written")
	}
	write(t, filepath.Join(dir, "a"), "a")
	if !be.pending() {
		t.Error("not pending with a write's events queued")
	}
	evs, err := be.read(nil)
	if err != nil || len(evs) == 0 {
		t.Fatalf("read: %v, %v", evs, err)
	}
	if be.pending() {
		t.Errorf("pending after reading %v", evs)
	}

	// The whole watcher: an event waiting in Events.
	root := t.TempDir()
	w := start(t, root, watcher.Options{}).(*Watcher)
	testenv.Eventually(t, "the watcher to be quiet", w.Quiet)
	write(t, filepath.Join(root, "b"), "b")
	testenv.Eventually(t, "an event in Events", func() bool { return len(w.Events()) > 0 })
	if w.Quiet() {
		t.Error("quiet with events waiting in Events")
	}
	testenv.Eventually(t, "the watcher to be quiet again, once Events is read", func() bool {
		for len(w.Events()) > 0 {
			<-w.Events()
		}
		return w.Quiet()
	})
}
