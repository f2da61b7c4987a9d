package poll

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
)

// mkdeep makes a chain of directories below dir, each name 200 bytes,
// until the path is longer than PATH_MAX, with a file at every level
// (created relative to the parent: the path itself cannot be used). It
// returns the first directory whose path is too long.
func mkdeep(t *testing.T, dir string) string {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	must(t, err)
	name := strings.Repeat("d", 200)
	p, first := dir, ""
	for len(p) < pathMax+1000 {
		must(t, unix.Mkdirat(fd, name, 0o755))
		f, err := unix.Openat(fd, "f.txt", unix.O_CREAT|unix.O_WRONLY, 0o644)
		must(t, err)
		unix.Close(f)
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		must(t, err)
		unix.Close(fd)
		fd = next
		p = filepath.Join(p, name)
		if first == "" && len(p) >= pathMax {
			first = p
		}
	}
	unix.Close(fd)
	return first
}

// TestPathLongerThanPathMax: directories whose path is longer than
// PATH_MAX cannot be opened by it. They are reported once, briefly, listed
// as unwatched, and never retried; everything else is watched as usual.
func TestPathLongerThanPathMax(t *testing.T) {
	root := t.TempDir()
	first := mkdeep(t, root)
	r := start(t, []string{root}, fast())
	other := filepath.Join(root, "other.html")
	mustWrite(t, other, "x")
	r.waitOp(t, other, watcher.Create)
	r.settle(t)
	r.settle(t)
	errs := r.errors()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "PATH_MAX") || len(errs[0].Error()) > 1024 {
		t.Errorf("errors = %d: %v; want one short report", len(errs), errs)
	}
	if un := r.w.Unwatched(); len(un) != 1 || un[0] != first {
		t.Errorf("unwatched = %d paths, want the first too long one", len(un))
	}
	for _, e := range r.events() {
		if e.Path != other {
			t.Errorf("unexpected %v", e)
		}
	}
	// Removing the deep tree takes it off the list.
	must(t, os.RemoveAll(filepath.Join(root, strings.Repeat("d", 200))))
	testenv.Eventually(t, "the list to empty", func() bool { return len(r.w.Unwatched()) == 0 })
	for _, err := range r.errors() {
		if errors.Is(err, unix.ENAMETOOLONG) {
			t.Errorf("a retry reported %v", err)
		}
	}
}
