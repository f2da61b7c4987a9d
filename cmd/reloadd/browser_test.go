package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/reloadd/reloadd/internal/testenv"
)

// savePageLine is a save line that waited for a browser's report.
var savePageLine = regexp.MustCompile(`build \d+  \S*index\.html  settle [\d.]+ · build [\d.]+ · send [\d.]+ · page [\d.]+ = [\d.]+ ms  \(1 client\)`)

func page(title string) []byte {
	return []byte(`<!doctype html><html><head><title>t</title></head><body><h1 id="title">` + title + `</h1></body></html>`)
}

// waitTitle waits until the page's #title reads want.
func waitTitle(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	testenv.WaitJS(t, ctx, `(document.getElementById("title") || {}).textContent === `+jsString(want))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestBrowserReloadsOnSaveAndAfterRestart(t *testing.T) {
	ctx := testenv.Chromium(t)
	site := t.TempDir()
	index := filepath.Join(site, "index.html")
	must(t, os.WriteFile(index, page("one"), 0o644))
	addr := testenv.FreeAddr(t)
	d := startDaemon(t, addr, site)

	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatal(err)
	}
	waitTitle(t, ctx, "one")
	// Wait for the client to connect, then mark the page so a reload shows.
	testenv.WaitJS(t, ctx, `!!(window.__reloadd && window.__reloadd.connected)`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.marker = true`)); err != nil {
		t.Fatal(err)
	}

	// A save: the page reloads by itself.
	must(t, os.WriteFile(index, page("two"), 0o644))
	waitTitle(t, ctx, "two")
	if marked, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!window.marker`)); marked {
		t.Error("page content changed without a reload")
	}
	testenv.Eventually(t, "the save line with the page's report", func() bool {
		return savePageLine.MatchString(d.out.String())
	})

	// The server goes away, the file changes meanwhile, the server comes
	// back: the page reconnects and shows the new content.
	d.stop(t)
	must(t, os.WriteFile(index, page("three"), 0o644))
	startDaemon(t, addr, site)
	waitTitle(t, ctx, "three")
}
