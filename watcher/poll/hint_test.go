package poll

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
)

// asleep are options under which the poller finds nothing on its own for
// an hour: no tick, no sweep. Whatever is reported was found by a hint.
func asleep() Options {
	return Options{Interval: time.Hour, DirPeriod: time.Hour, ColdPeriod: time.Hour, ColdBudget: 0.001, Stat: StatTrust}
}

func sum(data string) uint64 { return xxhash.Sum64String(data) }

// TestHintFindsChangesAtOnce: with every tick an hour away, hints alone
// find an in-place write, a new file in a new directory, a removal and a
// directory's new names, each reported once with the right operation.
func TestHintFindsChangesAtOnce(t *testing.T) {
	root := t.TempDir()
	p := func(rel string) string { return filepath.Join(root, rel) }
	mustWrite(t, p("a.html"), "old")
	mustWrite(t, p("gone.html"), "bye")
	mustWrite(t, p("d/keep.css"), "keep")
	r := start(t, []string{root}, asleep())

	mustWrite(t, p("a.html"), "new")
	r.w.Hint(Hint{Path: p("a.html"), Size: 3, Hash: sum("new"), HasHash: true})
	r.waitOp(t, p("a.html"), watcher.Write)

	mustWrite(t, p("n/m/new.js"), "js")
	r.w.Hint(Hint{Path: p("n/m/new.js"), Hash: sum("js"), HasHash: true})
	r.waitOp(t, p("n/m/new.js"), watcher.Create)

	must(t, os.Remove(p("gone.html")))
	r.w.Hint(Hint{Path: p("gone.html"), Remove: true})
	r.waitOp(t, p("gone.html"), watcher.Remove)

	mustWrite(t, p("d/x.css"), "x")
	mustWrite(t, p("d/y.css"), "y")
	r.w.Hint(Hint{Path: p("d"), Dir: true})
	r.waitOp(t, p("d/x.css"), watcher.Create)
	r.waitOp(t, p("d/y.css"), watcher.Create)

	// A hint for what the index already holds reads nothing and reports
	// nothing; paths outside the roots and ignored ones are dropped.
	r.w.Hint(Hint{Path: p("a.html"), Hash: sum("new"), HasHash: true},
		Hint{Path: "/outside/every/root"}, Hint{Path: p("node_modules/x.js")})
	testenv.Eventually(t, "the last hints to settle", func() bool { return r.w.HintStats().Hints == 7 && r.w.pendingCount() == 0 })

	want := []string{
		`WRITE "` + p("a.html") + `"`, `CREATE "` + p("n/m/new.js") + `"`, `REMOVE "` + p("gone.html") + `"`,
		`CREATE "` + p("d/x.css") + `"`, `CREATE "` + p("d/y.css") + `"`,
	}
	var got []string
	for _, e := range r.events() {
		got = append(got, e.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	st := r.w.HintStats()
	if st.Reported != 4 || st.Unconfirmed != 0 {
		t.Errorf("stats = %+v, want 4 reported, 0 unconfirmed", st)
	}
}

// TestHintWaitsForTheHintedBytes runs the loop in a synctest bubble: the
// hint arrives 300 ms before the bytes do. The poller looks again with
// backoff and reports the change once, when the bytes are there, with the
// hint's arrival as the event's time and the lag measured.
func TestHintWaitsForTheHintedBytes(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "page.html")
	mustWrite(t, f, "old")
	synctest.Test(t, func(t *testing.T) {
		w, err := New([]string{root}, asleep())
		must(t, err)
		defer w.Close()
		hinted := time.Now()
		w.Hint(Hint{Path: f, Size: 3, Hash: sum("new"), HasHash: true})
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		if n := w.hintLooks.Load(); n < 5 {
			t.Errorf("%d looks in the first 300 ms, want the backoff's ≥ 5", n)
		}
		select {
		case ev := <-w.Events():
			t.Fatalf("event before the bytes arrived: %v", ev)
		default:
		}
		mustWrite(t, f, "new")
		arrived := time.Now()
		ev := <-w.Events()
		if ev.Path != f || ev.Op != watcher.Write || !ev.Time.Equal(hinted) {
			t.Errorf("event = %v at %v, want a Write of %s at the hint's time %v", ev, ev.Time, f, hinted)
		}
		synctest.Wait()
		st := w.HintStats()
		if lag := st.LagMax; lag < arrived.Sub(hinted) || lag > 2*arrived.Sub(hinted) {
			t.Errorf("measured lag %v; the bytes arrived %v after the hint (the backoff may add as much again)", lag, arrived.Sub(hinted))
		}
		if st.Reported != 1 || st.Lagged != 1 || st.Unconfirmed != 0 {
			t.Errorf("stats = %+v, want 1 reported, 1 lagged", st)
		}
	})
}

// TestStaleOrForgedHints: a hint whose bytes never arrive reports nothing
// while the content is what the index holds (a forged hint costs reads,
// not a build); a hint whose bytes never arrive but whose file did change
// (a step on the way to the hinted content that never came) reports the
// change once, when the wait is over.
func TestStaleOrForgedHints(t *testing.T) {
	root := t.TempDir()
	same, changed := filepath.Join(root, "same.html"), filepath.Join(root, "changed.html")
	mustWrite(t, same, "same")
	mustWrite(t, changed, "v1")
	synctest.Test(t, func(t *testing.T) {
		o := asleep()
		o.HintWait = 2 * time.Second
		w, err := New([]string{root}, o)
		must(t, err)
		defer w.Close()
		w.Hint(Hint{Path: same, Hash: sum("forged"), HasHash: true})
		mustWrite(t, changed, "v2")
		hinted := time.Now()
		w.Hint(Hint{Path: changed, Hash: sum("v3"), HasHash: true})
		time.Sleep(o.HintWait - time.Millisecond)
		synctest.Wait()
		select {
		case ev := <-w.Events():
			t.Fatalf("event before the wait was over: %v", ev)
		default:
		}
		ev := <-w.Events()
		if ev.Path != changed || ev.Op != watcher.Write || time.Since(hinted) < o.HintWait {
			t.Errorf("event %v after %v, want a Write of %s after the %v wait", ev, time.Since(hinted), changed, o.HintWait)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		select {
		case ev := <-w.Events():
			t.Errorf("second event: %v", ev)
		default:
		}
		st := w.HintStats()
		if st.Unconfirmed != 2 || st.Reported != 1 {
			t.Errorf("stats = %+v, want 2 unconfirmed, 1 reported", st)
		}
		if looks := w.hintLooks.Load(); looks > 2*16 {
			t.Errorf("%d looks for two hints: the backoff should cost ~13 each", looks)
		}
	})
}

// TestHintContentLagOnBindfs: through a real bindfs mount, the hint
// arrives before the backing file's bytes; the poller reports the change
// once they show through the mount, and counts the hint as lagged.
func TestHintContentLagOnBindfs(t *testing.T) {
	m := deafMount(t)
	src, mnt := filepath.Join(m.Src, "index.html"), filepath.Join(m.Dir, "index.html")
	mustWrite(t, src, "<h1>old</h1>")
	o := asleep()
	o.Stat = StatAuto
	o.HintWait = time.Minute // generous: the test waits for the bytes, not the clock
	r := start(t, []string{m.Dir}, o)
	r.w.SetForwarded(true)
	r.w.Hint(Hint{Path: mnt, Hash: sum("<h1>new</h1>"), HasHash: true})
	testenv.Eventually(t, "two looks at the hinted file", func() bool { return r.w.hintLooks.Load() >= 2 })
	if evs := r.events(); len(evs) != 0 {
		t.Fatalf("events before the bytes were written: %s", r.summary())
	}
	mustWrite(t, src, "<h1>new</h1>")
	r.waitOp(t, mnt, watcher.Write)
	testenv.Eventually(t, "the hint to settle", func() bool { return r.w.pendingCount() == 0 })
	if evs := r.events(); len(evs) != 1 {
		t.Errorf("events = %s, want one Write", r.summary())
	}
	if st := r.w.HintStats(); st.Lagged != 1 || st.Reported != 1 || st.LagMax <= 0 {
		t.Errorf("stats = %+v, want one lagged, reported hint", st)
	}
}

// TestHintConcurrentSenders: hints from many goroutines at once (run with
// -race) are all taken, and each real change is reported exactly once.
func TestHintConcurrentSenders(t *testing.T) {
	root := t.TempDir()
	for i := range 40 {
		mustWrite(t, filepath.Join(root, fmt.Sprintf("f%02d", i)), "old")
	}
	r := start(t, []string{root}, asleep())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < 40; i += 4 {
				f := filepath.Join(root, fmt.Sprintf("f%02d", i))
				mustWrite(t, f, "new")
				for range 5 { // the same change hinted again and again
					r.w.Hint(Hint{Path: f, Hash: sum("new"), HasHash: true})
				}
			}
		})
	}
	wg.Wait()
	testenv.Eventually(t, "40 writes", func() bool { return len(r.ops()) == 40 })
	testenv.Eventually(t, "the hints to settle", func() bool { return r.w.pendingCount() == 0 })
	if n := len(r.events()); n != 40 {
		t.Errorf("%d events for 40 changes: %s", n, r.summary())
	}
	if st := r.w.HintStats(); st.Hints != 200 {
		t.Errorf("stats = %+v, want 200 hints", st)
	}
}

