//go:build linux

package native

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/watchertest"
)

// The limit tests run the watcher in a child process — this test binary,
// re-executed — inside a new user namespace whose inotify limits are
// lowered, so the kernel itself refuses watches (ENOSPC) or instances
// (EMFILE) without touching the machine's settings:
//
//	unshare -U -r sh -c 'echo 20 > /proc/sys/user/max_inotify_watches; exec TEST -test.run=^TestLimitChild$'
const (
	childEnv     = "RELOADD_NATIVE_LIMIT_CHILD" // which limit the child runs under
	childRootEnv = "RELOADD_NATIVE_LIMIT_ROOT"
	resultPrefix = "LIMIT-RESULT "
)

// limitResult is what the child reports.
type limitResult struct {
	Reports   []string // LimitError messages
	Limit     int
	Dirs      int // directories in the LimitError
	Watched   int
	Unwatched int
	Later     int // unwatched after more directories were created
	// RemovedUnwatched counts the files reported removed with an unwatched
	// directory.
	RemovedUnwatched int
	Reported         []string
}

func runChild(t *testing.T, sysctl, value, kind, root string) limitResult {
	t.Helper()
	out := testenv.InotifyLimited(t, sysctl, value, "^TestLimitChild$", childEnv+"="+kind, childRootEnv+"="+root)
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, resultPrefix); ok {
			var r limitResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	t.Fatalf("child printed no result:\n%s", out)
	return limitResult{}
}

// limitTree is 1 + 10 + 40 = 51 directories with a file in each.
func limitTree(t *testing.T) string {
	root := t.TempDir()
	tree := map[string]string{"f.html": "f"}
	for i := range 10 {
		tree[fmt.Sprintf("d%d/f.html", i)] = "f"
		for j := range 4 {
			tree[fmt.Sprintf("d%d/s%d/f.html", i, j)] = "f"
		}
	}
	watchertest.MakeTree(t, root, tree)
	return root
}

func TestWatchLimitENOSPC(t *testing.T) {
	root := limitTree(t)
	r := runChild(t, "max_inotify_watches", "20", "watches", root)
	if len(r.Reports) != 1 {
		t.Fatalf("LimitError sent %d times, want once: %q", len(r.Reports), r.Reports)
	}
	// The root's sentinel (its parent) comes after the tree: no watch is left for it.
	if r.Limit != 20 || r.Watched != 20 || r.Dirs != 31 || r.Unwatched != 31 {
		t.Errorf("limit %d, watched %d, reported %d, unwatched %d; want 20, 20, 31, 31", r.Limit, r.Watched, r.Dirs, r.Unwatched)
	}
	msg := r.Reports[0]
	for _, want := range []string{"fs.inotify.max_user_watches = 20", "31 directories not watched", "20 watched", "-watch poll", "no space left"} {
		if !strings.Contains(msg, want) {
			t.Errorf("report %q lacks %q", msg, want)
		}
	}
	if r.Later != 33 {
		t.Errorf("unwatched after two more directories: %d, want 33 (and no second report)", r.Later)
	}
	if r.RemovedUnwatched == 0 {
		t.Error("no file reported removed with an unwatched directory")
	}
}

func TestWatchLimitEMFILE(t *testing.T) {
	root := limitTree(t)
	r := runChild(t, "max_inotify_instances", "0", "instances", root)
	if len(r.Reports) != 1 || r.Watched != 0 || r.Unwatched != 51 || r.Dirs != 51 {
		t.Fatalf("reports %q, watched %d, unwatched %d, reported %d; want one report, 0, 51, 51", r.Reports, r.Watched, r.Unwatched, r.Dirs)
	}
	for _, want := range []string{"max_user_instances = 0", "51 directories not watched", "-watch poll"} {
		if !strings.Contains(r.Reports[0], want) {
			t.Errorf("report %q lacks %q", r.Reports[0], want)
		}
	}
	if len(r.Reported) != 1 || r.Reported[0] != "CREATE d0/new.html" {
		t.Errorf("Verify of a Rescan without inotify: %v, want the new file", r.Reported)
	}
}

