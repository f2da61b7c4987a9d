package watcher

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWithin(t *testing.T) {
	tests := []struct {
		dir, path string
		want      bool
	}{
		{"/a", "/a", true},
		{"/a", "/a/b", true},
		{"/a", "/a/b/c", true},
		{"/a", "/ab", false},
		{"/a", "/a-b/c", false},
		{"/a/b", "/a", false},
		{"/", "/", true},
		{"/", "/x", true},
		{"/", "/x/y", true},
	}
	for _, tc := range tests {
		if got := Within(tc.dir, tc.path); got != tc.want {
			t.Errorf("Within(%q, %q) = %v, want %v", tc.dir, tc.path, got, tc.want)
		}
	}
}

func TestOutermost(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{"/a"}, []string{"/a"}},
		{[]string{"/a/b", "/a"}, []string{"/a"}},
		{[]string{"/a", "/a"}, []string{"/a"}},
		// "/a-b" sorts between "/a" and "/a/c" by bytes: a child must
		// still be recognised below its parent.
		{[]string{"/a/c", "/a-b", "/a"}, []string{"/a", "/a-b"}},
		{[]string{"/a-b/x", "/a/c", "/a-b", "/a"}, []string{"/a", "/a-b"}},
		{[]string{"/x", "/", "/y/z"}, []string{"/"}},
		{[]string{"/b", "/a/x", "/a/y"}, []string{"/a/x", "/a/y", "/b"}},
	}
	for _, tc := range tests {
		in := slices.Clone(tc.in)
		if got := Outermost(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Outermost(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("Outermost modified its argument: %q", tc.in)
		}
	}
}

func TestRootDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := RootDir(dir + "/./"); err != nil || got != dir {
		t.Errorf("RootDir(dir) = %q, %v", got, err)
	}
	if _, err := RootDir(file); !errors.Is(err, ErrNotDir) {
		t.Errorf("RootDir(file) = %v, want ErrNotDir", err)
	}
	if _, err := RootDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) || err.Error() != "no such file or directory" {
		t.Errorf("RootDir(missing) = %v, want the bare cause", err)
	}
}
