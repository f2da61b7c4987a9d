package poll

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

// TestMarkHotChecksAFileTheSweepWouldReachLate: with sweeps paced over an
// hour, an in-place write that leaves the directory alone is not seen on
// its own for a long time; MarkHot makes the file hot and it is seen within
// a few intervals. A path MarkHot cannot find makes its directory hot.
func TestMarkHotChecksAFileTheSweepWouldReachLate(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		if err := os.WriteFile(filepath.Join(sub, n), []byte("old "+n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(sub, "zz")
	if err := os.WriteFile(target, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := start(t, []string{root}, Options{Interval: 10 * time.Millisecond, DirPeriod: time.Hour, ColdPeriod: time.Hour, ColdBudget: 0.001, Stat: StatTrust})

	f, err := os.OpenFile(target, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("new content")
	f.Close()
	// An absence check, not synchronisation: fifty intervals in which the
	// paced sweeps do not reach the file.
	time.Sleep(500 * time.Millisecond)
	if got := r.ops()[target]; got != 0 {
		t.Skipf("the hour-long sweep happened to reach the file first (%v); MarkHot not exercised", got)
	}
	r.w.MarkHot(target, filepath.Join(root, "nowhere", "x"), "/outside/every/root")
	r.waitOp(t, target, watcher.Write)

	// A new file in a directory whose mtime the hour-long directory sweep
	// would not look at: marking a path in it makes the directory hot.
	fresh := filepath.Join(sub, "fresh")
	if err := os.WriteFile(fresh, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.w.MarkHot(fresh)
	r.waitOp(t, fresh, watcher.Create)
}
