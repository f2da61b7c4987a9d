package js_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/js"
)

// livereloadJS is the real LiveReload client, from npm, pinned.
const livereloadJS = "livereload-js@4.0.2"

const livereloadPage = `<!doctype html><html><head><title>t</title>
<link rel="stylesheet" href="/css/site.css">
<script src="/livereload.js"></script>
</head><body><h1 id="title">one</h1></body></html>`

// TestRealLiveReloadClient serves livereload.js from npm on a page and
// drives it through the hub's LiveReload protocol: CSS is swapped live, a
// page change reloads, a failure alerts.
func TestRealLiveReloadClient(t *testing.T) {
	pkg := testenv.NPMPackage(t, livereloadJS)
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{
		"index.html":   livereloadPage,
		"css/site.css": "h1 { color: rgb(0, 0, 255); }",
	})
	s.noJS = true // the page brings its own client
	s.extra = func(mux *http.ServeMux, h *hub.Hub) {
		mux.Handle(hub.LiveReloadPath, h.LiveReload())
		mux.HandleFunc("/livereload.js", func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, filepath.Join(pkg, "dist", "livereload.js"))
		})
	}
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	testenv.Eventually(t, "livereload.js to complete the handshake", func() bool { return s.hub.Clients() == 1 })
	testenv.WaitJS(t, ctx, `!!window.LiveReload && LiveReload.connector.protocol === 7`)
	mark(t, ctx)

	s.write("css/site.css", "h1 { color: rgb(255, 0, 0); }")
	s.complete(1, "css/site.css")
	testenv.WaitJS(t, ctx, color("h1")+` === "rgb(255, 0, 0)"`)
	if !marked(t, ctx) {
		t.Fatal("livereload.js reloaded the page for a stylesheet change")
	}

	// A failure: livereload.js alerts. The dialog blocks the page until
	// it is answered.
	dialogs, stopDialogs := collect(ctx, page.JavascriptDialogOpening)
	defer stopDialogs()
	s.hub.Failed(hub.BuildFailed{Build: 2, ExitCode: 1, Output: "main.go:3: syntax error"})
	testenv.Eventually(t, "the alert", func() bool { return len(dialogs()) > 0 })
	if msg := dialogs()[0].Message; !strings.Contains(msg, "main.go:3: syntax error") {
		t.Errorf("alert %q", msg)
	}
	if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
		t.Fatal(err)
	}

	s.write("index.html", strings.Replace(livereloadPage, ">one<", ">two<", 1))
	s.complete(3, "index.html")
	testenv.WaitJS(t, ctx, `document.getElementById("title").textContent === "two" && window.marker === undefined`)
}

// TestLiveReloadScriptTagGetsReloaddClient: a page written for LiveReload,
// served by something else, includes reloadd's /livereload.js, which is
// reloadd's own client talking to /_reloadd/ws.
func TestLiveReloadScriptTagGetsReloaddClient(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{
		"index.html":   livereloadPage,
		"css/site.css": "h1 { color: rgb(0, 0, 255); }",
	})
	s.noJS = true
	s.extra = func(mux *http.ServeMux, h *hub.Hub) { mux.Handle("/livereload.js", js.Handler()) }
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	mark(t, ctx)
	s.write("css/site.css", "h1 { color: rgb(255, 0, 0); }")
	s.complete(1, "css/site.css")
	testenv.WaitJS(t, ctx, color("h1")+` === "rgb(255, 0, 0)" && window.marker === true`)
	s.write("index.html", strings.Replace(livereloadPage, ">one<", ">two<", 1))
	s.complete(2, "index.html")
	testenv.WaitJS(t, ctx, `document.getElementById("title").textContent === "two" && window.marker === undefined`)
}

func TestHandlerHeaders(t *testing.T) {
	const forever = "public, max-age=31536000, immutable"
	for _, tc := range []struct {
		url, cache string
	}{
		{"/_reloadd/client.js?v=" + js.Version, forever}, // what pages are injected with
		{"/_reloadd/client.js", "no-store"},              // pages injected by an older reloadd
		{"/_reloadd/client.js?v=0123456789abcdef", "no-store"},
		{"/_reloadd/client.js?v=", "no-store"},
		{"/livereload.js", "no-store"},
		{"/livereload.js?v=" + js.Version, forever},
	} {
		rec := httptest.NewRecorder()
		js.Handler().ServeHTTP(rec, httptest.NewRequest("GET", tc.url, nil))
		h := rec.Header()
		if ct := h.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", tc.url, ct)
		}
		if cc := h.Get("Cache-Control"); cc != tc.cache {
			t.Errorf("%s: Cache-Control %q, want %q", tc.url, cc, tc.cache)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", tc.url)
		}
		if h.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: served with CORS headers", tc.url)
		}
		if !bytes.Equal(rec.Body.Bytes(), js.Client) {
			t.Errorf("%s: body is not the client", tc.url)
		}
	}
}

func TestVersionIsTheContentHash(t *testing.T) {
	sum := sha256.Sum256(js.Client)
	if js.Version != hex.EncodeToString(sum[:8]) || len(js.Version) != 16 {
		t.Errorf("Version %q", js.Version)
	}
}
