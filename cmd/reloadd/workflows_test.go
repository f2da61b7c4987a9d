package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/internal/testenv"
)

// Real workflows (issue 16), each with the real tool and a real browser:
// Hugo, Sass (npm), a Go net/http app built with go build, an Express app
// (npm). A stylesheet edit swaps in place (scroll, form input and the page's
// own state kept), a page edit reloads exactly once, and a build's own
// outputs never cause a second build: after each step the next build must
// be the next edit's.

// Versions of the npm packages the tests run (testenv.NPMPackage caches
// them per machine).
const (
	sassPackage    = "sass@1.108.2"
	expressPackage = "express@5.3.0"
)

// tab is a Chromium tab that counts the documents it loads.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func newTab(t *testing.T) *tab {
	t.Helper()
	ctx := testenv.Chromium(t)
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: `
		sessionStorage.setItem("loads", String(Number(sessionStorage.getItem("loads") || 0) + 1));`}); err != nil {
		t.Fatal(err)
	}
	return &tab{t: t, ctx: ctx}
}

// open loads url, waits for the client to connect, and leaves state a
// reload would lose: a marker, typed input and a scroll position.
func (b *tab) open(url string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(url)); err != nil {
		b.t.Fatal(err)
	}
	b.connected()
	b.eval(`document.getElementById("in").value = "typed", window.scrollTo(0, 1234), window.marker = true`)
}

func (b *tab) connected() {
	b.t.Helper()
	testenv.WaitJS(b.t, b.ctx, `!!(window.__reloadd && window.__reloadd.connected) && document.readyState === "complete"`)
}

func (b *tab) eval(expr string) string {
	b.t.Helper()
	s, err := testenv.EvalString(b.ctx, `String(`+expr+`)`)
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return s
}

// loads is how many documents the tab has loaded.
func (b *tab) loads() int {
	b.t.Helper()
	n, _ := strconv.Atoi(b.eval(`sessionStorage.getItem("loads")`))
	return n
}

// kept fails the test if the page reloaded since open.
func (b *tab) kept(what string) {
	b.t.Helper()
	if got := b.eval(`[window.marker === true, document.getElementById("in").value, window.scrollY].join()`); got != "true,typed,1234" {
		b.t.Fatalf("%s: the page lost its state (marker, input, scroll: %s): it reloaded", what, got)
	}
}

// waitColor waits until the computed color of the element matching sel is
// want.
func (b *tab) waitColor(sel, want string) {
	b.t.Helper()
	testenv.WaitJS(b.t, b.ctx, `!!document.querySelector(`+jsString(sel)+`) && getComputedStyle(document.querySelector(`+jsString(sel)+`)).color === `+jsString(want))
}

// formPage is a tall page with a form input, the way the tests' sites
// render it; head goes into <head>.
func formPage(head, title string) string {
	return `<!doctype html><html><head><title>t</title>` + head + `</head>
<body style="height:5000px"><h1 id="title">` + title + `</h1><p>text</p><input id="in"></body></html>`
}

// nextBuildIs makes a change and checks that the next build reloadd starts
// (or the next change it announces without one, for a change -build-on
// does not match) is for that change alone: nothing, such as an output of
// the previous build, came in between.
func nextBuildIs(t *testing.T, ws *wsLog, id int, path string) map[string]any {
	t.Helper()
	m, _ := ws.expect(fmt.Sprintf("build %d", id), func(m map[string]any) bool {
		return (m["type"] == "build_start" || m["type"] == "build_complete") && m["build"] == float64(id)
	})
	if got := strs(m["paths"]); !slices.Equal(got, []string{path}) {
		t.Fatalf("build %d is for %v, want only %s: an output triggered a build", id, got, path)
	}
	if m["type"] == "build_complete" {
		return m
	}
	m, _ = ws.expect(fmt.Sprintf("build_complete %d", id), isBuild("build_complete", id))
	return m
}

