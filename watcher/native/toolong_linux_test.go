//go:build linux

package native

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/watchertest"
)

// deepChain makes directories named seg/seg/… under dir until their path
// is beyond PATH_MAX plus extra, with an index.html in each, by mkdirat and
// openat relative to the parent's descriptor (no path that long can be
// used by name). It returns every directory's path, outermost first.
func deepChain(t *testing.T, dir, seg string, extra int) []string {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for p := dir; len(p) < pathMax+extra; {
		if err := unix.Mkdirat(fd, seg, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, seg, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
		f, err := unix.Openat(fd, "index.html", unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		unix.Write(f, []byte("x"))
		unix.Close(f)
		p += "/" + seg
		dirs = append(dirs, p)
	}
	unix.Close(fd)
	return dirs
}

// TestPathTooLong watches a tree with directories nested past PATH_MAX:
// one short report naming the first one (shortened), which is listed by
// TooLong, everything shorter watched as usual, and no more reports when
// more such directories appear.
func TestPathTooLong(t *testing.T) {
	root := t.TempDir()
	seg := strings.Repeat("d", 200)
	chain := deepChain(t, root, seg, 600)
	firstLong := slices.IndexFunc(chain, func(d string) bool { return len(d) >= pathMax })
	// The deepest watchable directory's index.html may itself be too long.
	watchable := chain[:firstLong]
	files := 0
	for _, d := range watchable {
		if len(d+"/index.html") < pathMax {
			files++
		}
	}
	w := start(t, root, watcher.Options{}).(*Watcher)
	rec := watchertest.Record(t, w, root, watchertest.Settle)
	if got := w.TooLong(); !slices.Equal(got, chain[firstLong:firstLong+1]) {
		t.Errorf("TooLong = %d paths, want the first directory past PATH_MAX", len(got))
	}
	if n := w.WatchedDirs(); n != 1+len(watchable) {
		t.Errorf("WatchedDirs = %d, want %d", n, 1+len(watchable))
	}
	if n := w.Files(); n != files {
		t.Errorf("Files = %d, want %d", n, files)
	}
	if un := w.Unwatched(); len(un) != 0 {
		t.Errorf("Unwatched = %d directories, want none (they are not for a poller)", len(un))
	}

	// Changes in the watchable part still build; a second chain made
	// while watching is skipped the same way, without another report.
	last := watchable[len(watchable)-1]
	write(t, filepath.Join(root, seg, "index.html"), "changed")
	chain2 := deepChain(t, root, "e"+seg[1:], 600)
	firstLong2 := slices.IndexFunc(chain2, func(d string) bool { return len(d) >= pathMax })
	var want []watchertest.Change
	want = append(want, watchertest.Change{Path: seg + "/index.html", Op: watcher.Write})
	for _, d := range chain2[:firstLong2] {
		if len(d+"/index.html") < pathMax {
			rel, _ := filepath.Rel(root, d)
			want = append(want, watchertest.Change{Path: rel + "/index.html", Op: watcher.Create})
		}
	}
	rec.Wait(t, want)
	if fd, err := unix.Open(last, unix.O_RDONLY|unix.O_DIRECTORY, 0); err == nil {
		// A file whose path would be too long, in a watched directory.
		f, err := unix.Openat(fd, strings.Repeat("f", 250), unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(f)
		}
		unix.Close(fd)
	}
	rec.Sync(t)
	if got := rec.Changes(); len(got) != len(want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	if got := w.TooLong(); len(got) != 2 || got[1] != chain2[firstLong2] && got[0] != chain2[firstLong2] {
		t.Errorf("TooLong = %d paths, want 2: the first directory past PATH_MAX of each chain", len(got))
	}

	errs := rec.Errors()
	if len(errs) != 1 {
		t.Fatalf("%d reports, want exactly one: %v", len(errs), errs)
	}
	var tl *TooLongError
	if !errors.As(errs[0], &tl) || tl.Path != chain[firstLong] {
		t.Fatalf("report %v, want a *TooLongError for the first directory past PATH_MAX", errs[0])
	}
	msg := errs[0].Error()
	for _, want := range []string{root, "…", fmt.Sprintf("%d bytes", len(tl.Path)), "4096"} {
		if !strings.Contains(msg, want) {
			t.Errorf("report %q lacks %q", msg, want)
		}
	}
	if len(msg) > 300 {
		t.Errorf("report is %d bytes, want a short one: %q", len(msg), msg)
	}
}
