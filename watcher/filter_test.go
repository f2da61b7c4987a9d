package watcher

import "testing"

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
