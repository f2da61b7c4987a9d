package native

import (
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/watchertest"
)

// start is the conformance factory: a native watcher on root whose
// baseline is hashed.
func start(t *testing.T, root string, opts watcher.Options) watcher.Watcher {
	t.Helper()
	w, err := New([]string{root}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	select {
	case <-w.Warmed():
	case <-time.After(testenv.WaitLimit):
		t.Fatal("baseline not hashed in time")
	}
	return w
}

func TestConformance(t *testing.T) {
	watchertest.Run(t, start)
}