// TestHintOverflow: a queue the loop does not take is capped; the
// watcher leaves forwarded mode and says so.
func TestHintOverflow(t *testing.T) {
	w := &Watcher{wake: make(chan struct{}, 1)}
	w.SetForwarded(true)
	hs := make([]Hint, maxQueuedHints+3)
	for i := range hs {
		hs[i] = Hint{Path: fmt.Sprintf("/r/f%d", i)}
	}
	w.Hint(hs...)
	st := w.HintStats()
	if st.Dropped != 3 || st.Hints != maxQueuedHints || st.Forwarded {
		t.Errorf("stats = %+v, want 3 dropped, %d queued, forwarded off", st, maxQueuedHints)
	}
	if !w.req.take().overflow {
		t.Error("overflow not flagged for the loop")
	}
}

// hostManifest builds the manifest an agent would send for root.
func hostManifest(t *testing.T, root string) []ManifestEntry {
	t.Helper()
	var out []ManifestEntry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		me := ManifestEntry{Path: filepath.ToSlash(rel), Dir: d.IsDir(), MTime: fi.ModTime().UnixNano()}
		if !d.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			me.Size, me.Hash, me.HasHash = int64(len(data)), xxhash.Sum64(data), true
		}
		out = append(out, me)
		return nil
	})
	must(t, err)
	return out
}