func TestHugoStylesheetSwapsContentReloadsOnce(t *testing.T) {
	hugo := testenv.Need(t, "hugo")
	site := t.TempDir()
	for name, body := range map[string]string{
		"hugo.toml": `baseURL = "http://localhost/"
title = "t"
disableKinds = ["taxonomy", "term", "RSS", "sitemap"]
`,
		"layouts/index.html": formPage(`{{ $css := resources.Get "main.scss" | toCSS }}<link rel="stylesheet" href="{{ $css.RelPermalink }}">
<link rel="stylesheet" href="/css/static.css">`, `{{ .Title }}`),
		"content/_index.md":     "---\ntitle: one\n---\n",
		"assets/main.scss":      "$c: rgb(0, 0, 255);\nh1 { color: $c; }\n",
		"static/css/static.css": "p { color: rgb(0, 0, 255); }\n",
	} {
		p := filepath.Join(site, filepath.FromSlash(name))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		writeFile(t, p, body)
	}
	public := filepath.Join(site, "public")
	must(t, os.Mkdir(public, 0o755))
	d := startDaemon(t, testenv.FreeAddr(t), "-build", shq(hugo)+" --quiet -s "+shq(site), "-serve", public, site)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)
	b := newTab(t)
	b.open("http://" + d.addr + "/")

	// Sass through Hugo Pipes (which writes resources/_gen/): swapped.
	scss := filepath.Join(site, "assets", "main.scss")
	writeFile(t, scss, "$c: rgb(255, 0, 0);\nh1 { color: $c; }\n")
	m := nextBuildIs(t, ws, 2, scss)
	if m["action"] != hub.ActionSwap || !slices.Equal(strs(m["urls"]), []string{"/main.css"}) {
		t.Errorf("a Sass edit: %v, want a swap of /main.css", m)
	}
	b.waitColor("h1", "rgb(255, 0, 0)")
	b.kept("a Sass edit")

	// A static stylesheet: swapped.
	static := filepath.Join(site, "static", "css", "static.css")
	writeFile(t, static, "p { color: rgb(255, 0, 0); }\n")
	nextBuildIs(t, ws, 3, static)
	b.waitColor("p", "rgb(255, 0, 0)")
	b.kept("a static stylesheet edit")

	// Content: one reload.
	content := filepath.Join(site, "content", "_index.md")
	writeFile(t, content, "---\ntitle: two\n---\n")
	if m := nextBuildIs(t, ws, 4, content); m["action"] != hub.ActionReload {
		t.Errorf("a content edit: %v, want a reload", m)
	}
	waitTitle(t, b.ctx, "two")
	b.connected()

	// The next build is the next edit's (no echo of build 4), and the tab
	// loaded twice in all.
	writeFile(t, static, "p { color: rgb(0, 128, 0); }\n")
	nextBuildIs(t, ws, 5, static)
	b.waitColor("p", "rgb(0, 128, 0)")
	if n := b.loads(); n != 2 {
		t.Errorf("the tab loaded %d documents, want 2 (the first, and one reload)", n)
	}
}

