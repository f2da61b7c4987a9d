package poll

import (
	"testing"

	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/watchertest"
)

// TestConformance runs the shared backend suite against the poller with
// its defaults (stat trusted on this local disk).
func TestConformance(t *testing.T) {
	watchertest.Run(t, factory(StatAuto))
}

// TestConformanceDistrust runs the suite with stat distrusted, as on a
// network or FUSE mount: hot files verified by content every interval,
// directories listed, the cold sweep hashing.
func TestConformanceDistrust(t *testing.T) {
	watchertest.Run(t, factory(StatDistrust))
}

func factory(p StatPolicy) watchertest.Factory {
	return func(t *testing.T, root string, opts watcher.Options) watcher.Watcher {
		w, err := New([]string{root}, Options{Options: opts, Stat: p})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
}
