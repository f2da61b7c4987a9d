package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

func TestIgnoreWiring(t *testing.T) {
	site := newSite(t)
	out := filepath.Join(site, "out[1] *")
	must(t, os.MkdirAll(out, 0o755))
	tests := []struct {
		args         []string
		outIgnored   bool
		ignoreFiles  bool
		otherIgnored bool // a sibling whose name the output dir's pattern would match as a glob
	}{
		{[]string{"-build", "true", "-serve", out, site}, true, true, false},
		{[]string{"-serve", out, site}, false, true, false},    // no -build: the served files are the source
		{[]string{"-build", "true", site}, false, true, false}, // serving the root: never ignored
		{[]string{"-gitignore=false", "-build", "true", "-serve", out, site}, true, false, false},
	}
	for _, tc := range tests {
		cfg, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		d, err := newLayout(cfg, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.filter.Ignored(filepath.Join(out, "index.html"), false); got != tc.outIgnored {
			t.Errorf("%v: output dir ignored = %v, want %v", tc.args, got, tc.outIgnored)
		}
		if got := d.filter.Ignored(filepath.Join(site, "out1 x", "index.html"), false); got != tc.otherIgnored {
			t.Errorf("%v: out1 x ignored = %v: the output dir's name was taken as a glob", tc.args, got)
		}
		if d.filter.Ignored(filepath.Join(site, "index.html"), false) {
			t.Errorf("%v: the site's own index.html is ignored", tc.args)
		}
		if got := d.filter.IgnoreFiles(); got != tc.ignoreFiles {
			t.Errorf("%v: honours .gitignore = %v, want %v", tc.args, got, tc.ignoreFiles)
		}
	}
}

// TestStatusListsUnwatchedDirs runs reloadd in a child process (this test
// binary) in a user namespace whose inotify watch limit is 3, on a tree of
// 6 directories: the limit must be said once, with the numbers, the 3
// directories without a watch listed in /_reloadd/status and polled
// instead — a file created in one of them reaches the browser.
func TestStatusListsUnwatchedDirs(t *testing.T) {
	site := newSite(t) // site and site/css
	for _, d := range []string{"a/b", "c/d"} {
		must(t, os.MkdirAll(filepath.Join(site, d), 0o755))
	}
	out := testenv.InotifyLimited(t, "max_inotify_watches", "3", "^TestStatusChild$", "RELOADD_STATUS_CHILD_SITE="+site)
	var status struct {
		Mounts []struct {
			Path          string   `json:"path"`
			UnwatchedDirs []string `json:"unwatched_dirs"`
		} `json:"mounts"`
	}
	var log string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "STATUS "); ok {
			must(t, json.Unmarshal([]byte(rest), &status))
		}
		if rest, ok := strings.CutPrefix(line, "LOG "); ok {
			var s string
			must(t, json.Unmarshal([]byte(rest), &s))
			log = s
		}
	}
	if len(status.Mounts) != 1 || len(status.Mounts[0].UnwatchedDirs) != 3 {
		t.Fatalf("status mounts = %+v, want one mount with 3 unwatched dirs\n%s", status.Mounts, out)
	}
	if n := strings.Count(log, "polling them instead"); n != 1 {
		t.Errorf("limit reported %d times, want once:\n%s", n, log)
	}
	if !strings.Contains(log, "3 directories could not be watched with inotify") || !strings.Contains(log, "3 watched") || !strings.Contains(log, "fs.inotify.max_user_watches") {
		t.Errorf("the report lacks the numbers:\n%s", log)
	}
	if !strings.Contains(log, "SEEN-IN-UNWATCHED") {
		t.Errorf("a file created in an unwatched directory was not built:\n%s", log)
	}
}

// TestStatusChild is TestStatusListsUnwatchedDirs's child.
func TestStatusChild(t *testing.T) {
	site := os.Getenv("RELOADD_STATUS_CHILD_SITE")
	if site == "" {
		t.Skip("runs as the child of TestStatusListsUnwatchedDirs")
	}
	d := startDaemon(t, testenv.FreeAddr(t), site)
	testenv.Eventually(t, "the limit to be reported", func() bool {
		return strings.Contains(d.out.String(), "polling them instead")
	})
	st := d.status(t)
	b, err := json.Marshal(st)
	must(t, err)
	fmt.Printf("STATUS %s\n", b)
	un := st["mounts"].([]any)[0].(map[string]any)["unwatched_dirs"].([]any)
	if len(un) > 0 {
		c := d.dial(t)
		readMsg(t, c)
		f := filepath.Join(un[len(un)-1].(string), "late.html")
		must(t, os.WriteFile(f, []byte("late"), 0o644))
		m := readType(t, c, "build_complete")
		if fmt.Sprint(m["paths"]) == fmt.Sprint([]string{f}) {
			fmt.Fprintln(d.out, "SEEN-IN-UNWATCHED")
		}
	}
	d.stop(t)
	l, _ := json.Marshal(d.out.String())
	fmt.Printf("LOG %s\n", bytes.TrimSpace(l))
}

// TestServedDirIgnoredByGitStillReloads: a project whose .gitignore lists
// the served output directory, with an outside tool (not -build) writing
// into it: the change must still reach the browser.
func TestServedDirIgnoredByGitStillReloads(t *testing.T) {
	root := t.TempDir()
	public := filepath.Join(root, "public")
	must(t, os.MkdirAll(public, 0o755))
	must(t, os.WriteFile(filepath.Join(root, ".gitignore"), []byte("public/\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(public, "site.css"), []byte("a{}"), 0o644))
	d := startDaemon(t, testenv.FreeAddr(t), "-serve", public, root)
	c := d.dial(t)
	readMsg(t, c)
	must(t, os.WriteFile(filepath.Join(public, "site.css"), []byte("b{}"), 0o644))
	m := readType(t, c, "build_complete")
	if fmt.Sprint(m["urls"]) != "[/site.css]" {
		t.Errorf("build_complete = %v", m)
	}
}