// TestReconcile: while the agent was away a file was changed in place,
// one created in a new directory, one removed; the manifest it sends on
// reconnecting makes the poller check exactly those paths (not the 200
// unchanged ones) and report exactly those changes, while the poller
// itself is asleep.
func TestReconcile(t *testing.T) {
	root := t.TempDir()
	p := func(rel string) string { return filepath.Join(root, rel) }
	for i := range 200 {
		mustWrite(t, p(fmt.Sprintf("s%d/f%03d.html", i%4, i)), fmt.Sprint("page ", i))
	}
	mustWrite(t, p("old.css"), "old")
	r := start(t, []string{root}, asleep())
	r.w.SetForwarded(true)

	// The poller's own view, as a manifest, matches the disk: nothing to
	// check.
	idx, err := r.w.Manifest(root)
	must(t, err)
	if host := hostManifest(t, root); !slices.EqualFunc(idx, host, func(a, b ManifestEntry) bool {
		return a.Path == b.Path && a.Dir == b.Dir && a.Size == b.Size && a.Hash == b.Hash && a.HasHash == b.HasHash
	}) {
		t.Fatalf("Manifest differs from the disk:\n%v\n%v", idx, host)
	}
	must(t, r.w.Reconcile(root, hostManifest(t, root)))

	mustWrite(t, p("s1/f001.html"), "changed while apart")
	mustWrite(t, p("new/dir/n.js"), "new")
	must(t, os.Remove(p("old.css")))
	must(t, r.w.Reconcile(root, hostManifest(t, root)))
	r.waitOp(t, p("s1/f001.html"), watcher.Write)
	r.waitOp(t, p("new/dir/n.js"), watcher.Create)
	r.waitOp(t, p("old.css"), watcher.Remove)
	testenv.Eventually(t, "the checks to settle", func() bool { return r.w.pendingCount() == 0 })
	if n := len(r.events()); n != 3 {
		t.Errorf("events = %s, want the three changes", r.summary())
	}
	// new, new/dir and new/dir/n.js are missing from the index; the rest
	// is one write and one removal.
	if st := r.w.HintStats(); st.Hints != 5 {
		t.Errorf("%d paths checked, want 5 (stats %+v)", st.Hints, st)
	}

	for _, bad := range []string{"relative", "/outside"} {
		if err := r.w.Reconcile(bad, nil); err == nil {
			t.Errorf("Reconcile(%q) succeeded", bad)
		}
	}
	// Entries that try to leave the root are skipped.
	must(t, r.w.Reconcile(root, append(hostManifest(t, root),
		ManifestEntry{Path: "../escape"}, ManifestEntry{Path: "/etc/passwd"}, ManifestEntry{Path: "a/../../b"})))
	_, err = r.w.Manifest(root) // takes the Reconcile first
	must(t, err)
	if st := r.w.HintStats(); st.Hints != 5 || len(r.events()) != 3 {
		t.Errorf("after a hostile manifest: stats %+v, events %s", st, r.summary())
	}
}

