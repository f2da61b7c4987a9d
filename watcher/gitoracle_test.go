package watcher

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

// gitRepo is a scratch git repository whose `git check-ignore` is the
// oracle for what .gitignore files mean. It runs git with no system or
// global configuration, so no excludes file of this machine's user leaks
// in, and with core.ignorecase off (git's default on a case-sensitive
// filesystem, and reloadd's rule everywhere).
type gitRepo struct {
	dir string
	git string
	env []string
}

// newGitRepo makes a scratch repository in dir; it skips the test (fails
// it under RELOADD_CI) without git.
func newGitRepo(t testing.TB, dir string) *gitRepo {
	t.Helper()
	testenv.Need(t, "git")
	r, err := initGitRepo(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// initGitRepo makes a scratch repository in dir.
func initGitRepo(dir string) (*gitRepo, error) {
	r, err := openGitRepo(dir)
	if err != nil {
		return nil, err
	}
	if out, err := r.run(nil, "init", "-q", "--template=", dir); err != nil {
		return nil, fmt.Errorf("git init: %w\n%s", err, out)
	}
	if out, err := r.run(nil, "-C", dir, "config", "core.ignorecase", "false"); err != nil {
		return nil, fmt.Errorf("git config: %w\n%s", err, out)
	}
	return r, os.MkdirAll(r.home(), 0o755)
}

// openGitRepo returns the scratch repository initGitRepo made in dir.
func openGitRepo(dir string) (*gitRepo, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, err
	}
	r := &gitRepo{dir: dir, git: git}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			r.env = append(r.env, kv)
		}
	}
	r.env = append(r.env, "HOME="+r.home(), "XDG_CONFIG_HOME="+r.home(), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL="+os.DevNull, "LC_ALL=C")
	return r, nil
}

// home is the repository's own $HOME: no configuration of this machine's
// user applies.
func (r *gitRepo) home() string { return filepath.Join(r.dir, ".git", "home") }

func (r *gitRepo) run(stdin []byte, args ...string) ([]byte, error) {
	cmd := exec.Command(r.git, args...)
	cmd.Env = r.env
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, stderr.Bytes())
	}
	return out, err
}

// ignored asks git, in one batch, which of paths (slash-separated, relative
// to the repository, existing on disk so that git can tell directories
// from files) are ignored.
func (r *gitRepo) ignored(paths []string) (map[string]bool, error) {
	var in bytes.Buffer
	for _, p := range paths {
		in.WriteString(p)
		in.WriteByte(0)
	}
	out, err := r.run(in.Bytes(), "-C", r.dir, "check-ignore", "--stdin", "-z", "-v", "-n", "--no-index")
	// Exit status 1 means "none ignored", which is an answer.
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		return nil, fmt.Errorf("git check-ignore: %w", err)
	}
	// -z -v -n: source, line number, pattern, path, each NUL-terminated;
	// the first three empty when no pattern matched. A matching pattern
	// that starts with "!" re-includes.
	f := strings.Split(string(out), "\x00")
	if len(f) != 4*len(paths)+1 {
		return nil, fmt.Errorf("git check-ignore: %d fields for %d paths: %q", len(f)-1, len(paths), out)
	}
	got := make(map[string]bool, len(paths))
	for i := 0; i+4 <= len(f); i += 4 {
		pat, path := f[i+2], f[i+3]
		got[path] = pat != "" && !strings.HasPrefix(pat, "!")
	}
	return got, nil
}

// ignoreTree is a directory tree with .gitignore files, to be judged by git
// and by a Filter.
type ignoreTree struct {
	files map[string]string // directory (slash-separated, "" = top) → its .gitignore
	paths []string          // slash-separated; a trailing "/" makes a directory
}

// node is one path of an ignoreTree as created on disk.
type node struct {
	rel   string // slash-separated, relative to the tree's top
	isDir bool
}

// create makes the tree under dir: every path, its parent directories, and
// the .gitignore files. A path that is also a parent of another one is a
// directory. It returns every path and parent directory, sorted.
func (tr ignoreTree) create(dir string) ([]node, error) {
	isDir := map[string]bool{}
	mark := func(p string, dir bool) { isDir[p] = isDir[p] || dir }
	for d := range tr.files {
		for p := d; p != ""; p = pathDir(p) {
			mark(p, true)
		}
	}
	for _, p := range tr.paths {
		leaf := strings.TrimSuffix(p, "/")
		mark(leaf, leaf != p)
		for d := pathDir(leaf); d != ""; d = pathDir(d) {
			mark(d, true)
		}
	}
	var nodes []node
	for p, d := range isDir {
		nodes = append(nodes, node{p, d})
	}
	slices.SortFunc(nodes, func(a, b node) int { return strings.Compare(a.rel, b.rel) })
	for _, n := range nodes {
		full := filepath.Join(dir, filepath.FromSlash(n.rel))
		var err error
		if n.isDir {
			err = os.MkdirAll(full, 0o755)
		} else {
			err = os.WriteFile(full, nil, 0o644)
		}
		if err != nil {
			return nil, err
		}
	}
	for d, text := range tr.files {
		if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(d), IgnoreFile), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	return nodes, nil
}

func pathDir(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// filterIgnored judges nodes below root with a Filter that has only the
// rules of the .gitignore files (no defaults, no editor noise), loaded for
// every directory below root/under as the backends load them.
func filterIgnored(root, under string, nodes []node) map[string]bool {
	f := NewFilter(false)
	f.SetIgnoreFiles(true)
	filepath.WalkDir(filepath.Join(root, under), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			f.LoadIgnoreFile(p) // lines that are not patterns are reported and skipped
		}
		return nil
	})
	got := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		got[n.rel] = f.Ignored(filepath.Join(root, filepath.FromSlash(n.rel)), n.isDir)
	}
	return got
}

// judge creates tr in the repository (its paths and directories are
// relative to the repository's top) and returns every path of it with the
// verdicts of git and of a Filter.
func (r *gitRepo) judge(tr ignoreTree, under string) (nodes []node, fromGit, fromFilter map[string]bool, err error) {
	nodes, err = tr.create(r.dir)
	if err != nil {
		return nil, nil, nil, err
	}
	rels := make([]string, len(nodes))
	for i, n := range nodes {
		rels[i] = n.rel
	}
	fromGit, err = r.ignored(rels)
	if err != nil {
		return nil, nil, nil, err
	}
	return nodes, fromGit, filterIgnored(r.dir, under, nodes), nil
}
