package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/reloadd/reloadd/internal/testenv"
)

// figWorkflows is the number of the workflows figure.
const figWorkflows = 8

// Figure 8: real workflows (issue 16), with the real tools: a Sass build
// (npm sass) serving its output, a Go net/http app behind -proxy with
// -build-on '*.go', Hugo, and an Express app (npm express). Latencies: an
// edit → the new computed style in Chromium, no reload; a .go edit → the
// page reloaded with the rebuilt app. Counts: per kind of edit, the builds,
// app restarts and page loads it caused, and the builds beyond the one it
// needed (a build's outputs coming back as changes).

// The npm packages figure 8 runs (the versions the tests use).
const (
	benchSass    = "sass@1.108.2"
	benchExpress = "express@5.3.0"
)

// workflowRow is one line of the workflow counts table.
type workflowRow struct {
	setup, edit string
	wantBuilds  int // builds each edit needs: 1, or 0 for a change -build-on does not match
	wantLoads   int // page loads each edit needs: 1 for a reload, 0 for a swap
	edits       int
	builds      int // build_complete with built=true
	restarts    int // app starts
	loads       int // documents the tab loaded
	na, note    string
}

// quietAfterEdit is how long reloadd must announce nothing more before an
// edit's effects are counted: longer than any echo of the edit's build
// takes to arrive (the settle window, a Hugo or go build).
const quietAfterEdit = 1500 * time.Millisecond

// boxPage is the page every workflow renders: a tall body, a form input,
// the measured #box, and #v for the server-side version. head goes into
// <head>.
func boxPage(head, v string) string {
	return `<!doctype html><html><head><meta charset="utf-8"><title>reloadd bench</title>` + head + `</head>
<body style="height:5000px"><div id="box">box</div><input id="in"><p id="v">` + v + `</p></body></html>
`
}

func boxCSS(width int) []byte {
	return fmt.Appendf(nil, "#box { width: %dpx; height: 10px; background: #08c; }\n", width)
}

func boxSCSS(width int) []byte {
	return fmt.Appendf(nil, "$w: %dpx;\n#box { width: $w; height: 10px; background: #08c; }\n", width)
}

const benchExpressApp = `const express = require("express");
const fs = require("fs");
const path = require("path");
const app = express();
const version = "%s";
app.use("/public", express.static(path.join(__dirname, "public")));
app.get("/", (req, res) => res.type("html").send(fs.readFileSync(path.join(__dirname, "views", "index.html"), "utf8").replace("VERSION", version)));
app.listen(Number(process.argv[2]), "127.0.0.1", () => console.log("app: listening"));
`

// workflow is one project reloadd runs for figure 8.
type workflow struct {
	name  string
	dir   string
	args  []string // reloadd's flags and DIRs
	edits []workflowEdit
}

// workflowEdit is one kind of edit: file gets content(i) for the i-th.
type workflowEdit struct {
	name        string
	file        string
	content     func(i int) []byte
	css         bool // a stylesheet change: the tab's #box width becomes 100+i px
	needsBuild  bool
	latency     *latencyRow // measured in trials, if set
	wantVersion func(i int) string
}

