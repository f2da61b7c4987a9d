package watcher

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// DefaultIgnores are the gitignore patterns every watch starts with.
var DefaultIgnores = []string{".git", "node_modules", ".hg", ".svn"}

// IgnoreFile is the name of the per-directory ignore files a [Filter]
// honours when [Filter.SetIgnoreFiles] is on.
const IgnoreFile = ".gitignore"

// maxIgnoreFile bounds how much of one ignore file is read: real ones are a
// few KiB; a huge file of that name is not an ignore file anyone wrote.
const maxIgnoreFile = 1 << 20

// Filter decides which paths a backend ignores: gitignore-style rules, each
// set anchored at a base directory, plus editor noise (temporary, backup,
// swap and lock files that editors write while saving).
//
// A Filter is safe for concurrent use; rules may be added while backends
// consult it.
type Filter struct {
	s *filterState // shared by every view made with Without
	// exclude lists trees this view ignores entirely (see Without).
	exclude []string
}

// filterState is the rules a Filter and its views share.
type filterState struct {
	mu          sync.RWMutex
	sets        []ruleSet // sorted by setLess: outer bases first
	noise       bool
	ignoreFiles bool     // honour .gitignore files (LoadIgnoreFile)
	visible     []string // trees that rules from .gitignore files never hide
}

type ruleSet struct {
	base  string // absolute, cleaned; "/" matches everything
	file  bool   // read from base/.gitignore, replaced by LoadIgnoreFile
	rules []pattern
}

// setCompare orders rule sets so that later sets win: outer bases first,
// and at the same base, rules read from a .gitignore file before rules
// given with Add (the command line overrides the project's files).
func setCompare(base string, file bool, s *ruleSet) int {
	if c := len(s.base) - len(base); c != 0 {
		return c
	}
	if s.file != file {
		if s.file {
			return -1
		}
		return 1
	}
	return strings.Compare(s.base, base)
}

// NewFilter returns a filter with no rules that does not read ignore files.
// If noise is true, editor noise (see [IsNoise]) is ignored too.
func NewFilter(noise bool) *Filter { return &Filter{s: &filterState{noise: noise}} }

// DefaultFilter returns a filter that ignores editor noise and
// [DefaultIgnores] at any depth, and honours .gitignore files.
func DefaultFilter() *Filter {
	f := NewFilter(true)
	f.s.ignoreFiles = true
	if err := f.Add(string(filepath.Separator), DefaultIgnores...); err != nil {
		panic(err) // the defaults are constants and compile
	}
	return f
}

// SetIgnoreFiles turns honouring of .gitignore files on or off. Turning it
// off drops the rules already read from such files.
func (f *Filter) SetIgnoreFiles(on bool) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	f.s.ignoreFiles = on
	if !on {
		f.s.sets = slices.DeleteFunc(f.s.sets, func(s ruleSet) bool { return s.file })
	}
}

// IgnoreFiles reports whether the filter honours .gitignore files.
func (f *Filter) IgnoreFiles() bool {
	f.s.mu.RLock()
	defer f.s.mu.RUnlock()
	return f.s.ignoreFiles
}

