package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

// TestCheckShowsWhatTheRunWatches mounts real tmpfs filesystems inside a
// watched site: one the run watches (shared/), one inside node_modules and
// one below a directory the site's .gitignore names (honoured because there
// is a -build), which it leaves out. -check must list exactly the mounts the
// running daemon reports, with the same type, mode and reason, with -watch
// auto and with a forced mode.
func TestCheckShowsWhatTheRunWatches(t *testing.T) {
	site := newSite(t)
	must(t, os.WriteFile(filepath.Join(site, ".gitignore"), []byte("vendor/\n"), 0o644))
	for _, d := range []string{"shared", "node_modules/m", "vendor/v"} {
		dir := filepath.Join(site, d)
		must(t, os.MkdirAll(dir, 0o755))
		testenv.Tmpfs(t, dir)
	}
	for _, watch := range []string{"auto", "poll"} {
		t.Run(watch, func(t *testing.T) {
			args := []string{"-build", "true", "-watch", watch, site}
			var out bytes.Buffer
			if err := run(context.Background(), append([]string{"-check"}, args...), &out, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			checked := checkRows(t, out.String())

			d := startDaemon(t, testenv.FreeAddr(t), args...)
			var ran []string
			for _, m := range d.status(t)["mounts"].([]any) {
				m := m.(map[string]any)
				ran = append(ran, fmt.Sprintf("%s %s %s %s", m["path"], m["fstype"], m["mode"], m["reason"]))
			}
			d.stop(t)

			if !slices.Equal(checked, ran) {
				t.Errorf("-check says:\n  %s\nthe run watches:\n  %s", strings.Join(checked, "\n  "), strings.Join(ran, "\n  "))
			}
			if want := []string{site, filepath.Join(site, "shared")}; len(ran) != len(want) || !strings.HasPrefix(ran[0], want[0]+" ") || !strings.HasPrefix(ran[1], want[1]+" ") {
				t.Errorf("the run watches %q, want the site and shared/ only", ran)
			}
		})
	}
}

// TestCheckRootTheRunLeavesOut: a root inside node_modules (a linked
// package) is watched: the default ignores apply below the watched
// directories, not above them; -check lists the same mounts as the run.
func TestCheckRootTheRunLeavesOut(t *testing.T) {
	root := filepath.Join(newSite(t), "node_modules", "pkg")
	must(t, os.MkdirAll(root, 0o755))
	must(t, os.WriteFile(filepath.Join(root, "index.html"), []byte("<p>pkg</p>"), 0o644))
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-check", root}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	checked := checkRows(t, out.String())
	d := startDaemon(t, testenv.FreeAddr(t), root)
	ran := d.status(t)["mounts"].([]any)
	d.stop(t)
	if len(checked) != len(ran) {
		t.Errorf("-check lists %d mounts, the run watches %d:\n%s", len(checked), len(ran), out.String())
	}
	if len(ran) != 1 {
		t.Errorf("the run watches %d mounts for a root inside node_modules, want 1", len(ran))
	}
}

// checkRows returns the rows of -check's table as "path fstype mode reason".
func checkRows(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "PATH") {
		t.Fatalf("-check output has no table:\n%s", out)
	}
	var rows []string
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		var cols []string
		for range 3 {
			col, rest, _ := strings.Cut(strings.TrimLeft(l, " "), " ")
			cols, l = append(cols, col), rest
		}
		rows = append(rows, strings.Join(append(cols, strings.TrimLeft(l, " ")), " "))
	}
	return rows
}

// TestCheckProbesAShare: for a polled mount (a real bindfs mount), -check
// says what its poller would start from: the stat verdict and why, what a
// stat (forced: a one-file tree gives plain stats no directory to be
// tried on) and a read cost there, and the sweep estimate.
func TestCheckProbesAShare(t *testing.T) {
	_, mnt := deafSite(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-check", mnt}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{mnt + ": stat unproven: ", "forced stat ", " µs, read ", "1 files; a sweep by stat ≈ ", " while files change, at twice the CPU)"} {
		if !strings.Contains(s, want) {
			t.Errorf("-check output lacks %q:\n%s", want, s)
		}
	}
}