func writeTree(dir string, files map[string]string) error {
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func need(tool string) (string, error) {
	p, err := exec.LookPath(tool)
	if err != nil {
		return "", fmt.Errorf("%s is not installed: %w", tool, errNoTool)
	}
	return p, nil
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (s *suite) fig8(ctx context.Context) {
	sassCSS := s.rep.addLatency(&latencyRow{fig: figWorkflows, figure: figCSS, setup: "Sass `-build` (npm sass), .scss edit; page clock",
		panel: panelBrowser, label: "Sass -build → swap"})
	goCSS := s.rep.addLatency(&latencyRow{fig: figWorkflows, figure: figCSS, setup: "Go app behind `-proxy`, `-build-on '*.go'`, CSS edit (no build); page clock",
		panel: panelBrowser, label: "Go app CSS → swap"})
	goReload := s.rep.addLatency(&latencyRow{fig: figWorkflows, figure: figReload, setup: "Go app behind `-proxy`, .go edit (`go build`, restart); page clock"})

	flows := []struct {
		name string
		lat  []*latencyRow
		make func() (*workflow, error)
	}{
		{"Sass", []*latencyRow{sassCSS}, func() (*workflow, error) { return s.sassFlow(sassCSS) }},
		{"Go app", []*latencyRow{goCSS, goReload}, func() (*workflow, error) { return s.goFlow(goCSS, goReload) }},
		{"Hugo", nil, s.hugoFlow},
		{"Express app", nil, s.expressFlow},
	}
	for _, f := range flows {
		if ctx.Err() != nil {
			return
		}
		s.progress("figure %d: %s", figWorkflows, f.name)
		n := len(s.rep.workflows)
		w, err := f.make()
		if err == nil {
			err = s.runWorkflow(ctx, w)
			os.RemoveAll(w.dir)
		}
		if err == nil {
			continue
		}
		s.fail(figWorkflows, fmt.Errorf("%s: %w", f.name, err), f.lat...)
		if len(s.rep.workflows) == n {
			s.rep.workflows = append(s.rep.workflows, &workflowRow{setup: f.name})
		}
		for _, r := range s.rep.workflows[n:] {
			if r.na == "" {
				r.na = naReason(err)
			}
		}
	}
}

func (s *suite) sassFlow(lat *latencyRow) (*workflow, error) {
	node, err := need("node")
	if err != nil {
		return nil, err
	}
	pkg, err := testenv.InstallNPM(benchSass)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errNoTool)
	}
	dir, err := tempDir("reloadd-bench-sass-")
	if err != nil {
		return nil, err
	}
	scss, public := filepath.Join(dir, "src", "style.scss"), filepath.Join(dir, "public")
	if err := writeTree(dir, map[string]string{"src/style.scss": string(boxSCSS(100)),
		"public/index.html": boxPage(`<link rel="stylesheet" href="/style.css">`, "v")}); err != nil {
		return nil, err
	}
	build := fmt.Sprintf("%s %s %s %s", shq(node), shq(filepath.Join(pkg, "sass.js")), shq(scss), shq(filepath.Join(public, "style.css")))
	return &workflow{name: "Sass", dir: dir, args: []string{"-build", build, "-serve", public, dir}, edits: []workflowEdit{
		{name: ".scss edit", file: scss, content: func(i int) []byte { return boxSCSS(100 + i) }, css: true, needsBuild: true, latency: lat},
	}}, nil
}

func (s *suite) goFlow(css, reload *latencyRow) (*workflow, error) {
	goTool, err := need("go")
	if err != nil {
		return nil, err
	}
	dir, err := tempDir("reloadd-bench-goapp-")
	if err != nil {
		return nil, err
	}
	page := boxPage(`<link rel="stylesheet" href="/static/app.css">`, "{{.}}")
	if err := writeTree(dir, map[string]string{"go.mod": "module example.com/app\n\ngo 1.22\n",
		"main.go": fmt.Sprintf(testenv.GoAppMain, "0"), "templates/index.html": page, "static/app.css": string(boxCSS(100))}); err != nil {
		return nil, err
	}
	appAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return &workflow{name: "Go app", dir: dir, args: []string{"-proxy", "http://" + appAddr + "/",
		"-build", "cd " + shq(dir) + " && " + shq(goTool) + " build -o app .", "-run", shq(filepath.Join(dir, "app")) + " " + appAddr,
		"-build-on", "*.go", dir}, edits: []workflowEdit{
		{name: "CSS edit", file: filepath.Join(dir, "static", "app.css"), content: func(i int) []byte { return boxCSS(100 + i) }, css: true, latency: css},
		{name: ".go edit", file: filepath.Join(dir, "main.go"), content: func(i int) []byte { return fmt.Appendf(nil, testenv.GoAppMain, strconv.Itoa(i)) },
			needsBuild: true, latency: reload, wantVersion: strconv.Itoa},
	}}, nil
}

