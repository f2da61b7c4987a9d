//go:build linux

package unixmode

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestFileModeMatchesOsStat compares with os.Lstat on real files of every
// kind this test can make.
func TestFileModeMatchesOsStat(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o640)
	os.Chmod(file, 0o640|os.ModeSetuid|os.ModeSetgid)
	sticky := filepath.Join(dir, "d")
	os.Mkdir(sticky, 0o755)
	os.Chmod(sticky, 0o1777|os.ModeSticky)
	link := filepath.Join(dir, "l")
	os.Symlink("f", link)
	fifo := filepath.Join(dir, "p")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{file, sticky, link, fifo, dir, "/dev/null"} {
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := FileMode(st.Mode); got != fi.Mode() {
			t.Errorf("%s: FileMode = %v, os.Lstat says %v", p, got, fi.Mode())
		}
	}
}
