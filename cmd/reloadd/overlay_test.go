package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/reloadd/reloadd/internal/testenv"
)

// TestBrowserShowsBuildFailureAndRecovers drives the real command and a
// real browser: a failing build shows the overlay with the build's output
// as text (HTML in it is not interpreted) and keeps the page; the next good
// build removes the overlay and reloads.
func TestBrowserShowsBuildFailureAndRecovers(t *testing.T) {
	ctx := testenv.Chromium(t)
	site := t.TempDir()
	must(t, os.WriteFile(filepath.Join(site, "index.html"), page("one"), 0o644))
	srcFile := filepath.Join(site, "src.txt")
	writeFile(t, srcFile, "ok")
	const errText = `compile error: <b id="injected">bold</b> & <img src=x onerror="window.pwned=1">`
	buildCmd := `if grep -q BROKEN ` + shq(srcFile) + `; then echo ` + shq(errText) + `; exit 2; fi`
	addr := testenv.FreeAddr(t)
	d := startDaemon(t, addr, "-build", buildCmd, site)
	testenv.Eventually(t, "the start-up build to end before the save", func() bool { return strings.Contains(d.out.String(), "build 1 ") })

	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		t.Fatal(err)
	}
	waitTitle(t, ctx, "one")
	testenv.WaitJS(t, ctx, `!!(window.__reloadd && window.__reloadd.connected)`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.marker = true`)); err != nil {
		t.Fatal(err)
	}

	saveAtomically(t, srcFile, "BROKEN")
	// The overlay lives in an open shadow root, out of the page's styles.
	const overlay = `(function () { var o = document.getElementById("reloadd-overlay"); return o && (o.shadowRoot || o); })()`
	testenv.WaitJS(t, ctx, `(function () {
		var o = `+overlay+`;
		return !!o && o.textContent.indexOf(`+jsString(errText)+`) >= 0;
	})()`)
	checks := map[string]string{
		"the HTML in the output was not turned into elements": `!document.getElementById("injected") && !` + overlay + `.querySelector("#injected, img") && !window.pwned`,
		"the page was kept (no reload)":                       `window.marker === true`,
		"the overlay names the failed build":                  overlay + `.textContent.indexOf("failed") >= 0`,
	}
	for what, expr := range checks {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil || !ok {
			t.Errorf("%s: %s is false (%v)", what, expr, err)
		}
	}

	// The fix: the overlay goes and the page reloads.
	saveAtomically(t, srcFile, "fixed")
	testenv.WaitJS(t, ctx, `!window.marker && !document.getElementById("reloadd-overlay") && document.readyState === "complete"`)
	waitTitle(t, ctx, "one")

	// The terminal showed the failure once.
	if n := strings.Count(d.out.String(), "compile error:"); n != 1 {
		t.Errorf("the build's error is on the terminal %d times, want once:\n%s", n, d.out)
	}
}

// saveAtomically saves as most editors do: the new content is written
// elsewhere and renamed over the file, so the save is one event. (A plain
// truncate-and-write can be split into two builds on a starved machine,
// and this test counts the failure's lines on the terminal.)
func saveAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), filepath.Base(path))
	writeFile(t, tmp, content)
	must(t, os.Rename(tmp, path))
}