func (s *suite) hugoFlow() (*workflow, error) {
	hugo, err := need("hugo")
	if err != nil {
		return nil, err
	}
	dir, err := tempDir("reloadd-bench-hugo-")
	if err != nil {
		return nil, err
	}
	if err := writeTree(dir, map[string]string{
		"hugo.toml":          "baseURL = \"http://localhost/\"\ntitle = \"t\"\ndisableKinds = [\"taxonomy\", \"term\", \"RSS\", \"sitemap\"]\n",
		"layouts/index.html": boxPage(`{{ $css := resources.Get "main.scss" | toCSS }}<link rel="stylesheet" href="{{ $css.RelPermalink }}">`, "{{ .Title }}"),
		"content/_index.md":  "---\ntitle: \"0\"\n---\n",
		"assets/main.scss":   string(boxSCSS(100)),
		"public/.keep":       "",
	}); err != nil {
		return nil, err
	}
	return &workflow{name: "Hugo", dir: dir, args: []string{"-build", shq(hugo) + " --quiet -s " + shq(dir), "-serve", filepath.Join(dir, "public"), dir},
		edits: []workflowEdit{
			{name: ".scss edit (Hugo Pipes)", file: filepath.Join(dir, "assets", "main.scss"), content: func(i int) []byte { return boxSCSS(100 + i) }, css: true, needsBuild: true},
			{name: "content edit", file: filepath.Join(dir, "content", "_index.md"), content: func(i int) []byte { return fmt.Appendf(nil, "---\ntitle: \"%d\"\n---\n", i) },
				needsBuild: true, wantVersion: strconv.Itoa},
		}}, nil
}

func (s *suite) expressFlow() (*workflow, error) {
	node, err := need("node")
	if err != nil {
		return nil, err
	}
	pkg, err := testenv.InstallNPM(benchExpress)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errNoTool)
	}
	dir, err := tempDir("reloadd-bench-express-")
	if err != nil {
		return nil, err
	}
	if err := writeTree(dir, map[string]string{"server.js": fmt.Sprintf(benchExpressApp, "0"),
		"views/index.html": boxPage(`<link rel="stylesheet" href="/public/app.css">`, "VERSION"), "public/app.css": string(boxCSS(100))}); err != nil {
		return nil, err
	}
	appAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := strings.Cut(appAddr, ":")
	return &workflow{name: "Express app", dir: dir, args: []string{"-proxy", "http://" + appAddr + "/",
		"-run", "NODE_PATH=" + shq(filepath.Dir(pkg)) + " exec " + shq(node) + " " + shq(filepath.Join(dir, "server.js")) + " " + port,
		"-build-on", "server.js", dir}, edits: []workflowEdit{
		{name: "CSS edit", file: filepath.Join(dir, "public", "app.css"), content: func(i int) []byte { return boxCSS(100 + i) }, css: true},
		{name: "server.js edit", file: filepath.Join(dir, "server.js"), content: func(i int) []byte { return fmt.Appendf(nil, benchExpressApp, strconv.Itoa(i)) },
			needsBuild: true, wantVersion: strconv.Itoa},
	}}, nil
}

