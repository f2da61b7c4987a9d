package watcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFilterIgnored(t *testing.T) {
	f := DefaultFilter()
	if err := f.Add("/site", "*.log", "/build/", "docs/**/*.tmp", "!keep.log", "a/**/b"); err != nil {
		t.Fatal(err)
	}
	if err := f.Add("/site/sub", "local.txt", "!*.tmp"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path  string
		isDir bool
		want  bool
	}{
		{"/site/index.html", false, false},
		{"/site/.git", true, true},
		{"/site/.git/HEAD", false, true},
		{"/site/x/node_modules/y/z.js", false, true},
		{"/site/err.log", false, true},
		{"/site/deep/er/err.log", false, true},
		{"/site/keep.log", false, false},
		{"/site/build", true, true},
		{"/site/build/out.js", false, true},
		{"/site/build", false, false},  // "build/" matches directories only
		{"/site/x/build", true, false}, // "/build" is anchored at /site
		{"/site/docs/x/y/z.tmp", false, true},
		{"/site/docs/z.tmp", false, true},
		{"/site/a/b", false, true},
		{"/site/a/x/y/b", false, true},
		{"/site/sub/local.txt", false, true},
		{"/site/local.txt", false, false},
		{"/other/err.log", false, false},
		{"/site/4913", false, true},
		{"/site/index.html~", false, true},
		{"/site/.index.html.swp", false, true},
		{"/site/.index.html.swo", false, true},
		{"/site/.index.html.sql", false, false},
		{"/site/.#index.html", false, true},
		{"/site/#index.html#", false, true},
		{"/site/#", false, false},
		{"/site/f___jb_tmp___", false, true},
		{"/site/f___jb_old___", false, true},
		{"/site/.DS_Store", false, true},
	}
	for _, tc := range tests {
		if got := f.Ignored(tc.path, tc.isDir); got != tc.want {
			t.Errorf("Ignored(%q, dir=%v) = %v, want %v", tc.path, tc.isDir, got, tc.want)
		}
	}
}

func TestFilterBadPattern(t *testing.T) {
	if err := NewFilter(false).Add("/x", "[a-"); err == nil {
		t.Error("bad pattern accepted")
	}
}

func TestOpString(t *testing.T) {
	tests := []struct {
		op   Op
		want string
	}{
		{0, "NONE"},
		{Create, "CREATE"},
		{Create | Write, "CREATE|WRITE"},
		{Rescan | Chmod, "CHMOD|RESCAN"},
	}
	for _, tc := range tests {
		if got := tc.op.String(); got != tc.want {
			t.Errorf("%d.String() = %q, want %q", tc.op, got, tc.want)
		}
	}
}

