package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/internal/testenv"
)

// Issue 16 findings 1–3 with sh builds: what the browser is told after a
// build comes from what changed in the served tree; a build's outputs never
// trigger another build; -build-on keeps other changes from building.

// buildSite is a project whose build copies src/ into public/ (served).
type buildSite struct {
	root, src, public string
}

func newBuildSite(t *testing.T) buildSite {
	t.Helper()
	root := t.TempDir()
	s := buildSite{root: root, src: filepath.Join(root, "src"), public: filepath.Join(root, "public")}
	must(t, os.MkdirAll(s.src, 0o755))
	must(t, os.MkdirAll(s.public, 0o755))
	writeFile(t, filepath.Join(s.src, "index.html"), `<!doctype html><html><head><link rel="stylesheet" href="/style.css"></head><body><h1 id="title">one</h1></body></html>`)
	writeFile(t, filepath.Join(s.src, "style.css"), "h1 { color: blue }")
	writeFile(t, filepath.Join(s.src, "notes.txt"), "not published")
	return s
}

// copyBuild copies the site's pages and stylesheets into public/ (cp -p is
// not used: every build rewrites every output, as generators do).
func (s buildSite) copyBuild() string {
	return fmt.Sprintf("cp %s/*.html %s/*.css %s/", shq(s.src), shq(s.src), shq(s.public))
}

// expectBuild waits for build_start id and returns its paths.
func expectBuildStart(t *testing.T, ws *wsLog, id int) []string {
	t.Helper()
	m, _ := ws.expect(fmt.Sprintf("build_start %d", id), isBuild("build_start", id))
	var paths []string
	for _, p := range m["paths"].([]any) {
		paths = append(paths, p.(string))
	}
	return paths
}

func strs(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// TestBuildOutputStylesheetSwaps: the saved file is a source outside the
// served directory; the build's output there is a stylesheet only, so the
// browser swaps it (it used to reload: only sources under the served
// directory were considered). A page change reloads, with exact urls; a
// save that changes no output tells the browser nothing to do.
func TestBuildOutputStylesheetSwaps(t *testing.T) {
	s := newBuildSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), "-build", s.copyBuild(), "-serve", s.public, s.src)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)

	writeFile(t, filepath.Join(s.src, "style.css"), "h1 { color: red }")
	m, _ := ws.expect("build_complete 2", isBuild("build_complete", 2))
	if m["action"] != hub.ActionSwap || !slices.Equal(strs(m["urls"]), []string{"/style.css"}) || m["css_only"] != true {
		t.Errorf("a stylesheet output: %v, want a swap of /style.css", m)
	}

	writeFile(t, filepath.Join(s.src, "index.html"), `<!doctype html><h1 id="title">two</h1>`)
	m, _ = ws.expect("build_complete 3", isBuild("build_complete", 3))
	if m["action"] != hub.ActionReload || !slices.Equal(strs(m["urls"]), []string{"/index.html"}) {
		t.Errorf("a page output: %v, want a reload naming /index.html", m)
	}

	writeFile(t, filepath.Join(s.src, "notes.txt"), "still not published")
	m, _ = ws.expect("build_complete 4", isBuild("build_complete", 4))
	if m["action"] != hub.ActionNone || len(strs(m["urls"])) != 0 {
		t.Errorf("no output changed: %v, want action none", m)
	}
	testenv.Eventually(t, "the terminal line", func() bool {
		return strings.Contains(d.out.String(), "build 4  "+filepath.Join(s.src, "notes.txt")) &&
			strings.Contains(d.out.String(), "nothing visible changed: no reload")
	})
	if st := d.status(t); st["builds"].([]any)[3].(map[string]any)["action"] != hub.ActionNone {
		t.Errorf("status builds: %v", st["builds"])
	}
}

