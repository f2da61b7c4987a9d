package poll

import (
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

// TestLoopTiming runs the real loop on a real directory in a synctest
// bubble: time is fake, so the test can say "within one directory period"
// without ever depending on the machine's speed.
func TestLoopTiming(t *testing.T) {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "a.html"), "a")
	synctest.Test(t, func(t *testing.T) {
		o := Options{Interval: 100 * time.Millisecond, DirPeriod: 300 * time.Millisecond, ColdPeriod: time.Hour}
		w, err := New([]string{root}, o)
		if err != nil {
			t.Fatal(err)
		}
		next := func() (watcher.Event, bool) {
			synctest.Wait()
			select {
			case ev := <-w.Events():
				return ev, true
			default:
				return watcher.Event{}, false
			}
		}
		// A new file lands as a directory change: seen within one
		// directory period (plus a tick), not before the first tick.
		start := time.Now()
		mustWrite(t, filepath.Join(root, "b.html"), "b")
		if ev, ok := next(); ok {
			t.Fatalf("event before any tick: %v", ev)
		}
		var got watcher.Event
		for {
			time.Sleep(o.Interval)
			if ev, ok := next(); ok {
				got = ev
				break
			}
			if time.Since(start) > o.DirPeriod+o.Interval {
				t.Fatalf("no event within %v", o.DirPeriod+o.Interval)
			}
		}
		if got.Path != filepath.Join(root, "b.html") || got.Op != watcher.Create {
			t.Errorf("event = %v", got)
		}
		// Now hot: an in-place write is seen at the next tick.
		must(t, os.WriteFile(filepath.Join(root, "b.html"), []byte("bb"), 0o644))
		time.Sleep(o.Interval)
		if ev, ok := next(); !ok || ev.Op != watcher.Write {
			t.Errorf("after one tick: %v, %v; want a Write", ev, ok)
		}
		// Close waits for the loop; afterwards the channels are closed.
		w.Close()
		if _, ok := <-w.Events(); ok {
			t.Error("Events open after Close")
		}
	})
}