// LoadIgnoreFile reads dir/.gitignore, if the filter honours ignore files,
// and makes its patterns the rules anchored at dir, replacing those read
// from there before; a missing file drops them. Backends call it for each
// directory they list, before matching the directory's entries (so ignored
// directories are never descended into), and again when the file changes.
// Rules from files are weaker than rules given with [Filter.Add] for the
// same directory, and rules of deeper directories win, as in git.
//
// Lines that are not valid patterns are skipped and reported in the error;
// the valid ones still apply. LoadIgnoreFile reads a file: never call it
// on a goroutine that must not block.
func (f *Filter) LoadIgnoreFile(dir string) error {
	if !f.IgnoreFiles() {
		return nil
	}
	dir = filepath.Clean(dir)
	name := filepath.Join(dir, IgnoreFile)
	var rules []pattern
	var bad []error
	data, err := readLimited(name, maxIgnoreFile)
	switch {
	case err == nil:
		for _, line := range ignoreFileLines(data) {
			p, ok, perr := compilePattern(line)
			if perr != nil {
				bad = append(bad, perr)
				continue
			}
			if ok {
				rules = append(rules, p)
			}
		}
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, errNotRegular):
		// No file, or a directory or a symbolic link of that name: no
		// rules (git does not follow a .gitignore that is a symlink).
	default:
		return fmt.Errorf("read %s: %w", name, err)
	}
	f.s.mu.Lock()
	i, found := slices.BinarySearchFunc(f.s.sets, dir, func(s ruleSet, b string) int { return setCompare(b, true, &s) })
	switch {
	case len(rules) == 0 && found:
		f.s.sets = slices.Delete(f.s.sets, i, i+1)
	case len(rules) == 0:
	case found:
		f.s.sets[i].rules = rules
	default:
		f.s.sets = slices.Insert(f.s.sets, i, ruleSet{base: dir, file: true, rules: rules})
	}
	f.s.mu.Unlock()
	if len(bad) > 0 {
		return fmt.Errorf("%s: %w", name, errors.Join(bad...))
	}
	return nil
}

var errNotRegular = errors.New("not a regular file")

// readLimited reads at most limit bytes of the regular file name; a
// symbolic link is not followed.
func readLimited(name string, limit int64) ([]byte, error) {
	if fi, err := os.Lstat(name); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	fh, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	return io.ReadAll(io.LimitReader(fh, limit))
}

// ignoreFileLines splits an ignore file into lines as git does: a UTF-8
// byte order mark at the start is skipped, lines end at "\n", one "\r"
// before it is dropped, and a NUL byte ends the line's pattern.
func ignoreFileLines(data []byte) []string {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if j := strings.IndexByte(l, 0); j >= 0 {
			l = l[:j]
		}
		lines[i] = l
	}
	return lines
}

// Add adds gitignore-style patterns anchored at the directory base: a
// pattern without a slash matches a name at any depth below base, one with a
// slash matches relative to base, "dir/" matches directories only, "!" re-
// includes, "**" spans directories. Later rules win over earlier ones, and
// rules of a deeper base win over those of an outer one, as in git.
func (f *Filter) Add(base string, patterns ...string) error {
	base = filepath.Clean(base)
	var rules []pattern
	for _, line := range patterns {
		p, ok, err := compilePattern(line)
		if err != nil {
			return err
		}
		if ok {
			rules = append(rules, p)
		}
	}
	if len(rules) == 0 {
		return nil
	}
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	i, found := slices.BinarySearchFunc(f.s.sets, base, func(s ruleSet, b string) int { return setCompare(b, false, &s) })
	if found {
		f.s.sets[i].rules = append(f.s.sets[i].rules, rules...)
		return nil
	}
	f.s.sets = slices.Insert(f.s.sets, i, ruleSet{base: base, rules: rules})
	return nil
}

// Match reports whether path itself is ignored, without looking at its parent
// directories. Walkers that never descend into ignored directories use it;
// everyone else uses [Filter.Ignored].
func (f *Filter) Match(path string, isDir bool) bool {
	if f.excluded(path) {
		return true
	}
	if f.s.noise && !isDir && IsNoise(filepath.Base(path)) {
		return true
	}
	f.s.mu.RLock()
	defer f.s.mu.RUnlock()
	return f.matchLocked(path, isDir)
}

func (f *Filter) matchLocked(path string, isDir bool) bool {
	ignored := false
	skipFiles := f.visibleLocked(path)
	for i := range f.s.sets {
		s := &f.s.sets[i]
		if s.file && skipFiles {
			continue
		}
		rel, ok := relUnder(s.base, path)
		if !ok {
			continue
		}
		for j := range s.rules {
			r := &s.rules[j]
			if r.neg != ignored {
				continue // cannot change the verdict
			}
			if r.match(rel, isDir) {
				ignored = !r.neg
			}
		}
	}
	return ignored
}