// TestServedDirListedAsDirDoesNotTriggerBuilds: -serve public src public —
// the build's write to public/ used to trigger another build. The next
// build after a save must be the next save's.
func TestServedDirListedAsDirDoesNotTriggerBuilds(t *testing.T) {
	s := newBuildSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), "-build", s.copyBuild(), "-serve", s.public, s.src, s.public)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)
	for i, body := range []string{"h1 { color: red }", "h1 { color: green }"} {
		file := filepath.Join(s.src, "style.css")
		writeFile(t, file, body)
		if got := expectBuildStart(t, ws, i+2); !slices.Equal(got, []string{file}) {
			t.Fatalf("build %d is for %v, want only the save of %s", i+2, got, file)
		}
	}
}

// TestOutputFlagAndHint: a build that writes into a watched directory
// triggers a second build; reloadd says which files and which -output
// would stop it, and with that -output there is no second build.
func TestOutputFlagAndHint(t *testing.T) {
	for _, withOutput := range []bool{false, true} {
		t.Run(fmt.Sprintf("output=%v", withOutput), func(t *testing.T) {
			root := t.TempDir()
			gen := filepath.Join(root, "gen")
			must(t, os.Mkdir(gen, 0o755))
			src := filepath.Join(root, "a.txt")
			writeFile(t, src, "1")
			// The output depends on the sources only: a second build (if
			// any) writes the same bytes, and the echo stops there.
			build := fmt.Sprintf("cat %s > %s", shq(src), shq(filepath.Join(gen, "out.txt")))
			args := []string{"-build", build}
			if withOutput {
				args = append(args, "-output", gen)
			}
			d := startDaemon(t, testenv.FreeAddr(t), append(args, root)...)
			ws := dialLog(t, d.addr)
			waitStartupBuild(t, ws)
			if !withOutput {
				// The start-up build's output comes back as build 2, which
				// writes it again (the same bytes: the echo stops there).
				expectBuildStart(t, ws, 2)
				testenv.Eventually(t, "the hint", func() bool {
					return strings.Contains(d.out.String(), "reloadd: build 2 ran only for "+filepath.Join(gen, "out.txt")+
						", which build 1 wrote (and build 2 again): outputs trigger builds; -output "+filepath.Join(gen, "out.txt")+" stops this")
				})
				ws.expect("build_complete 2", isBuild("build_complete", 2))
				writeFile(t, src, "2")
				if got := expectBuildStart(t, ws, 3); !slices.Equal(got, []string{src}) {
					t.Fatalf("build 3: %v", got)
				}
				expectBuildStart(t, ws, 4) // the echo again
				return
			}
			writeFile(t, src, "2")
			if got := expectBuildStart(t, ws, 2); !slices.Equal(got, []string{src}) {
				t.Fatalf("build 2 is for %v, want the save", got)
			}
			// Saved again during build 2 (build 3 is for it, and not a
			// build's echo: no hint).
			writeFile(t, src, "3")
			if got := expectBuildStart(t, ws, 3); !slices.Equal(got, []string{src}) {
				t.Fatalf("build 3 is for %v, want the second save (the output triggered a build)", got)
			}
			ws.expect("build_complete 3", isBuild("build_complete", 3))
			writeFile(t, src, "4")
			if got := expectBuildStart(t, ws, 4); !slices.Equal(got, []string{src}) {
				t.Fatalf("build 4 is for %v, want the third save", got)
			}
			ws.expect("build_complete 4", isBuild("build_complete", 4))
			if strings.Contains(d.out.String(), "-output") {
				t.Errorf("a hint for a save:\n%s", d.out)
			}
		})
	}
}