func TestFilterIgnoreFiles(t *testing.T) {
	root := t.TempDir()
	writeFile := func(rel, data string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(".gitignore", "# built output\ndist/\n*.tmp\n!keep.tmp\n/only-top.txt\n[!a]x.log\nspace\\ \r\n")
	writeFile("sub/.gitignore", "local.txt\n!*.tmp\n")
	f := DefaultFilter()
	if err := f.Add(root, "cli.txt", "!cli-keep.tmp"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{root, filepath.Join(root, "sub")} {
		if err := f.LoadIgnoreFile(d); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		rel   string
		isDir bool
		want  bool
	}{
		{"dist", true, true},
		{"dist/app.js", false, true},
		{"x/dist/app.js", false, true},
		{"a.tmp", false, true},
		{"keep.tmp", false, false},
		{"cli-keep.tmp", false, false}, // -ignore beats the project's file
		{"cli.txt", false, true},
		{"only-top.txt", false, true},
		{"sub/only-top.txt", false, false},
		{"bx.log", false, true},
		{"ax.log", false, false},
		{"space ", false, true},
		{"sub/local.txt", false, true},
		{"local.txt", false, false},
		{"sub/b.tmp", false, false}, // the deeper file re-includes
		{"index.html", false, false},
		{".gitignore", false, false},
	}
	check := func(f *Filter) {
		t.Helper()
		for _, tc := range tests {
			if got := f.Ignored(filepath.Join(root, tc.rel), tc.isDir); got != tc.want {
				t.Errorf("Ignored(%s, dir=%v) = %v, want %v", tc.rel, tc.isDir, got, tc.want)
			}
		}
	}
	check(f)

	// Loading again replaces, never duplicates; removing the file drops its
	// rules.
	if err := f.LoadIgnoreFile(root); err != nil {
		t.Fatal(err)
	}
	check(f)
	if err := os.Remove(filepath.Join(root, ".gitignore")); err != nil {
		t.Fatal(err)
	}
	if err := f.LoadIgnoreFile(root); err != nil {
		t.Fatal(err)
	}
	if f.Ignored(filepath.Join(root, "dist/app.js"), false) {
		t.Error("rules of a removed .gitignore still apply")
	}
	if !f.Ignored(filepath.Join(root, "cli.txt"), false) {
		t.Error("removing .gitignore dropped the -ignore rules")
	}

	// Turned off, the files are not read.
	g := DefaultFilter()
	g.SetIgnoreFiles(false)
	if err := g.LoadIgnoreFile(filepath.Join(root, "sub")); err != nil {
		t.Fatal(err)
	}
	if g.Ignored(filepath.Join(root, "sub/local.txt"), false) || g.IgnoreFiles() {
		t.Error("SetIgnoreFiles(false) still honours .gitignore")
	}
	if NewFilter(true).IgnoreFiles() {
		t.Error("NewFilter reads ignore files")
	}
}

func TestFilterBadIgnoreFileLine(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, ".gitignore"), []byte("[a-\n*.log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := DefaultFilter()
	err := f.LoadIgnoreFile(root)
	if err == nil || !strings.Contains(err.Error(), "[a-") {
		t.Errorf("err = %v, want one naming the bad line", err)
	}
	if !f.Ignored(filepath.Join(root, "x.log"), false) {
		t.Error("the valid line was dropped with the bad one")
	}
}

func TestFilterKeepVisible(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, IgnoreFile), []byte("public/\n*.map\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := DefaultFilter()
	if err := f.Add(root, "*.tmp"); err != nil {
		t.Fatal(err)
	}
	if err := f.LoadIgnoreFile(root); err != nil {
		t.Fatal(err)
	}
	public := filepath.Join(root, "public")
	if !f.Ignored(filepath.Join(public, "site.css"), false) {
		t.Fatal("precondition: .gitignore hides public/")
	}
	f.KeepVisible(public)
	tests := []struct {
		path  string
		isDir bool
		want  bool
	}{
		{public, true, false},
		{filepath.Join(public, "site.css"), false, false},
		{filepath.Join(public, "app.js.map"), false, false},     // a .gitignore rule: not applied here
		{filepath.Join(public, "x.tmp"), false, true},           // an -ignore rule still applies
		{filepath.Join(public, "node_modules"), true, true},     // so do the defaults
		{filepath.Join(public, "index.html~"), false, true},     // and editor noise
		{filepath.Join(root, "src", "app.js.map"), false, true}, // outside the kept tree
		{root + "-public", true, false},
	}
	for _, tc := range tests {
		if got := f.Ignored(tc.path, tc.isDir); got != tc.want {
			t.Errorf("Ignored(%s) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

func TestFilterWithout(t *testing.T) {
	f := DefaultFilter()
	v := f.Without("/site/mnt", "/site/other/")
	tests := []struct {
		path     string
		isDir    bool
		inF, inV bool // ignored by f, by the view
	}{
		{"/site/mnt", true, false, true},
		{"/site/mnt/a.html", false, false, true},
		{"/site/mntx/a.html", false, false, false},
		{"/site/other/b", false, false, true},
		{"/site/a.html", false, false, false},
		{"/site/x.log", false, true, true}, // a rule added after the view was made
	}
	if err := f.Add("/site", "*.log"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		if got := f.Ignored(tc.path, tc.isDir); got != tc.inF {
			t.Errorf("f.Ignored(%s) = %v, want %v", tc.path, got, tc.inF)
		}
		if got := v.Ignored(tc.path, tc.isDir); got != tc.inV {
			t.Errorf("view.Ignored(%s) = %v, want %v", tc.path, got, tc.inV)
		}
		if got := v.Match(tc.path, tc.isDir); got != tc.inV {
			t.Errorf("view.Match(%s) = %v, want %v", tc.path, got, tc.inV)
		}
	}
}