// runWorkflow starts reloadd on w, opens its page, runs each edit's
// latency trials (if it has a row) and then its counted edits.
func (s *suite) runWorkflow(ctx context.Context, w *workflow) error {
	var rows []*workflowRow
	for _, e := range w.edits {
		wantBuilds, wantLoads := 0, 1
		if e.needsBuild {
			wantBuilds = 1
		}
		if e.css {
			wantLoads = 0
		}
		r := &workflowRow{setup: w.name, edit: e.name, wantBuilds: wantBuilds, wantLoads: wantLoads}
		rows = append(rows, r)
		s.rep.workflows = append(s.rep.workflows, r)
	}
	d, err := startDaemon(ctx, s.bin, w.args...)
	if err != nil {
		return err
	}
	defer d.stop()
	if _, err := d.waitStatus("the start-up build", reloadLimit, func(st daemonStatus) bool { return st.Build >= 1 }); err != nil {
		return err
	}
	br, err := s.browser()
	if err != nil {
		return err
	}
	t, err := br.newTab()
	if err != nil {
		return err
	}
	defer t.close()
	if _, err := chromedp.Call(t.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `sessionStorage.setItem("loads", String(Number(sessionStorage.getItem("loads") || 0) + 1));`}); err != nil {
		return err
	}
	if err := t.navigate(d.url("/"), reloadLimit); err != nil {
		return err
	}
	if err := t.waitJS(connectedJS, reloadLimit); err != nil {
		return err
	}
	gen := 1
	for k, e := range w.edits {
		if e.latency != nil {
			var samples []time.Duration
			var missed, reloads int
			var overhead []time.Duration
			if e.css {
				res, over, err := s.styleTrials(ctx, d, t, e.file, e.content, &gen)
				samples, missed, reloads, overhead = res.page, res.missed, res.reloads, over
				if err != nil {
					return err
				}
			} else {
				res, over, err := s.versionTrials(ctx, d, t, e, &gen)
				samples, missed, overhead = res.page, res.missed, over
				if err != nil {
					return err
				}
			}
			e.latency.samples, e.latency.missed = samples, missed
			if reloads > 0 {
				e.latency.note = fmt.Sprintf("%d trials reloaded the page instead", reloads)
			}
			if e.needsBuild {
				e.latency.note = joinNotes(e.latency.note, "build p50 "+fmtMS(buildP50(d))+" ms (reloadd's duration_ms)")
			}
			if len(overhead) > 0 {
				st := summarize(overhead)
				e.latency.note = joinNotes(e.latency.note, fmt.Sprintf("latency less the trial's own build: p50 %s, p90 %s ms", fmtMS(st.p50), fmtMS(st.p90)))
			}
		}
		if err := s.countEdits(ctx, d, t, w, e, rows[k], &gen); err != nil {
			return err
		}
	}
	return nil
}

// buildP50 is the median duration_ms of the builds reloadd ran (the
// start-up build left out).
func buildP50(d *daemon) time.Duration {
	var ds []time.Duration
	d.log.mu.Lock()
	for _, ev := range d.log.events {
		if ev["event"] == "build_complete" && ev["built"] == true && ev["build"] != float64(1) {
			if ms, ok := ev["duration_ms"].(float64); ok {
				ds = append(ds, msDuration(ms))
			}
		}
	}
	d.log.mu.Unlock()
	return summarize(ds).p50
}

// styleTrials writes file per trial and measures until #box has the new
// width, checking that the page did not reload. overhead is, per sample
// with a build, the latency less that build's own duration (duration_ms).
func (s *suite) styleTrials(ctx context.Context, d *daemon, t *tab, file string, content func(int) []byte, gen *int) (res cssResult, overhead []time.Duration, err error) {
	var marks []int
	res, err = s.widthTrials(ctx, t, func(int) (int, func() (time.Time, error)) {
		*gen++
		n := *gen
		marks = append(marks, d.log.mark())
		return 100 + n, func() (time.Time, error) { return writeFile(file, content(n)) }
	})
	for k, i := range res.trial {
		if ms, ok := ownBuild(d, marks[i]); ok {
			overhead = append(overhead, res.page[k]-msDuration(ms))
		}
	}
	return res, overhead, err
}

