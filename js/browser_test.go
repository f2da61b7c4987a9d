package js_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/js"
	"github.com/reloadd/reloadd/serve"
)

// The tests drive the real client in headless Chromium against a real hub
// behind a real HTTP server (reloadd's own handler from package serve), and
// play the build side by broadcasting the messages reloadd's build loop
// sends. One browser serves the whole binary; each test has its own tab.

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.CloseSharedChromium()
	if code == 0 {
		if err := goleak.Find(
			// chromedp's browser plumbing winds down just after its context.
			goleak.IgnoreTopFunction("github.com/chromedp/chromedp.(*Browser).run"),
		); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// site is a served directory with a hub, as reloadd runs it.
type site struct {
	t       *testing.T
	dir     string
	addr    string // kept across restarts
	hub     *hub.Hub
	srv     *http.Server
	static  *serve.Static
	reports chan hub.Reloaded
	extra   func(mux *http.ServeMux, h *hub.Hub) // more routes, set before start
	noJS    bool                                 // serve files as they are, without the client
}

func newSite(t *testing.T, files map[string]string) *site {
	t.Helper()
	s := &site{t: t, dir: t.TempDir(), reports: make(chan hub.Reloaded, 16)}
	for name, body := range files {
		s.write(name, body)
	}
	t.Cleanup(s.stop)
	return s
}

func (s *site) write(name, body string) {
	s.t.Helper()
	p := filepath.Join(s.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// start serves the site (again, on the same address) with a new hub of the
// given epoch whose last completed build is build.
func (s *site) start(epoch string, build int64) {
	s.t.Helper()
	h := hub.New(hub.Options{Epoch: epoch, OnReloaded: func(r hub.Reloaded) {
		select {
		case s.reports <- r:
		default:
		}
	}})
	if build > 0 {
		// A hub that has completed build (with no clients yet: only
		// hello and the stamp show it).
		h.Complete(hub.BuildComplete{Build: build})
	}
	var siteHandler http.Handler
	if s.noJS {
		siteHandler = noStore(http.FileServer(http.Dir(s.dir)))
	} else {
		st, err := serve.NewStatic(s.dir, func() []byte { return serve.ScriptTag(epoch, h.Build()) })
		if err != nil {
			s.t.Fatal(err)
		}
		s.static = st
		siteHandler = st
	}
	mux := http.NewServeMux()
	if s.extra != nil {
		s.extra(mux, h)
	}
	// The routes of cmd/reloadd's table that the client uses, behind the
	// test's own (extra) routes, which take precedence.
	routes := http.NewServeMux()
	routes.Handle("GET "+serve.ClientPath, js.Handler())
	routes.Handle(serve.WSPath, h)
	routes.Handle("/", siteHandler)
	mux.Handle("/", routes)
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.hub = h
	s.srv = &http.Server{Handler: mux}
	go s.srv.Serve(ln)
}

// stop closes the hub (going-away to every client) and the server.
func (s *site) stop() {
	if s.srv == nil {
		return
	}
	s.hub.Close()
	s.srv.Close()
	if s.static != nil {
		s.static.Close()
		s.static = nil
	}
	s.srv = nil
}

func (s *site) url(path string) string { return "http://" + s.addr + path }

// complete announces a successful build of the given site files.
func (s *site) complete(build int64, names ...string) {
	s.t.Helper()
	// The change was seen a settle window ago, as in reloadd: the browser's
	// "received" is then > 0 even when the message arrives within the
	// millisecond it was sent (Date.now() has whole milliseconds).
	msg := hub.BuildComplete{Build: build, Paths: []string{}, URLs: []string{},
		ChangedAt: time.Now().Add(-10 * time.Millisecond).UnixMilli()}
	// The action is reloadd's: swap when every file is a stylesheet or an
	// image, else reload.
	cssOnly, assets := len(names) > 0, len(names) > 0
	for _, n := range names {
		msg.Paths = append(msg.Paths, filepath.Join(s.dir, filepath.FromSlash(n)))
		msg.URLs = append(msg.URLs, "/"+n)
		cssOnly = cssOnly && hub.IsStylesheet(n)
		assets = assets && (hub.IsStylesheet(n) || hub.IsImage(n))
	}
	msg.CSSOnly = cssOnly
	msg.Action = hub.ActionReload
	if assets {
		msg.Action = hub.ActionSwap
	}
	s.send(msg)
}

// send announces a build_complete as reloadd does.
func (s *site) send(msg hub.BuildComplete) {
	s.t.Helper()
	if msg.ChangedAt == 0 {
		msg.ChangedAt = time.Now().Add(-10 * time.Millisecond).UnixMilli()
	}
	if _, err := s.hub.Complete(msg); err != nil {
		s.t.Fatal(err)
	}
}

// report waits for the next timing report.
func (s *site) report() hub.Reloaded {
	s.t.Helper()
	select {
	case r := <-s.reports:
		return r
	case <-time.After(testenv.WaitLimit):
		s.t.Fatal("no timing report")
		return hub.Reloaded{}
	}
}

func noStore(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ectx, cancel := context.WithTimeout(ctx, testenv.WaitLimit)
	defer cancel()
	v, err := chromedp.Run(ectx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func call[P, R any](t *testing.T, ctx context.Context, cmd cdp.Command[P, R], params P) {
	t.Helper()
	if _, err := chromedp.Call(ctx, cmd, params); err != nil {
		t.Fatalf("%s: %v", cmd.Method, err)
	}
}

// mark sets a variable on window that only survives if the page does not
// reload.
func mark(t *testing.T, ctx context.Context) {
	t.Helper()
	eval[bool](t, ctx, `window.marker = true`)
}

func marked(t *testing.T, ctx context.Context) bool {
	t.Helper()
	return eval[bool](t, ctx, `window.marker === true`)
}

func color(sel string) string {
	return `getComputedStyle(document.querySelector(` + jsString(sel) + `)).color`
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// connected waits until the client has had n hellos and is connected.
func connected(t *testing.T, ctx context.Context, hellos int) {
	t.Helper()
	testenv.WaitJS(t, ctx, fmt.Sprintf(`!!window.__reloadd && __reloadd.connected && __reloadd.hellos === %d`, hellos))
}

const stylePage = `<!doctype html><html><head><title>t</title>
<link rel="stylesheet" href="/css/site.css">
<link rel="stylesheet" href="/css/main.css">
</head><body style="height:5000px"><h1 id="title">one</h1><p>text</p></body></html>`

func TestCSSChangeSwapsStylesheetWithoutReload(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{
		"index.html":        stylePage,
		"css/site.css":      "h1 { color: rgb(0, 0, 255); }",
		"css/main.css":      `@import url("imported.css");` + "\nbody { margin: 0 }",
		"css/imported.css":  "p { color: rgb(0, 128, 0); }",
		"css/unrelated.css": "div { color: red }",
	})
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	mark(t, ctx)
	eval[bool](t, ctx, `window.scrollTo(0, 1234), true`)

	// A linked stylesheet.
	s.write("css/site.css", "h1 { color: rgb(255, 0, 0); }")
	s.complete(1, "css/site.css")
	testenv.WaitJS(t, ctx, color("h1")+` === "rgb(255, 0, 0)" && __reloadd.cssSwaps === 1`)
	// The old <link> is gone once the new one has loaded.
	testenv.WaitJS(t, ctx, `document.querySelectorAll('link[href*="site.css"]').length === 1`)
	if !marked(t, ctx) {
		t.Fatal("the page reloaded for a stylesheet change")
	}
	if y := eval[float64](t, ctx, `window.scrollY`); y != 1234 {
		t.Errorf("scroll position %v after the swap, want 1234", y)
	}
	if r := s.report(); !r.CSSSwap || r.Build != 1 || r.Load <= 0 {
		t.Errorf("timing report %+v, want a stylesheet swap of build 1", r)
	}

	// A stylesheet pulled in with @import.
	s.write("css/imported.css", "p { color: rgb(128, 0, 128); }")
	s.complete(2, "css/imported.css")
	testenv.WaitJS(t, ctx, color("p")+` === "rgb(128, 0, 128)" && __reloadd.cssSwaps === 2`)
	if !marked(t, ctx) {
		t.Fatal("the page reloaded for an @imported stylesheet change")
	}
	if got := eval[string](t, ctx, color("h1")); got != "rgb(255, 0, 0)" {
		t.Errorf("h1 color %s after the @import swap", got)
	}

	// A stylesheet this page does not use: reloading is the safe answer.
	s.complete(3, "css/unrelated.css")
	testenv.WaitJS(t, ctx, `window.marker === undefined && !!window.__reloadd && __reloadd.hellos === 1`)
}

// A proxied app's stylesheet is named by file name: the page's <link>
// whose URL ends with it is swapped, whatever the directories and query.
func TestCSSSwapByFileName(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{
		"index.html": `<!doctype html><html><head>
<link rel="stylesheet" href="/static/v1/app.css?v=3">
<link rel="stylesheet" href="/other.css">
</head><body><h1>x</h1><p>y</p></body></html>`,
		"static/v1/app.css": "h1 { color: rgb(0, 0, 255); }",
		"other.css":         "p { color: rgb(0, 0, 255); }",
	})
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	mark(t, ctx)
	eval[bool](t, ctx, `document.querySelector('link[href="/other.css"]').id = "other", true`)

	s.write("static/v1/app.css", "h1 { color: rgb(255, 0, 0); }")
	s.write("other.css", "p { color: rgb(255, 0, 0); }") // changed too, but not named: stays
	s.send(hub.BuildComplete{Build: 1, Paths: []string{"/app/src/static/app.css"}, Action: hub.ActionSwap, Names: []string{"app.css"}})
	testenv.WaitJS(t, ctx, color("h1")+` === "rgb(255, 0, 0)" && __reloadd.cssSwaps === 1`)
	if !marked(t, ctx) {
		t.Fatal("the page reloaded")
	}
	if got := eval[string](t, ctx, color("p")); got != "rgb(0, 0, 255)" || !eval[bool](t, ctx, `!!document.getElementById("other")`) {
		t.Errorf("the stylesheet not named was swapped too (p is %s)", got)
	}
}

// A stylesheet name that matches no URL of the page (a .scss source, a
// fingerprinted file) swaps every stylesheet of the page's origin, as
// livereload.js does, and never reloads: the page keeps its state.
func TestCSSSwapByFileNameFallsBackToEveryStylesheet(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{
		"index.html": `<!doctype html><html><head>
<link rel="stylesheet" href="/css/site.css">
<style>@import url("/css/imported.css");</style>
</head><body><h1>x</h1><p>y</p><input id="in"></body></html>`,
		"css/site.css":     "h1 { color: rgb(0, 0, 255); }",
		"css/imported.css": "p { color: rgb(0, 0, 255); }",
	})
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	mark(t, ctx)
	eval[bool](t, ctx, `document.getElementById("in").value = "typed", true`)

	s.write("css/site.css", "h1 { color: rgb(255, 0, 0); }")
	s.write("css/imported.css", "p { color: rgb(255, 0, 0); }")
	s.send(hub.BuildComplete{Build: 1, Paths: []string{"/app/scss/main.scss"}, Action: hub.ActionSwap, Names: []string{"main.css"}})
	testenv.WaitJS(t, ctx, color("h1")+` === "rgb(255, 0, 0)" && `+color("p")+` === "rgb(255, 0, 0)" && __reloadd.cssSwaps === 1`)
	if !marked(t, ctx) || eval[string](t, ctx, `document.getElementById("in").value`) != "typed" {
		t.Fatal("the page reloaded")
	}
}

// A build that changed nothing the page shows: no reload, no swap, but the
// build id is taken (a reconnect does not reload) and a failure overlay
// goes away.
func TestActionNoneKeepsThePage(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{"index.html": `<!doctype html><title>t</title><h1>x</h1>`})
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	mark(t, ctx)

	s.hub.Failed(hub.BuildFailed{Build: 1, ExitCode: 1, Output: "broken"})
	testenv.WaitJS(t, ctx, overlayText+`.includes("broken")`)
	s.send(hub.BuildComplete{Build: 2, Paths: []string{"/src/a.scss"}, Action: hub.ActionNone})
	testenv.WaitJS(t, ctx, `!document.getElementById("reloadd-overlay")`)

	// Restart on the same epoch and build: the page is up to date.
	s.stop()
	s.start("E", 2)
	connected(t, ctx, 2)
	if !marked(t, ctx) {
		t.Fatal("the page reloaded")
	}
	if n := eval[float64](t, ctx, `__reloadd.cssSwaps + __reloadd.imgSwaps`); n != 0 {
		t.Errorf("%v swaps for a build that changed nothing visible", n)
	}
}

// A swap's URLs may include files the page never loads (a source map
// written with its stylesheet): they do not force a reload.
func TestSwapIgnoresSourceMaps(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{
		"index.html":   stylePage,
		"css/site.css": "h1 { color: rgb(0, 0, 255); }",
		"css/main.css": "",
	})
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	mark(t, ctx)
	s.write("css/site.css", "h1 { color: rgb(255, 0, 0); }\n/*# sourceMappingURL=site.css.map */")
	s.write("css/site.css.map", "{}")
	s.send(hub.BuildComplete{Build: 1, URLs: []string{"/css/site.css", "/css/site.css.map"}, Action: hub.ActionSwap})
	testenv.WaitJS(t, ctx, color("h1")+` === "rgb(255, 0, 0)" && __reloadd.cssSwaps === 1`)
	if !marked(t, ctx) {
		t.Fatal("the page reloaded")
	}
}

func TestHTMLChangeReloads(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{"index.html": `<!doctype html><title>t</title><h1 id="title">one</h1>`})
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	mark(t, ctx)

	s.write("index.html", `<!doctype html><title>t</title><h1 id="title">two</h1>`)
	s.complete(1, "index.html")
	testenv.WaitJS(t, ctx, `document.getElementById("title").textContent === "two" && window.marker === undefined`)
	// The reloaded page reports how long the save took to reach it.
	r := s.report()
	if r.Build != 1 || r.CSSSwap || r.Load <= 0 || r.DOMContentLoaded <= 0 || r.Load < r.DOMContentLoaded || r.Received <= 0 {
		t.Errorf("timing report %+v", r)
	}
	if r.Load > float64(testenv.WaitLimit.Milliseconds()) {
		t.Errorf("load %v ms: not measured from the change", r.Load)
	}
}

