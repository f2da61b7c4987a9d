package watcher

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Path helpers every backend and the command share. Paths are absolute and
// clean, as every path reloadd's watchers handle.

// Within reports whether path is dir or lies below it.
func Within(dir, path string) bool {
	if path == dir {
		return true
	}
	if dir == string(filepath.Separator) {
		return strings.HasPrefix(path, dir)
	}
	return len(path) > len(dir) && path[len(dir)] == filepath.Separator && strings.HasPrefix(path, dir)
}

// ComparePaths orders paths so that every directory is followed at once by
// everything below it: like strings.Compare, but with the separator before
// every other byte ("/a", "/a/b", "/a-b" rather than "/a", "/a-b",
// "/a/b").
func ComparePaths(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		switch {
		case ca == cb:
			continue
		case ca == filepath.Separator:
			return -1
		case cb == filepath.Separator:
			return 1
		}
		return cmp.Compare(ca, cb)
	}
	return cmp.Compare(len(a), len(b))
}

// Outermost returns the paths of ps that lie below no other one, without
// duplicates, in ComparePaths order. ps is not modified.
func Outermost(ps []string) []string {
	s := slices.Clone(ps)
	slices.SortFunc(s, ComparePaths)
	var out []string
	for _, p := range s {
		if len(out) > 0 && Within(out[len(out)-1], p) {
			continue // in ComparePaths order a path follows its ancestors
		}
		out = append(out, p)
	}
	return out
}

// ErrNotDir is returned by RootDir for a path that exists and is not a
// directory.
var ErrNotDir = errors.New("not a directory")

// RootDir resolves a directory to watch: absolute and clean, and it must
// exist and be a directory. Errors are the bare cause (a *PathError's Err,
// or ErrNotDir): callers name the path themselves.
func RootDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", pe.Err
		}
		return "", err
	}
	if !fi.IsDir() {
		return "", ErrNotDir
	}
	return abs, nil
}