// TestForwardedMode runs the loop in a synctest bubble. While forwarded,
// an in-place write to a file that was just changed is not found by hot
// polling, only by the safety sweep, much later; when forwarded mode ends,
// full polling resumes at once (the directory sweep finds a new file).
func TestForwardedMode(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "hot.html")
	mustWrite(t, f, "v0")
	for i := range 20 {
		mustWrite(t, filepath.Join(root, fmt.Sprintf("cold%02d", i)), "cold")
	}
	synctest.Test(t, func(t *testing.T) {
		o := Options{Interval: 100 * time.Millisecond, ColdPeriod: 10 * time.Minute, Stat: StatTrust}
		w, err := New([]string{root}, o)
		must(t, err)
		defer w.Close()
		next := func(within time.Duration) (watcher.Event, bool) {
			t.Helper()
			deadline := time.Now().Add(within)
			for time.Now().Before(deadline) {
				select {
				case ev := <-w.Events():
					return ev, true
				default:
				}
				time.Sleep(o.Interval)
				synctest.Wait()
			}
			return watcher.Event{}, false
		}
		// Make the file hot, then forward.
		mustWrite(t, f, "v1")
		if ev, ok := next(5 * time.Second); !ok || ev.Path != f {
			t.Fatalf("first write not seen: %v %v", ev, ok)
		}
		w.SetForwarded(true)
		synctest.Wait()
		mustWrite(t, f, "v2 (longer)")
		if ev, ok := next(10 * time.Second); ok {
			t.Fatalf("forwarded mode still polls hot files: %v", ev)
		}
		if ev, ok := next(11 * time.Minute); !ok || ev.Path != f {
			t.Errorf("the safety sweep did not find the change within its period: %v %v", ev, ok)
		}
		w.SetForwarded(false)
		fresh := filepath.Join(root, "fresh.html")
		mustWrite(t, fresh, "new")
		if ev, ok := next(time.Second); !ok || ev.Path != fresh {
			t.Errorf("full polling did not resume: %v %v", ev, ok)
		}
	})
}

func (w *Watcher) pendingCount() int64 { return w.hintPending.Load() }

// TestVerifyRecordsWhatTheBuildReads: the poller read a file between the
// writer's truncate and its write (here: it saw the first of two writes);
// Verify, called just before the build, reads it again and records the
// whole file, so the next look finds nothing new (issue 13, item 8: one
// save, two builds). A save back to the bytes the last build read is
// dropped by Verify.
func TestVerifyRecordsWhatTheBuildReads(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "index.html")
	mustWrite(t, f, "<h1>old</h1>")
	o := asleep()
	o.HintWait = 20 * time.Millisecond
	w, err := New([]string{root}, o)
	must(t, err)
	defer w.Close()
	// look makes the poller look at f once and returns what it reported:
	// hintLooks is published after the look's events are queued.
	look := func() []watcher.Event {
		t.Helper()
		n := w.hintLooks.Load()
		w.Hint(Hint{Path: f})
		testenv.Eventually(t, "the look", func() bool { return w.hintLooks.Load() > n && w.pendingCount() == 0 })
		var evs []watcher.Event
		for {
			select {
			case ev := <-w.Events():
				evs = append(evs, ev)
			default:
				return evs
			}
		}
	}

	must(t, os.WriteFile(f, nil, 0o644)) // truncated, not written yet
	evs := look()
	if len(evs) != 1 {
		t.Fatalf("events = %v, want the torn read's Write", evs)
	}
	mustWrite(t, f, "<h1>new</h1>") // the write lands; the build reads this
	if got := w.Verify(evs); len(got) != 1 || got[0].Op != watcher.Write {
		t.Fatalf("Verify = %v, want one Write", got)
	}
	if evs := look(); len(evs) != 0 {
		t.Errorf("after Verify read the whole file, the next look reported %v (a second build)", evs)
	}

	// A torn read of a save that writes the same bytes: nothing to build.
	must(t, os.WriteFile(f, nil, 0o644))
	evs = look()
	mustWrite(t, f, "<h1>new</h1>")
	if got := w.Verify(evs); len(got) != 0 {
		t.Errorf("Verify = %v for a file back to the bytes it last returned, want nothing", got)
	}
}
