//go:build linux

package auto

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/watchertest"
)

// The degradation test runs auto in a child process — this test binary,
// re-executed — in a user namespace whose inotify watch limit is 20, so the
// kernel itself refuses watches (ENOSPC) on a tree of 51 directories.
const (
	childEnv     = "RELOADD_AUTO_LIMIT_CHILD"
	resultPrefix = "AUTO-RESULT "
)

type degradeResult struct {
	Reports     []string // DegradedError messages
	Unwatched   int      // directories without a watch in Mounts
	PolledFiles int
	Mode        Mode
	Seen        []string // changes made in unwatched directories, as reported
}

// TestDegradesToPollingAtTheWatchLimit: directories the kernel refuses a
// watch are polled, said once, and listed in Mounts; a file created later in
// one of them — which no inotify watch could see — is reported.
func TestDegradesToPollingAtTheWatchLimit(t *testing.T) {
	root := t.TempDir()
	tree := map[string]string{"f.html": "f"}
	for i := range 10 {
		tree[fmt.Sprintf("d%d/f.html", i)] = "f"
		for j := range 4 {
			tree[fmt.Sprintf("d%d/s%d/f.html", i, j)] = "f"
		}
	}
	watchertest.MakeTree(t, root, tree)
	out := testenv.InotifyLimited(t, "max_inotify_watches", "20", "^TestDegradeChild$", childEnv+"="+root)
	var r degradeResult
	found := false
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, resultPrefix); ok {
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatal(err)
			}
			found = true
		}
	}
	if !found {
		t.Fatalf("child printed no result:\n%s", out)
	}
	if len(r.Reports) != 1 {
		t.Fatalf("degradation reported %d times, want once: %q", len(r.Reports), r.Reports)
	}
	for _, want := range []string{"31 directories could not be watched", "polling them instead", "fs.inotify.max_user_watches", "no space left"} {
		if !strings.Contains(r.Reports[0], want) {
			t.Errorf("report %q lacks %q", r.Reports[0], want)
		}
	}
	if r.Mode != Native || r.Unwatched != 31 || r.PolledFiles != 31 {
		t.Errorf("mount: mode %s, unwatched %d, polled files %d; want native, 31, 31", r.Mode, r.Unwatched, r.PolledFiles)
	}
	if len(r.Seen) != 2 {
		t.Errorf("changes in unwatched directories reported: %v, want both", r.Seen)
	}
}

// TestDegradeChild is the child's side; it runs only when re-executed.
func TestDegradeChild(t *testing.T) {
	root := os.Getenv(childEnv)
	if root == "" {
		t.Skip("runs as the child of TestDegradesToPollingAtTheWatchLimit")
	}
	plan := func(roots []string) ([]Choice, error) {
		return []Choice{{Path: root, FSType: "ext4", Mode: Native, Reason: "test"}}, nil
	}
	w, err := New([]string{root}, Options{PollInterval: 20 * time.Millisecond, Plan: plan})
	if err != nil {
		t.Fatal(err)
	}
	rec := watchertest.Record(t, w, root, watchertest.Settle)
	ms := w.Mounts()
	var r degradeResult
	r.Mode, r.Unwatched, r.PolledFiles = ms[0].Mode, len(ms[0].UnwatchedDirs), ms[0].PolledFiles
	// Find two unwatched directories and create a file in each: no watch
	// can see these.
	var targets []watchertest.Change
	for _, d := range ms[0].UnwatchedDirs[:2] {
		rel, _ := filepath.Rel(root, filepath.Join(d, "late.html"))
		if err := os.WriteFile(filepath.Join(d, "late.html"), []byte("late"), 0o644); err != nil {
			t.Fatal(err)
		}
		targets = append(targets, watchertest.Change{Path: rel, Op: watcher.Create})
	}
	rec.Wait(t, targets)
	for _, c := range rec.Changes() {
		r.Seen = append(r.Seen, c.Path)
	}
	testenv.Eventually(t, "the degradation report", func() bool {
		for _, err := range rec.Errors() {
			var de *DegradedError
			if errors.As(err, &de) {
				return true
			}
		}
		return false
	})
	for _, err := range rec.Errors() {
		var de *DegradedError
		if errors.As(err, &de) {
			r.Reports = append(r.Reports, err.Error())
		}
	}
	b, _ := json.Marshal(r)
	fmt.Println(resultPrefix + string(b))
}