// TestBuildOnSkipsBuildAndRestart: behind -proxy with -run, a change that
// matches no -build-on glob neither builds nor restarts the app: browsers
// swap the stylesheet by file name. A matching change restarts the app and
// reloads.
func TestBuildOnSkipsBuildAndRestart(t *testing.T) {
	root := t.TempDir()
	body := filepath.Join(root, "body.txt")
	css := filepath.Join(root, "static", "app.css")
	must(t, os.MkdirAll(filepath.Dir(css), 0o755))
	writeFile(t, body, "v1")
	writeFile(t, css, "h1 { color: blue }")
	appAddr := testenv.FreeAddr(t)
	proxy, _ := url.Parse("http://" + appAddr + "/")
	d := startDaemonProxy(t, testenv.FreeAddr(t), proxy, "-run", appCommand(t, appAddr, body, 0), "-build-on", "*.txt", root)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)
	starts := func() int { return strings.Count(d.out.String(), "app: starting") }
	if n := starts(); n != 1 {
		t.Fatalf("app started %d times at start-up", n)
	}

	writeFile(t, css, "h1 { color: red }")
	m, skipped := ws.expect("build_complete 2", isBuild("build_complete", 2))
	if m["action"] != hub.ActionSwap || !slices.Equal(strs(m["names"]), []string{"app.css"}) {
		t.Errorf("a stylesheet behind -proxy: %v, want a swap by the name app.css", m)
	}
	for _, s := range skipped {
		if s["type"] == "build_start" {
			t.Errorf("a change that needs no build announced a build: %v", s)
		}
	}
	testenv.Eventually(t, "the terminal line", func() bool {
		return regexp.MustCompile(`build 2  ` + regexp.QuoteMeta(css) + `  .* = [0-9.]+ ms  \(1 client, no build \(-build-on\), css swap`).MatchString(d.out.String())
	})
	if n := starts(); n != 1 {
		t.Errorf("a stylesheet change restarted the app (%d starts)", n)
	}

	writeFile(t, body, "v2")
	m, _ = ws.expect("build_complete 3", isBuild("build_complete", 3))
	if m["action"] != hub.ActionReload {
		t.Errorf("a -build-on change: %v, want a reload", m)
	}
	if n := starts(); n != 2 {
		t.Errorf("the app started %d times, want 2", n)
	}
	if got := getTitle(t, d.addr); got != "v2" {
		t.Errorf("the app serves %q after the restart", got)
	}
	st := d.status(t)
	builds := st["builds"].([]any)
	if b := builds[1].(map[string]any); b["built"] != false || b["action"] != hub.ActionSwap {
		t.Errorf("status of the change without a build: %v", b)
	}
	if b := builds[2].(map[string]any); b["built"] != true {
		t.Errorf("status of the build: %v", b)
	}
}

// TestGoBuildOutputDoesNotTriggerABuild: -build 'go build -o app .' wrote
// app into the watched directory, which used to trigger a second build
// (and a second restart) after every save.
func TestGoBuildOutputDoesNotTriggerABuild(t *testing.T) {
	goTool := testenv.Need(t, "go")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/hello\n\ngo 1.22\n")
	writeFile(t, filepath.Join(dir, "main.go"), "package main\n\nfunc main() { println(1) }\n")
	t.Chdir(dir)
	d := startDaemon(t, testenv.FreeAddr(t), "-build", shq(goTool)+" build -o app .", dir)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)
	for i, v := range []string{"2", "3"} {
		main := filepath.Join(dir, "main.go")
		writeFile(t, main, "package main\n\nfunc main() { println("+v+") }\n")
		if got := expectBuildStart(t, ws, i+2); !slices.Equal(got, []string{main}) {
			t.Fatalf("build %d is for %v, want the save of main.go (app triggered a build)", i+2, got)
		}
		ws.expect("build_complete", isBuild("build_complete", i+2))
	}
}

// TestEndlessOutputLoopIsNamed: a build whose output, in a watched
// directory, differs every time builds forever; after a few rounds
// reloadd names the file and the -output that stops it.
func TestEndlessOutputLoopIsNamed(t *testing.T) {
	root := t.TempDir()
	stamp := filepath.Join(root, "stamp")
	d := startDaemon(t, testenv.FreeAddr(t), "-build", "date +%s%N > "+shq(stamp), root)
	testenv.Eventually(t, "the hint", func() bool {
		return strings.Contains(d.out.String(), "ran only for "+stamp+", which build") &&
			strings.Contains(d.out.String(), "-output "+stamp+" stops this")
	})
	d.stop(t)
	if n := strings.Count(d.out.String(), "reloadd: build"); n != 1 {
		t.Errorf("the hint was printed %d times, want once:\n%s", n, d.out)
	}
}
