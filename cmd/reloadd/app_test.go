package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
)

// getTitle fetches the app's page once, without retrying, and returns its
// #title text.
func getTitle(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("the app does not answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	s := string(b)
	i := strings.Index(s, `<h1 id="title">`)
	j := strings.Index(s, "</h1>")
	if i < 0 || j < i {
		t.Fatalf("app page: %q", s)
	}
	return s[i+len(`<h1 id="title">`) : j]
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(content), 0o644))
}

// waitStartupBuild waits until build 1 has completed, whether the client
// connected before (it gets build_complete) or after (hello says so).
func waitStartupBuild(t *testing.T, ws *wsLog) {
	t.Helper()
	hello, _ := ws.expect("hello", isType("hello"))
	if hello["build"] != float64(1) {
		ws.expect("build_complete 1", isBuild("build_complete", 1))
	}
}

// appProject is a project with a -run app: src/version is the source the
// build copies to out/version, which the app serves from appAddr (proxy).
type appProject struct {
	src, version, built, appAddr string
	proxy                        *url.URL
}

func newAppProject(t *testing.T) appProject {
	t.Helper()
	root := t.TempDir()
	p := appProject{src: filepath.Join(root, "src"), appAddr: testenv.FreeAddr(t)}
	out := filepath.Join(root, "out")
	must(t, os.Mkdir(p.src, 0o755))
	must(t, os.Mkdir(out, 0o755))
	p.version, p.built = filepath.Join(p.src, "version"), filepath.Join(out, "version")
	writeFile(t, p.version, "v1")
	p.proxy, _ = url.Parse("http://" + p.appAddr + "/")
	return p
}

func TestRunWithProxyAnnouncesBuildsOnlyOnceTheAppAccepts(t *testing.T) {
	p := newAppProject(t)
	src, version, built, appAddr, proxy := p.src, p.version, p.built, p.appAddr, p.proxy
	buildCmd := `if grep -q bad ` + shq(version) + `; then echo "build: bad <version> & worse"; exit 2; fi; cp ` + shq(version) + ` ` + shq(built)
	// The app takes 300 ms to listen: without the wait, build_complete
	// would arrive long before it accepts.
	d := startDaemonProxy(t, testenv.FreeAddr(t), proxy,
		"-build", buildCmd, "-run", appCommand(t, appAddr, built, 300*time.Millisecond), src)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)
	if got := getTitle(t, appAddr); got != "v1" {
		t.Errorf("after the start-up build the app serves %q, want v1", got)
	}

	// A change: the old app is stopped, the new one started, and
	// build_complete only comes once the new one accepts.
	writeFile(t, version, "v2")
	ws.expect("build_complete 2", isBuild("build_complete", 2))
	if got := getTitle(t, appAddr); got != "v2" {
		t.Errorf("at build_complete the app serves %q, want v2", got)
	}
	// The save line says how long the app took to accept connections.
	appLine := regexp.MustCompile(`build 2  \S+  settle [\d.]+ · build [\d.]+ · app ([\d.]+) · send [\d.]+ = [\d.]+ ms  \(1 client\)`)
	testenv.Eventually(t, "the save line of build 2", func() bool { return strings.Contains(d.out.String(), "build 2  ") })
	if m := appLine.FindStringSubmatch(d.out.String()); m == nil {
		t.Errorf("terminal does not say when the app was ready:\n%s", d.out)
	} else if ready, _ := strconv.ParseFloat(m[1], 64); ready < 300 {
		t.Errorf("app phase %v ms, but the app takes 300 ms to listen", ready)
	}

	// A failing build leaves the running app alone, and the terminal shows
	// the failure once.
	writeFile(t, version, "bad")
	failed, skipped := ws.expect("build_failed 3", isType("build_failed"))
	if failed["build"] != float64(3) || failed["exit_code"] != float64(2) || !strings.Contains(failed["output"].(string), "build: bad <version> & worse") {
		t.Errorf("build_failed = %v", failed)
	}
	for _, m := range skipped {
		if m["type"] == "build_complete" {
			t.Errorf("a build_complete before the failure: %v", m)
		}
	}
	if got := getTitle(t, appAddr); got != "v2" {
		t.Errorf("after a failed build the app serves %q, want the old v2", got)
	}
	testenv.Eventually(t, "the failure line", func() bool { return strings.Contains(d.out.String(), "FAILED") })
	if n := strings.Count(d.out.String(), "build: bad <version> & worse"); n != 1 {
		t.Errorf("the build's error is on the terminal %d times, want once:\n%s", n, d.out)
	}
	if n := strings.Count(d.out.String(), "FAILED"); n != 1 {
		t.Errorf("%d FAILED lines, want 1:\n%s", n, d.out)
	}

	// The app crashes: browsers get build_failed with its last output.
	http.Get("http://" + appAddr + "/crash") // no answer: it exits
	crash, _ := ws.expect("build_failed for the crash", isType("build_failed"))
	out := crash["output"].(string)
	if crash["exit_code"] != float64(4) || !strings.Contains(out, "app: panic: <b>crashed</b> on request") || !strings.Contains(out, "the app exited (exit status 4)") {
		t.Errorf("crash report = %v", crash)
	}
	if crash["build"] != float64(2) {
		t.Errorf("crash reported for build %v, want 2 (the app's build)", crash["build"])
	}
	testenv.Eventually(t, "the crash line", func() bool { return strings.Contains(d.out.String(), "app  the app exited") })

	// An app that exits before it listens fails the build, with its output.
	writeFile(t, version, "exit-before-listen")
	failed, _ = ws.expect("build_failed 4", isBuild("build_failed", 4))
	out = failed["output"].(string)
	if failed["exit_code"] != float64(3) || !strings.Contains(out, "app: fatal: <i>config</i> is broken") || !strings.Contains(out, "exited before accepting connections at "+appAddr) {
		t.Errorf("build_failed = %v", failed)
	}

	// And the next good build brings it back.
	writeFile(t, version, "v5")
	ws.expect("build_complete 5", isBuild("build_complete", 5))
	if got := getTitle(t, appAddr); got != "v5" {
		t.Errorf("at build_complete the app serves %q, want v5", got)
	}
	if n := strings.Count(d.out.String(), "app  the app exited"); n != 1 {
		t.Errorf("the crash is on the terminal %d times, want once:\n%s", n, d.out)
	}
}

