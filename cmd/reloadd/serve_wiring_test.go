package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/reloadd/reloadd/internal/testenv"
)

// TestMissingPageReloadsWhenCreated: a tab on a 404 carries the client, so
// creating the page reloads it (issue 16: "a 404 page has no client").
func TestMissingPageReloadsWhenCreated(t *testing.T) {
	ctx := testenv.Chromium(t)
	site := newSite(t)
	addr := testenv.FreeAddr(t)
	startDaemon(t, addr, site)
	must(t, chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/posts/new/")))
	testenv.WaitJS(t, ctx, `!!(window.__reloadd && window.__reloadd.connected)`)
	must(t, os.MkdirAll(filepath.Join(site, "posts", "new"), 0o755))
	must(t, os.WriteFile(filepath.Join(site, "posts", "new", "index.html"), page("new post"), 0o644))
	waitTitle(t, ctx, "new post")
}

// TestServedDirectoryCreatedByTheBuild: -serve public may be missing at
// start-up when -build creates it; the site is then served.
func TestServedDirectoryCreatedByTheBuild(t *testing.T) {
	root := t.TempDir()
	src, public := filepath.Join(root, "src"), filepath.Join(root, "public")
	must(t, os.Mkdir(src, 0o755))
	writeFile(t, filepath.Join(src, "index.html"), "<h1>built</h1>")
	build := "mkdir -p " + shq(public) + " && cp " + shq(filepath.Join(src, "index.html")) + " " + shq(public)
	d := startDaemon(t, testenv.FreeAddr(t), "-serve", public, "-build", build, src)
	testenv.Eventually(t, "the start-up build", func() bool { return strings.Contains(d.out.String(), "build 1  start-up build") })
	resp, err := http.Get("http://" + d.addr + "/")
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<h1>built</h1>") {
		t.Errorf("GET / = %d %q", resp.StatusCode, body)
	}
}

// TestServedDirectoryNeverCreatedIsFatal: when the first successful build
// does not create the missing -serve directory, reloadd says so and exits.
func TestServedDirectoryNeverCreatedIsFatal(t *testing.T) {
	root := t.TempDir()
	err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-serve", filepath.Join(root, "public"), "-build", "true", root}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "still missing after the first successful build") {
		t.Errorf("run = %v, want the missing served directory reported", err)
	}
	// Without -build nothing will create it: refused at start-up.
	err = run(context.Background(), []string{"-addr", "127.0.0.1:0", "-serve", filepath.Join(root, "public"), root}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no such file or directory") {
		t.Errorf("run without -build = %v, want a fatal error at start-up", err)
	}
}

// TestProxyAnswersAtOnceWhenTheAppIsDown: with -run and -proxy, once the
// app has exited, pages get the waiting page saying it is not running,
// without the wait for an app that is starting.
func TestProxyAnswersAtOnceWhenTheAppIsDown(t *testing.T) {
	p := newAppProject(t)
	d := startDaemonProxy(t, testenv.FreeAddr(t), p.proxy, "-run", "echo 'app: fatal'; exit 3", p.src)
	testenv.Eventually(t, "the app's exit to be reported", func() bool { return strings.Contains(d.out.String(), "FAILED") })
	req, _ := http.NewRequest("GET", "http://"+d.addr+"/", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "not running") {
		t.Errorf("GET / = %d:\n%s", resp.StatusCode, body)
	}
}

// TestRunRefusesABusyAppPort: with -run and -proxy, something else already
// listening on the app's port is said at once, on the terminal and to the
// browsers, instead of being taken for the app.
func TestRunRefusesABusyAppPort(t *testing.T) {
	p := newAppProject(t)
	squatter, err := net.Listen("tcp", p.appAddr)
	must(t, err)
	defer squatter.Close()
	d := startDaemonProxy(t, testenv.FreeAddr(t), p.proxy, "-run", "sleep 60", p.src)
	ws := dialLog(t, d.addr)
	m, _ := ws.expect("build_failed", isType("build_failed"))
	if out, _ := m["output"].(string); !strings.Contains(out, "already accepts connections at "+p.appAddr) {
		t.Errorf("build_failed output: %q", out)
	}
	testenv.Eventually(t, "the terminal line", func() bool {
		return strings.Contains(d.out.String(), "app FAILED") && strings.Contains(d.out.String(), "already accepts connections")
	})
}