// TestLimitChild is the child's side; it runs only when re-executed.
func TestLimitChild(t *testing.T) {
	kind := os.Getenv(childEnv)
	if kind == "" {
		t.Skip("runs as the child of TestWatchLimit*")
	}
	root := os.Getenv(childRootEnv)
	w, err := New([]string{root}, watcher.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var r limitResult
	var le *LimitError
	select {
	case err := <-w.Errors():
		if !errors.As(err, &le) {
			t.Fatalf("first report %v, want a *LimitError", err)
		}
		r.Reports = append(r.Reports, err.Error())
	case <-time.After(waitLimit):
		t.Fatal("no LimitError")
	}
	r.Limit, r.Dirs, r.Watched, r.Unwatched = le.Limit, len(le.Dirs), w.WatchedDirs(), len(w.Unwatched())
	rec := watchertest.Record(t, w, root, watchertest.Settle)
	switch kind {
	case "watches":
		// More directories under a watched one: refused too, not reported
		// again. They arrive with their files (moved in), so the listing
		// after the refused watch finds them; a file created later in a
		// directory without a watch is for the poller to see.
		for _, d := range []string{"new1", "new2"} {
			tmp := filepath.Join(t.TempDir(), d)
			write(t, filepath.Join(tmp, "x.html"), "x")
			if err := os.Rename(tmp, filepath.Join(root, d)); err != nil {
				t.Fatal(err)
			}
		}
		write(t, filepath.Join(root, "f.html"), "f2")
		rec.Wait(t, []watchertest.Change{{Path: "f.html", Op: watcher.Write}, {Path: "new1/x.html", Op: watcher.Create}, {Path: "new2/x.html", Op: watcher.Create}})
		testenv.Eventually(t, "the new directories in Unwatched", func() bool { return len(w.Unwatched()) == 33 })
		r.Later = len(w.Unwatched())
		// A directory without a watch removed: its parent's watch sees it
		// go, and its files are reported removed.
		un := w.Unwatched()
		var victim string
		for _, d := range un {
			if !slices.Contains(un, filepath.Dir(d)) && filepath.Dir(d) != root {
				victim = d
				break
			}
		}
		if victim == "" {
			t.Fatalf("no unwatched directory under a watched one: %v", un)
		}
		var want []watchertest.Change
		filepath.WalkDir(victim, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				want = append(want, watchertest.Change{Path: rel, Op: watcher.Remove})
			}
			return nil
		})
		rec.Sync(t)
		rec.Reset()
		if err := os.RemoveAll(victim); err != nil {
			t.Fatal(err)
		}
		rec.Wait(t, want)
		r.RemovedUnwatched = len(want)
		rec.Reset()
	case "instances":
		write(t, filepath.Join(root, "d0/new.html"), "n")
		for _, ev := range w.Verify([]watcher.Event{{Path: root, Op: watcher.Rescan, Time: time.Now()}}) {
			rel, _ := filepath.Rel(root, ev.Path)
			r.Reported = append(r.Reported, ev.Op.String()+" "+rel)
		}
	}
	for _, c := range rec.Changes() {
		r.Reported = append(r.Reported, c.String())
	}
	for _, err := range rec.Errors() {
		if errors.As(err, &le) {
			r.Reports = append(r.Reports, err.Error())
		}
	}
	b, _ := json.Marshal(r)
	fmt.Printf("%s%s\n", resultPrefix, b)
}

// TestOverflowRescans makes the kernel's event queue overflow for real: it
// creates more files than the queue (fs.inotify.max_queued_events) and
// the channels behind it hold while nobody reads events. The watcher must
// report the overflow and hand out a Rescan that Verify expands, in one
// batch, into exactly the files created.
func TestOverflowRescans(t *testing.T) {
	queued, ok := readInt("/proc/sys/fs/inotify/max_queued_events")
	if !ok {
		t.Skip("no /proc/sys/fs/inotify/max_queued_events")
	}
	n := queued + eventBuffer + readBuf/16 + queued/4 // kernel queue, the Events channel, a read's worth, margin
	if n > 200_000 {
		t.Skipf("max_queued_events is %d: overflowing it takes too many files for a unit test", queued)
	}
	root := t.TempDir()
	dir := filepath.Join(root, "burst")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w := start(t, root, watcher.Options{}).(*Watcher)
	for i := range n {
		fd, err := syscall.Open(filepath.Join(dir, fmt.Sprintf("f%06d", i)), syscall.O_CREAT|syscall.O_WRONLY|syscall.O_CLOEXEC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Close(fd)
	}
	// Now read: everything up to the Rescan is one batch.
	var batch []watcher.Event
	deadline := time.After(waitLimit)
	overflowed := false
	for rescan := false; !rescan || !overflowed; {
		select {
		case ev := <-w.Events():
			batch = append(batch, ev)
			rescan = rescan || ev.Op.Has(watcher.Rescan)
		case err := <-w.Errors():
			overflowed = overflowed || strings.Contains(err.Error(), "overflow")
		case <-deadline:
			t.Fatalf("no Rescan/overflow report after %d events (overflow reported: %v)", len(batch), overflowed)
		}
	}
	got := w.Verify(batch)
	if len(got) != n {
		t.Fatalf("Verify after overflow: %d changes, want %d", len(got), n)
	}
	for i, ev := range got {
		if want := filepath.Join(dir, fmt.Sprintf("f%06d", i)); ev.Path != want || ev.Op != watcher.Create {
			t.Fatalf("change %d = %v, want CREATE %s", i, ev, want)
		}
	}
	// The rest of the stream (events after the overflow) adds nothing.
	var rest []watcher.Event
	for drained := false; !drained; {
		select {
		case ev := <-w.Events():
			rest = append(rest, ev)
		default:
			drained = true
		}
	}
	if extra := w.Verify(rest); len(extra) != 0 {
		t.Errorf("after the rescan, %d more changes: %v", len(extra), extra[:min(len(extra), 5)])
	}
}
