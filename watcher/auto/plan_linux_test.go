package auto

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
)

// TestPlanMountsIsWhatNewWatches mounts real tmpfs filesystems in a tree:
// shared/ (watched), node_modules/m (inside a default ignore) and vendor/v
// (below a directory the tree's .gitignore names). PlanMounts leaves out
// the last two, and New watches exactly PlanMounts's plan, with -watch
// auto and with each forced mode.
func TestPlanMountsIsWhatNewWatches(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, ".gitignore"), "vendor/\n")
	for _, d := range []string{"shared", "node_modules/m", "vendor/v"} {
		dir := filepath.Join(root, d)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		testenv.Tmpfs(t, dir)
	}
	for _, mode := range []Mode{"", Native, Poll, Hybrid} {
		t.Run(string(mode), func(t *testing.T) {
			// Each gets a fresh default filter, as each reloadd run does.
			plan, err := PlanMounts([]string{root}, Options{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			var paths []string
			for _, c := range plan {
				paths = append(paths, c.Path)
				if mode != "" && (c.Mode != mode || c.Reason != "forced by -watch "+string(mode)) {
					t.Errorf("%s: %s %q, want forced %s", c.Path, c.Mode, c.Reason, mode)
				}
			}
			if want := []string{root, filepath.Join(root, "shared")}; !slices.Equal(paths, want) {
				t.Errorf("PlanMounts = %q, want %q", paths, want)
			}

			w, err := New([]string{root}, Options{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var got []Choice
			for _, m := range w.Mounts() {
				got = append(got, Choice{Path: m.Path, FSType: m.FSType, Mode: m.Mode, Reason: m.Reason})
			}
			if !slices.Equal(got, plan) {
				t.Errorf("New watches %+v\nPlanMounts says %+v", got, plan)
			}
		})
	}
}

func TestPlanMountsOptions(t *testing.T) {
	fake := func(roots []string) ([]Choice, error) {
		r := roots[0]
		return []Choice{
			{Path: filepath.Join(r, "node_modules", "x"), FSType: "fuse.sshfs", Mode: Poll, Reason: "sshfs"},
			{Path: r, FSType: "ext4", Mode: Native, Reason: "local"},
			{Path: filepath.Join(r, "b"), FSType: "nfs", Mode: Poll, Reason: "nfs"},
			{Path: filepath.Join(r, "a"), FSType: "overlay", Mode: Hybrid, Reason: "overlay"},
		}, nil
	}
	root := t.TempDir()
	plan, err := PlanMounts([]string{root}, Options{Plan: fake})
	if err != nil {
		t.Fatal(err)
	}
	want := []Choice{
		{Path: root, FSType: "ext4", Mode: Native, Reason: "local"},
		{Path: filepath.Join(root, "a"), FSType: "overlay", Mode: Hybrid, Reason: "overlay"},
		{Path: filepath.Join(root, "b"), FSType: "nfs", Mode: Poll, Reason: "nfs"},
	}
	if !slices.Equal(plan, want) {
		t.Errorf("PlanMounts = %+v\nwant %+v", plan, want)
	}

	// A filter of one's own decides instead of the default one.
	f := watcher.NewFilter(false)
	if err := f.Add(root, "/b"); err != nil {
		t.Fatal(err)
	}
	plan, err = PlanMounts([]string{root}, Options{Options: watcher.Options{Filter: f}, Plan: fake, Mode: Poll})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, c := range plan {
		paths = append(paths, c.Path)
		if c.Mode != Poll {
			t.Errorf("%s: mode %s under -watch poll", c.Path, c.Mode)
		}
	}
	if want := []string{root, filepath.Join(root, "a"), filepath.Join(root, "node_modules", "x")}; !slices.Equal(paths, want) {
		t.Errorf("PlanMounts with a filter of its own = %q, want %q", paths, want)
	}

	if _, err := PlanMounts([]string{root}, Options{Mode: "sometimes"}); err == nil {
		t.Error("PlanMounts accepted an unknown mode")
	}
	if _, err := New([]string{root}, Options{Mode: "sometimes"}); err == nil {
		t.Error("New accepted an unknown mode")
	}
}