func TestSassBuildSwapsInPlace(t *testing.T) {
	node := testenv.Need(t, "node")
	sass := filepath.Join(testenv.NPMPackage(t, sassPackage), "sass.js")
	root := t.TempDir()
	src, public := filepath.Join(root, "src"), filepath.Join(root, "public")
	must(t, os.Mkdir(src, 0o755))
	must(t, os.Mkdir(public, 0o755))
	scss := filepath.Join(src, "style.scss")
	writeFile(t, scss, "$c: rgb(0, 0, 255);\nh1 { color: $c; }\n")
	writeFile(t, filepath.Join(public, "index.html"), formPage(`<link rel="stylesheet" href="/style.css">`, "sass"))
	build := fmt.Sprintf("%s %s %s %s", shq(node), shq(sass), shq(scss), shq(filepath.Join(public, "style.css")))
	d := startDaemon(t, testenv.FreeAddr(t), "-build", build, "-serve", public, root)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)
	b := newTab(t)
	b.open("http://" + d.addr + "/")
	b.waitColor("h1", "rgb(0, 0, 255)")

	for i, c := range []string{"rgb(255, 0, 0)", "rgb(0, 128, 0)"} {
		writeFile(t, scss, "$c: "+c+";\nh1 { color: $c; }\n")
		m := nextBuildIs(t, ws, i+2, scss)
		// The source map has the same bytes (a color changed, no line):
		// the served tree's index knows, and names the stylesheet alone.
		if m["action"] != hub.ActionSwap || !slices.Equal(strs(m["urls"]), []string{"/style.css"}) {
			t.Errorf("build %d: %v, want a swap of the stylesheet", i+2, m)
		}
		b.waitColor("h1", c)
		b.kept("a Sass edit")
	}
	if n := b.loads(); n != 1 {
		t.Errorf("the tab loaded %d documents, want 1", n)
	}
}

func TestGoAppStylesheetSwapsWithoutRebuild(t *testing.T) {
	goTool := testenv.Need(t, "go")
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "templates"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "static"), 0o755))
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/app\n\ngo 1.22\n")
	mainGo := filepath.Join(dir, "main.go")
	writeFile(t, mainGo, fmt.Sprintf(testenv.GoAppMain, "v1"))
	tmpl := filepath.Join(dir, "templates", "index.html")
	writeFile(t, tmpl, formPage(`<link rel="stylesheet" href="/static/app.css">`, "one")+"<footer id=f>{{.}}</footer>")
	css := filepath.Join(dir, "static", "app.css")
	writeFile(t, css, "h1 { color: rgb(0, 0, 255); }")
	appAddr := testenv.FreeAddr(t)
	proxy, _ := url.Parse("http://" + appAddr + "/")
	d := startDaemonProxy(t, testenv.FreeAddr(t), proxy,
		"-build", "cd "+shq(dir)+" && "+shq(goTool)+" build -o app .",
		"-run", shq(filepath.Join(dir, "app"))+" "+appAddr,
		"-build-on", "*.go", dir)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)
	starts := func() int { return strings.Count(d.out.String(), "app: listening") }
	b := newTab(t)
	b.open("http://" + d.addr + "/")

	// CSS: swapped by name, no build, no restart.
	writeFile(t, css, "h1 { color: rgb(255, 0, 0); }")
	if m := nextBuildIs(t, ws, 2, css); m["action"] != hub.ActionSwap || !slices.Equal(strs(m["names"]), []string{"app.css"}) {
		t.Errorf("a CSS edit: %v, want a swap by the name app.css", m)
	}
	b.waitColor("h1", "rgb(255, 0, 0)")
	b.kept("a CSS edit")

	// A template (read per request): reloaded, no build, no restart.
	writeFile(t, tmpl, formPage(`<link rel="stylesheet" href="/static/app.css">`, "two")+"<footer id=f>{{.}}</footer>")
	if m := nextBuildIs(t, ws, 3, tmpl); m["action"] != hub.ActionReload {
		t.Errorf("a template edit: %v, want a reload", m)
	}
	waitTitle(t, b.ctx, "two")
	// The save lines (a line waits for its page's report, at most 2 s).
	testenv.Eventually(t, "the save lines of builds 2 and 3", func() bool {
		return regexp.MustCompile(`build 2  `+regexp.QuoteMeta(css)+`  .*\(\d clients?, no build \(-build-on\), css swap`).MatchString(d.out.String()) &&
			regexp.MustCompile(`build 3  `+regexp.QuoteMeta(tmpl)+`  .*\(2 clients, no build \(-build-on\)`).MatchString(d.out.String())
	})
	if n := starts(); n != 1 {
		t.Errorf("the app started %d times for CSS and template edits, want once", n)
	}

	// Go: one build, one restart, one reload.
	b.connected()
	writeFile(t, mainGo, fmt.Sprintf(testenv.GoAppMain, "v2"))
	if m := nextBuildIs(t, ws, 4, mainGo); m["action"] != hub.ActionReload {
		t.Errorf("a .go edit: %v, want a reload", m)
	}
	testenv.WaitJS(t, b.ctx, `(document.getElementById("f") || {}).textContent === "v2"`)
	b.connected()
	writeFile(t, css, "h1 { color: rgb(0, 128, 0); }")
	nextBuildIs(t, ws, 5, css) // not the binary's echo
	b.waitColor("h1", "rgb(0, 128, 0)")
	if n := starts(); n != 2 {
		t.Errorf("the app started %d times, want 2 (one restart for the .go edit)", n)
	}
	if n := b.loads(); n != 3 {
		t.Errorf("the tab loaded %d documents, want 3 (the first, the template edit, the .go edit)", n)
	}
}