func TestImageChangeSwapsImagesWithoutReload(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	svg := func(w int) string {
		return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="10"><rect width="%d" height="10"/></svg>`, w, w)
	}
	s := newSite(t, map[string]string{
		"index.html": `<!doctype html><html><head><link rel="stylesheet" href="/css/site.css"></head><body>
<img id="logo" src="/img/a.svg"><div id="inline" style="background-image: url('/img/a.svg')">x</div>
<div id="bg">y</div></body></html>`,
		"css/site.css": "#bg { background-image: url(../img/b.svg); }",
		"img/a.svg":    svg(10),
		"img/b.svg":    svg(10),
	})
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	testenv.WaitJS(t, ctx, `document.getElementById("logo").naturalWidth === 10`)
	mark(t, ctx)

	s.write("img/a.svg", svg(20))
	s.complete(1, "img/a.svg")
	testenv.WaitJS(t, ctx, `document.getElementById("logo").naturalWidth === 20 && __reloadd.imgSwaps === 1`)
	if got := eval[string](t, ctx, `document.getElementById("inline").style.backgroundImage`); !strings.Contains(got, "reloadd=") {
		t.Errorf("inline background %q was not refreshed", got)
	}
	if !marked(t, ctx) {
		t.Fatal("the page reloaded for an image change")
	}
	if r := s.report(); r.Build != 1 || !r.ImgSwap {
		t.Errorf("timing report %+v, want an image swap", r)
	}

	// An image used by a stylesheet rule.
	s.write("img/b.svg", svg(30))
	s.complete(2, "img/b.svg")
	testenv.WaitJS(t, ctx, `getComputedStyle(document.getElementById("bg")).backgroundImage.includes("b.svg?reloadd=")`)
	if !marked(t, ctx) {
		t.Fatal("the page reloaded for a background image change")
	}
}

const overlayText = `(document.getElementById("reloadd-overlay") || {shadowRoot: {textContent: ""}}).shadowRoot.textContent`

func TestBuildFailureShowsOverlayUntilSuccess(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{
		"index.html":   `<!doctype html><html><head><link rel="stylesheet" href="/css/site.css"></head><body><h1>x</h1></body></html>`,
		"css/site.css": "h1 { color: rgb(0, 0, 255); }",
	})
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	mark(t, ctx)

	// A build that takes a while shows the indicator.
	s.hub.Start(1, nil)
	testenv.WaitJS(t, ctx, `!!document.getElementById("reloadd-indicator") &&
		document.getElementById("reloadd-indicator").shadowRoot.textContent === "rebuilding\u2026"`)

	// It fails: the output shows as text, never as HTML.
	output := "main.go:3:1: syntax error\n<b>not bold</b><img src=x onerror=window.pwned=1>"
	s.hub.Failed(hub.BuildFailed{Build: 1, ExitCode: 2, Output: output})
	testenv.WaitJS(t, ctx, overlayText+`.includes("<b>not bold</b>") && !document.getElementById("reloadd-indicator")`)
	if got := eval[string](t, ctx, overlayText); !strings.Contains(got, "build 1 failed (exit 2)") || !strings.Contains(got, output) {
		t.Errorf("overlay text %q", got)
	}
	if eval[bool](t, ctx, `!!document.getElementById("reloadd-overlay").shadowRoot.querySelector("b, img") || !!window.pwned`) {
		t.Error("the build output was rendered as HTML")
	}

	// Dismissed with its button…
	eval[bool](t, ctx, `document.getElementById("reloadd-overlay").shadowRoot.querySelector("button").click(), true`)
	testenv.WaitJS(t, ctx, `!document.getElementById("reloadd-overlay")`)
	// …or with Escape, typed for real.
	s.hub.Failed(hub.BuildFailed{Build: 2, ExitCode: 1, Output: "still broken"})
	testenv.WaitJS(t, ctx, overlayText+`.includes("still broken")`)
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.Escape)); err != nil {
		t.Fatal(err)
	}
	testenv.WaitJS(t, ctx, `!document.getElementById("reloadd-overlay")`)

	// When the app, not the build, failed, the overlay says so.
	s.hub.Failed(hub.BuildFailed{Build: 2, ExitCode: 3, Output: "app: panic", Stage: hub.StageApp})
	testenv.WaitJS(t, ctx, overlayText+`.includes("app: panic")`)
	if got := eval[string](t, ctx, overlayText); !strings.Contains(got, "the app failed (exit 3)") || strings.Contains(got, "build 2 failed") {
		t.Errorf("overlay text for an app failure %q", got)
	}

	// A page loaded while the build is broken shows why.
	s.hub.Failed(hub.BuildFailed{Build: 3, ExitCode: 1, Output: "broken at load"})
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	testenv.WaitJS(t, ctx, overlayText+`.includes("broken at load")`)
	mark(t, ctx)

	// The next success removes it (here a stylesheet swap, so no reload
	// hides the overlay for us).
	s.write("css/site.css", "h1 { color: rgb(0, 128, 0); }")
	s.complete(4, "css/site.css")
	testenv.WaitJS(t, ctx, `!document.getElementById("reloadd-overlay") && `+color("h1")+` === "rgb(0, 128, 0)"`)
	if !marked(t, ctx) {
		t.Error("the page reloaded")
	}
}

func TestReconnectResyncsIffEpochOrBuildMoved(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{"index.html": `<!doctype html><title>t</title><h1>x</h1>`})
	s.start("E1", 5)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	mark(t, ctx)

	// Back with the same epoch and build: nothing happened while away.
	s.stop()
	testenv.WaitJS(t, ctx, `!__reloadd.connected`)
	s.start("E1", 5)
	connected(t, ctx, 2)
	if !marked(t, ctx) {
		t.Fatal("the page reloaded although (epoch, build) did not move")
	}

	// A build finished while away.
	s.stop()
	testenv.WaitJS(t, ctx, `!__reloadd.connected`)
	s.start("E1", 6)
	testenv.WaitJS(t, ctx, `window.marker === undefined && !!window.__reloadd && __reloadd.connected`)
	mark(t, ctx)

	// reloadd restarted: a new epoch.
	s.stop()
	testenv.WaitJS(t, ctx, `!__reloadd.connected`)
	s.start("E2", 6)
	testenv.WaitJS(t, ctx, `window.marker === undefined && !!window.__reloadd && __reloadd.connected`)
}

// hiddenWindow is how long the hidden-tab test watches for reconnection
// attempts that must not happen. It observes an absence, it does not
// synchronise anything: a visible client makes four attempts in this time
// (backoff 100, 200, 400, 800 ms), and a correct hidden one none however
// slow the machine is.
const hiddenWindow = 1500 * time.Millisecond

func TestHiddenTabDoesNotReconnectUntilVisible(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	console, stopConsole := collect(ctx, runtime.ConsoleAPICalled)
	defer stopConsole()
	s := newSite(t, map[string]string{"index.html": `<!doctype html><title>t</title><h1>x</h1>`})
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	mark(t, ctx)

	// Visible, server down: the client retries.
	s.stop()
	before := eval[int](t, ctx, `__reloadd.attempts`)
	testenv.WaitJS(t, ctx, fmt.Sprintf(`__reloadd.attempts >= %d`, before+2))

	// Hidden, the way Chromium hides a tab (the page is frozen and
	// resumed, and stays hidden).
	call(t, ctx, page.SetWebLifecycleState, page.SetWebLifecycleStateParams{State: page.SetWebLifecycleStateStateFrozen})
	call(t, ctx, page.SetWebLifecycleState, page.SetWebLifecycleStateParams{State: page.SetWebLifecycleStateStateActive})
	testenv.WaitJS(t, ctx, `document.visibilityState === "hidden" && __reloadd.paused`)
	attempts := eval[int](t, ctx, `__reloadd.attempts`)
	created, stopCreated := collect(ctx, network.WebSocketCreated)
	defer stopCreated()
	// The server comes back while the tab is hidden: still no attempt.
	s.start("E", 0)
	time.Sleep(hiddenWindow)
	if evs := created(); len(evs) > 0 {
		t.Errorf("the hidden tab opened %d WebSockets (first: %s)", len(evs), evs[0].URL)
	}
	if got := eval[int](t, ctx, `__reloadd.attempts`); got != attempts {
		t.Errorf("hidden tab made %d connection attempts", got-attempts)
	}

	// Visible again: it reconnects at once, with one attempt, and resyncs
	// (same epoch and build: no reload).
	call(t, ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
	testenv.WaitJS(t, ctx, `document.visibilityState === "visible" && __reloadd.connected && !__reloadd.paused`)
	if got := eval[int](t, ctx, `__reloadd.attempts`); got != attempts+1 {
		t.Errorf("%d attempts to reconnect when visible, want 1", got-attempts)
	}
	if !marked(t, ctx) {
		t.Error("the page reloaded")
	}
	// All this without a word on the console.
	if calls := console(); len(calls) > 0 {
		t.Errorf("the client wrote to the console: %s(%v)", calls[0].Type, calls[0].Args)
	}
}

// collect gathers the events ev of the tab until stop is called.
func collect[E any](ctx context.Context, ev cdp.Event[E]) (get func() []E, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	events := chromedp.Events(ctx, ev) // subscribed from here on
	var mu sync.Mutex
	var got []E
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e, err := range events {
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, e)
			mu.Unlock()
		}
	}()
	get = func() []E {
		mu.Lock()
		defer mu.Unlock()
		return append([]E(nil), got...)
	}
	stop = func() {
		cancel()
		<-done
	}
	return get, stop
}

func TestOfflineTabWaitsForTheNetwork(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{"index.html": `<!doctype html><title>t</title><h1>x</h1>`})
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	mark(t, ctx)

	s.stop()
	testenv.WaitJS(t, ctx, `!__reloadd.connected`)
	offline := func(off bool) {
		call(t, ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{
			Offline: off, DownloadThroughput: -1, UploadThroughput: -1})
	}
	offline(true)
	testenv.WaitJS(t, ctx, `navigator.onLine === false && __reloadd.paused`)
	attempts := eval[int](t, ctx, `__reloadd.attempts`)
	s.start("E", 0)
	time.Sleep(hiddenWindow) // observing an absence, as in the hidden-tab test
	if got := eval[int](t, ctx, `__reloadd.attempts`); got != attempts {
		t.Errorf("offline tab made %d connection attempts", got-attempts)
	}
	offline(false)
	testenv.WaitJS(t, ctx, `navigator.onLine === true && __reloadd.connected && __reloadd.hellos === 2`)
	if got := eval[int](t, ctx, `__reloadd.attempts`); got != attempts+1 {
		t.Errorf("%d attempts to reconnect when online, want 1", got-attempts)
	}
	if !marked(t, ctx) {
		t.Error("the page reloaded")
	}
}
