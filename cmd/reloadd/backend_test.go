package main

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/reloadd/reloadd/internal/testenv"
)

// TestWatchPoll: with -watch poll a save reaches a WebSocket client, a
// touch does not, and /_reloadd/status says the root is polled.
func TestWatchPoll(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), "-watch", "poll", "-poll-interval", "20ms", site)
	c := d.dial(t)
	readType(t, c, "hello")
	index := filepath.Join(site, "index.html")
	must(t, os.Chmod(index, 0o600)) // no content change: no build
	must(t, os.WriteFile(filepath.Join(site, "css", "site.css"), []byte("h1{}"), 0o644))
	done := readType(t, c, "build_complete")
	if !slices.Equal(done["paths"].([]any), []any{filepath.Join(site, "css", "site.css")}) {
		t.Errorf("paths = %v, want only the stylesheet", done["paths"])
	}
	m := d.status(t)["mounts"].([]any)[0].(map[string]any)
	if m["mode"] != "poll" || m["path"] != site || m["fstype"] == "" {
		t.Errorf("status mount = %v", m)
	}
}

// TestWatchPollDeafMount: a change made on the backing side of a bindfs
// mount, which inotify never hears of, reaches the client with -watch poll.
func TestWatchPollDeafMount(t *testing.T) {
	src, mnt := deafSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), "-watch", "poll", mnt)
	c := d.dial(t)
	readType(t, c, "hello")
	for _, title := range []string{"two", "three"} {
		must(t, os.WriteFile(filepath.Join(src, "index.html"), page(title), 0o644))
		done := readType(t, c, "build_complete")
		if !slices.Equal(done["paths"].([]any), []any{filepath.Join(mnt, "index.html")}) {
			t.Errorf("paths = %v", done["paths"])
		}
	}
	d.stop(t) // before the mount goes away in cleanup
}

// TestAutoPollsADeafMountByItself is the headline: with no flag at all, a
// site served from a FUSE mount (what Docker Desktop, Vagrant and sshfs
// look like) is polled — reloadd says so at start-up and in status — and a
// change made behind the mount reloads the page in a real browser. The
// local directory around the mount stays native.
func TestAutoPollsADeafMountByItself(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("FUSE mounts are tested on Linux")
	}
	ctx := testenv.Chromium(t)
	root := t.TempDir()
	src := t.TempDir()
	mnt := filepath.Join(root, "site")
	must(t, os.Mkdir(mnt, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "index.html"), page("one"), 0o644))
	testenv.Bindfs(t, src, mnt)
	addr := testenv.FreeAddr(t)
	d := startDaemon(t, addr, "-serve", mnt, root)
	t.Cleanup(func() { d.stop(t) }) // before the mount goes away

	var modes = map[string]string{}
	for _, m := range d.status(t)["mounts"].([]any) {
		mm := m.(map[string]any)
		modes[mm["path"].(string)] = mm["mode"].(string)
	}
	if modes[root] != "native" || modes[mnt] != "poll" {
		t.Errorf("modes = %v, want %s native and %s poll", modes, root, mnt)
	}
	out := d.out.String()
	if !strings.Contains(out, "fuse") || !strings.Contains(out, " poll  (FUSE filesystem") {
		t.Errorf("start-up output does not explain the mount's mode:\n%s", out)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatal(err)
	}
	waitTitle(t, ctx, "one")
	testenv.WaitJS(t, ctx, `!!(window.__reloadd && window.__reloadd.connected)`)
	for _, title := range []string{"two", "three"} {
		must(t, os.WriteFile(filepath.Join(src, "index.html"), page(title), 0o644)) // behind the mount
		waitTitle(t, ctx, title)
	}
}

// deafSite returns a site of one page, index.html (title "one"), in src and
// a bindfs mount of it at mnt, unmounted at the end of the test: writes to
// src reach mnt with no inotify event there. It skips off Linux.
func deafSite(t *testing.T) (src, mnt string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("FUSE mounts are tested on Linux")
	}
	base, err := filepath.EvalSymlinks(t.TempDir())
	must(t, err)
	src, mnt = filepath.Join(base, "src"), filepath.Join(base, "mnt")
	must(t, os.Mkdir(src, 0o755))
	must(t, os.Mkdir(mnt, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "index.html"), page("one"), 0o644))
	testenv.Bindfs(t, src, mnt)
	return src, mnt
}
