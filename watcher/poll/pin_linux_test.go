package poll

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestPinsAreReleased: on a local disk filesystem every directory below
// the root is held open (pinned) while the poller runs, and Close releases
// every descriptor. A directory removed while polling gives its pin back.
func TestPinsAreReleased(t *testing.T) {
	root := t.TempDir()
	if ok, fstype := statTrusted(root); !ok {
		testenv.Missing(t, "the temporary directory is not on a local disk filesystem ("+fstype+"): nothing is pinned there")
	}
	const dirs = 40
	for i := range dirs {
		mustWrite(t, filepath.Join(root, fmt.Sprintf("d%02d", i), "f.html"), "x")
	}
	before := openFDs(t)
	w, err := New([]string{root}, fast())
	must(t, err)
	if got := openFDs(t) - before; got < dirs {
		w.Close()
		t.Fatalf("%d more descriptors while polling %d directories; want at least one per directory", got, dirs)
	}
	go func() {
		for range w.Errors() {
		}
	}()
	removed := make(chan struct{})
	go func() {
		defer close(removed)
		gone := filepath.Join(root, "d00", "f.html")
		for ev := range w.Events() {
			if ev.Path == gone && ev.Op.Has(watcher.Remove) {
				return
			}
		}
	}()
	held := openFDs(t)
	must(t, os.RemoveAll(filepath.Join(root, "d00")))
	<-removed
	testenv.Eventually(t, "the removed directory's pin released", func() bool { return openFDs(t) < held })
	must(t, w.Close())
	// More than before is a leak (fewer could be a finalizer elsewhere).
	if after := openFDs(t); after > before {
		t.Errorf("%d descriptors open after Close, %d before New", after, before)
	}
}

// TestMountOverPinnedDirectory: a filesystem mounted over a directory the
// poller holds open is noticed (the pin alone would keep showing the empty
// directory underneath), and so is its unmount.
func TestMountOverPinnedDirectory(t *testing.T) {
	base := t.TempDir()
	root, other := filepath.Join(base, "root"), filepath.Join(base, "other")
	must(t, os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	mustWrite(t, filepath.Join(root, "index.html"), "root")
	mustWrite(t, filepath.Join(other, "over.html"), "mounted")
	r := start(t, []string{root}, fast())
	// Past the racy window: a directory made a moment ago is listed by
	// path at every look, which would hide what the test is about.
	r.settle(t)
	r.settle(t)
	m := testenv.Bindfs(t, other, filepath.Join(root, "sub"))
	over := filepath.Join(root, "sub", "over.html")
	r.waitOp(t, over, watcher.Create)
	r.reset()
	must(t, m.Unmount())
	r.waitOp(t, over, watcher.Remove)
}