// KeepVisible makes rules read from .gitignore files never hide dir or
// anything below it; rules given with [Filter.Add], the defaults and editor
// noise still apply. reloadd uses it for the served directory when there is
// no -build: what the browser is shown is often build output that git
// ignores, written by a tool reloadd does not run.
func (f *Filter) KeepVisible(dir string) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	f.s.visible = append(f.s.visible, filepath.Clean(dir))
}

func (f *Filter) visibleLocked(path string) bool {
	for _, v := range f.s.visible {
		if Within(v, path) {
			return true
		}
	}
	return false
}

// Without returns a view of f that also ignores the trees dirs entirely
// (each directory and everything below it). The view shares f's rules:
// rules added to either, and .gitignore files loaded through either, apply
// to both. watcher/auto uses it so that a backend never walks into a
// subtree another backend watches.
func (f *Filter) Without(dirs ...string) *Filter {
	ex := slices.Clone(f.exclude)
	for _, d := range dirs {
		ex = append(ex, filepath.Clean(d))
	}
	return &Filter{s: f.s, exclude: ex}
}

func (f *Filter) excluded(path string) bool {
	for _, d := range f.exclude {
		if Within(d, path) {
			return true
		}
	}
	return false
}

// Ignored reports whether path is ignored, either itself or because one of
// its parent directories is.
func (f *Filter) Ignored(path string, isDir bool) bool {
	path = filepath.Clean(path)
	if f.excluded(path) {
		return true
	}
	if f.s.noise && !isDir && IsNoise(filepath.Base(path)) {
		return true
	}
	f.s.mu.RLock()
	defer f.s.mu.RUnlock()
	if len(f.s.sets) == 0 {
		return false
	}
	// Check each ancestor directory below the outermost base, outer first.
	outer := f.s.sets[0].base
	for i := len(outer); i < len(path); i++ {
		if path[i] == filepath.Separator && i > 0 {
			dir := path[:i]
			if len(dir) > len(outer) && f.matchLocked(dir, true) {
				return true
			}
		}
	}
	return f.matchLocked(path, isDir)
}

// relUnder returns path relative to base, slash-separated, if path lies
// strictly below base.
func relUnder(base, path string) (string, bool) {
	if base == string(filepath.Separator) {
		if len(path) < 2 || path[0] != filepath.Separator {
			return "", false
		}
		return filepath.ToSlash(path[1:]), true
	}
	if len(path) <= len(base) || !strings.HasPrefix(path, base) || path[len(base)] != filepath.Separator {
		return "", false
	}
	return filepath.ToSlash(path[len(base)+1:]), true
}

// IsNoise reports whether a file name is one that editors and tools create
// while saving and remove again: vim's 4913 probe, backup (~) and swap files,
// emacs lock (.#name) and auto-save (#name#) files, JetBrains safe-write
// files, gedit's .goutputstream-*, kate's swap files and .DS_Store.
func IsNoise(name string) bool {
	switch {
	case name == "4913" || name == ".DS_Store" || name == "Thumbs.db":
		return true
	case strings.HasSuffix(name, "~"):
		return true
	case strings.HasSuffix(name, "___jb_tmp___"), strings.HasSuffix(name, "___jb_old___"):
		return true
	case strings.HasPrefix(name, ".#"):
		return true
	case len(name) > 2 && name[0] == '#' && name[len(name)-1] == '#':
		return true
	case strings.HasPrefix(name, ".goutputstream-"), strings.HasSuffix(name, ".kate-swp"):
		return true
	case strings.HasPrefix(name, ".") && isVimSwap(name):
		return true
	}
	return false
}

// isVimSwap matches vim's swap names: .name.swp, then .swo, .swn ... .swa
// when the earlier ones exist, and .swx (the probe vim writes to test a
// directory).
func isVimSwap(name string) bool {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || len(name)-i != 4 || name[i+1] != 's' || name[i+2] != 'w' {
		return false
	}
	c := name[i+3]
	return (c >= 'a' && c <= 'p') || c == 'x'
}