const expressServer = `const express = require("express");
const fs = require("fs");
const path = require("path");
const app = express();
const version = "%s";
app.use("/public", express.static(path.join(__dirname, "public")));
app.get("/", (req, res) => {
  res.type("html").send(fs.readFileSync(path.join(__dirname, "views", "index.html"), "utf8").replace("VERSION", version));
});
app.listen(Number(process.argv[2]), "127.0.0.1", () => console.log("app: listening"));
`

func TestExpressAppStylesheetSwapsWithoutRestart(t *testing.T) {
	node := testenv.Need(t, "node")
	modules := filepath.Dir(testenv.NPMPackage(t, expressPackage))
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "views"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "public"), 0o755))
	server := filepath.Join(dir, "server.js")
	writeFile(t, server, fmt.Sprintf(expressServer, "v1"))
	writeFile(t, filepath.Join(dir, "views", "index.html"), formPage(`<link rel="stylesheet" href="/public/app.css">`, "one")+"<footer id=f>VERSION</footer>")
	css := filepath.Join(dir, "public", "app.css")
	writeFile(t, css, "h1 { color: rgb(0, 0, 255); }")
	appAddr := testenv.FreeAddr(t)
	_, port, _ := strings.Cut(appAddr, ":")
	proxy, _ := url.Parse("http://" + appAddr + "/")
	d := startDaemonProxy(t, testenv.FreeAddr(t), proxy,
		"-run", "NODE_PATH="+shq(modules)+" exec "+shq(node)+" "+shq(server)+" "+port,
		"-build-on", "server.js", dir)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)
	starts := func() int { return strings.Count(d.out.String(), "app: listening") }
	testenv.Eventually(t, "the app", func() bool { return starts() == 1 })
	b := newTab(t)
	b.open("http://" + d.addr + "/")

	writeFile(t, css, "h1 { color: rgb(255, 0, 0); }")
	if m := nextBuildIs(t, ws, 2, css); m["action"] != hub.ActionSwap || !slices.Equal(strs(m["names"]), []string{"app.css"}) {
		t.Errorf("a CSS edit: %v, want a swap by the name app.css", m)
	}
	b.waitColor("h1", "rgb(255, 0, 0)")
	b.kept("a CSS edit")

	writeFile(t, server, fmt.Sprintf(expressServer, "v2"))
	if m := nextBuildIs(t, ws, 3, server); m["action"] != hub.ActionReload {
		t.Errorf("a server.js edit: %v, want a reload", m)
	}
	testenv.WaitJS(t, b.ctx, `(document.getElementById("f") || {}).textContent === "v2"`)
	b.connected()
	writeFile(t, css, "h1 { color: rgb(0, 128, 0); }")
	nextBuildIs(t, ws, 4, css)
	b.waitColor("h1", "rgb(0, 128, 0)")
	if n := starts(); n != 2 {
		t.Errorf("the app started %d times, want 2 (one restart for server.js)", n)
	}
	if n := b.loads(); n != 2 {
		t.Errorf("the tab loaded %d documents, want 2", n)
	}
}