func TestRunReadinessTimeout(t *testing.T) {
	old := readyTimeout
	readyTimeout = time.Second
	t.Cleanup(func() { readyTimeout = old })
	src := t.TempDir()
	body := filepath.Join(src, "body")
	writeFile(t, body, "never-listen")
	appAddr := testenv.FreeAddr(t)
	proxy, _ := url.Parse("http://" + appAddr)
	d := startDaemonProxy(t, testenv.FreeAddr(t), proxy, "-run", appCommand(t, appAddr, body, 0), src)
	ws := dialLog(t, d.addr)
	ws.expect("hello", isType("hello"))
	failed, _ := ws.expect("build_failed 1", isBuild("build_failed", 1))
	out := failed["output"].(string)
	if !strings.Contains(out, "did not accept connections at "+appAddr+" within 1s") || !strings.Contains(out, "app: not listening today") {
		t.Errorf("build_failed output = %q, want the reason and the app's output", out)
	}
}

func TestRunWithoutBuildStartsAtOnceAndRestartsOnChange(t *testing.T) {
	src := t.TempDir()
	body := filepath.Join(src, "body")
	writeFile(t, body, "one")
	appAddr := testenv.FreeAddr(t)
	proxy, _ := url.Parse("http://" + appAddr)
	d := startDaemonProxy(t, testenv.FreeAddr(t), proxy, "-run", appCommand(t, appAddr, body, 50*time.Millisecond), src)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)
	if got := getTitle(t, appAddr); got != "one" {
		t.Errorf("app serves %q, want one", got)
	}
	writeFile(t, body, "two")
	ws.expect("build_complete 2", isBuild("build_complete", 2))
	if got := getTitle(t, appAddr); got != "two" {
		t.Errorf("app serves %q after a change, want two (restarted)", got)
	}
	// The old app was stopped gracefully.
	if !strings.Contains(d.out.String(), "app: bye") {
		t.Errorf("the old app did not get a graceful stop:\n%s", d.out)
	}
}

func TestProxyDialAddr(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://127.0.0.1:3000/", "127.0.0.1:3000"},
		{"http://localhost/app", "localhost:80"},
		{"https://example.test", "example.test:443"},
		{"http://[::1]:8080", "[::1]:8080"},
		{"http://[::1]", "[::1]:80"},
	}
	for _, tc := range tests {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := proxyDialAddr(u); got != tc.want {
			t.Errorf("proxyDialAddr(%s) = %s, want %s", tc.url, got, tc.want)
		}
	}
}

func TestNoteKeepsTheOverlayWithin64KiB(t *testing.T) {
	if got := note("the app exited (exit status 1)", ""); got != "reloadd: the app exited (exit status 1)\n" {
		t.Errorf("note without output = %q", got)
	}
	out := "é" + strings.Repeat("x", 70<<10) + "\nlast line\n"
	got := note("why", out)
	if len(got) > 64<<10 || !strings.HasPrefix(got, "reloadd: why\n\n") || !strings.HasSuffix(got, "x\nlast line\n") {
		t.Errorf("note: %d bytes, starts %q, ends %q", len(got), got[:20], got[len(got)-20:])
	}
}