// versionTrials writes the edit per trial and measures until the page
// reloaded with the new version. overhead is as for styleTrials.
func (s *suite) versionTrials(ctx context.Context, d *daemon, t *tab, e workflowEdit, gen *int) (res htmlResult, overhead []time.Duration, err error) {
	for i := range s.cfg.warmup + s.cfg.trials {
		if err := sleepCtx(ctx, gap(browserGapMin, browserGapSpan)); err != nil {
			return res, overhead, err
		}
		*gen++
		want := e.wantVersion(*gen)
		t.drain()
		mark := d.log.mark()
		t0, err := writeFile(e.file, e.content(*gen))
		if err != nil {
			return res, overhead, err
		}
		sample, err := t.awaitReload(t0, reloadLimit, func() (bool, error) {
			v, err := eval[string](t.ctx, `(document.getElementById("v") || {}).textContent || ""`)
			return err == nil && v == want, nil
		})
		switch {
		case errors.Is(err, errNoReload):
			res.missed++
		case err != nil:
			return res, overhead, fmt.Errorf("trial %d: %w\n%s", i, err, d.log.tail())
		case i >= s.cfg.warmup:
			res.page = append(res.page, sample.page)
			if ms, ok := ownBuild(d, mark); ok {
				overhead = append(overhead, sample.page-msDuration(ms))
			}
		}
		if err := t.waitJS(connectedJS, reloadLimit); err != nil {
			return res, overhead, err
		}
	}
	return res, overhead, nil
}

// ownBuild is the duration_ms of the first build after mark.
func ownBuild(d *daemon, mark int) (float64, bool) {
	for _, ev := range d.log.since(mark) {
		if ev["event"] == "build_complete" {
			ms, ok := ev["duration_ms"].(float64)
			return ms, ok && ev["built"] == true
		}
	}
	return 0, false
}

// countEdits makes the row's edits one at a time; after each it waits for
// its effect in the tab, then until reloadd has been quiet for
// quietAfterEdit, and counts what the edit caused.
func (s *suite) countEdits(ctx context.Context, d *daemon, t *tab, w *workflow, e workflowEdit, row *workflowRow, gen *int) error {
	n := 5
	if s.cfg.quick {
		n = 1
	}
	for range n {
		if err := t.waitJS(connectedJS, reloadLimit); err != nil {
			return err
		}
		if err := sleepCtx(ctx, gap(browserGapMin, browserGapSpan)); err != nil {
			return err
		}
		loads0, err := eval[string](t.ctx, `sessionStorage.getItem("loads")`)
		if err != nil {
			return err
		}
		mark := d.log.mark()
		*gen++
		if _, err := writeFile(e.file, e.content(*gen)); err != nil {
			return err
		}
		effect := fmt.Sprintf(`getComputedStyle(document.getElementById("box")).width === "%dpx"`, 100+*gen)
		if !e.css {
			effect = fmt.Sprintf(`(document.getElementById("v") || {}).textContent === %q`, e.wantVersion(*gen))
		}
		if err := t.waitJS(effect, reloadLimit); err != nil {
			return fmt.Errorf("%s: %w\n%s", e.name, err, d.log.tail())
		}
		if err := d.log.waitQuiet(ctx, quietAfterEdit); err != nil {
			return err
		}
		if err := t.waitJS(connectedJS, reloadLimit); err != nil {
			return err
		}
		loads1, err := eval[string](t.ctx, `sessionStorage.getItem("loads")`)
		if err != nil {
			return err
		}
		a, _ := strconv.Atoi(loads0)
		b, _ := strconv.Atoi(loads1)
		row.edits++
		row.loads += b - a
		builds := 0
		for _, ev := range d.log.since(mark) {
			switch {
			case ev["event"] == "build_complete" && ev["built"] == true:
				builds++
				if builds > row.wantBuilds {
					// Say what the extra build was for.
					row.note = joinNotes(row.note, fmt.Sprintf("extra build for %s", shortPaths(ev["paths"], w.dir)))
				}
			case ev["event"] == "output" && strings.Contains(fmt.Sprint(ev["line"]), "app: listening"):
				row.restarts++
			}
		}
		row.builds += builds
	}
	return nil
}

// shortPaths renders a build's paths relative to dir.
func shortPaths(v any, dir string) string {
	var out []string
	list, _ := v.([]any)
	for _, p := range list {
		s := fmt.Sprint(p)
		if r, err := filepath.Rel(dir, s); err == nil {
			s = r
		}
		out = append(out, s)
	}
	return strings.Join(out, ", ")
}
