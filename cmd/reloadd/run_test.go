package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/debounce"
	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role)) // re-executed as the real command or a test app (roles_test.go)
	}
	goleak.VerifyTestMain(m,
		// chromedp's browser plumbing winds down just after its context.
		goleak.IgnoreTopFunction("github.com/chromedp/chromedp.(*Browser).run"),
	)
}

// daemonProc is a reloadd run in-process.
type daemonProc struct {
	addr   string
	out    *testenv.Buffer
	cancel context.CancelFunc
	done   chan error
}

// startDaemon runs reloadd with args (plus -addr addr) and waits until it
// answers HTTP.
func startDaemon(t *testing.T, addr string, args ...string) *daemonProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemonProc{addr: addr, out: &testenv.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	stderr := &testenv.Buffer{}
	go func() {
		d.done <- run(ctx, append([]string{"-addr", addr}, args...), d.out, stderr)
	}()
	testenv.Eventually(t, "reloadd to answer on "+addr, func() bool {
		select {
		case err := <-d.done:
			t.Fatalf("reloadd exited early: %v\n%s%s", err, d.out, stderr)
		default:
		}
		resp, err := http.Get("http://" + addr + "/_reloadd/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop cancels the daemon and waits for run to return nil.
func (d *daemonProc) stop(t *testing.T) {
	t.Helper()
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("run returned %v after cancel", err)
		}
	case <-time.After(testenv.WaitLimit):
		t.Fatal("reloadd did not stop")
	}
}

func (d *daemonProc) status(t *testing.T) map[string]any {
	t.Helper()
	resp, err := http.Get("http://" + d.addr + "/_reloadd/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (d *daemonProc) dial(t *testing.T) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+d.addr+"/_reloadd/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readMsg(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
	var m map[string]any
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// readType reads messages until one of type typ arrives.
func readType(t *testing.T, c *websocket.Conn, typ string) map[string]any {
	t.Helper()
	for {
		if m := readMsg(t, c); m["type"] == typ {
			return m
		}
	}
}

func newSite(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "css"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte(`<!doctype html><html><head><title>t</title><link rel="stylesheet" href="/css/site.css"></head><body><h1 id="title">one</h1></body></html>`), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "css", "site.css"), []byte("h1 { color: rgb(0, 0, 255); }\n"), 0o644))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestParseFlagsRejectsBadInput(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-watch", "sometimes"}, "-watch"},
		{[]string{"-on-busy", "panic"}, "-on-busy"},
		{[]string{"-log", "xml"}, "-log"},
		{[]string{"-debounce", "-1s"}, "-debounce"},
		{[]string{"-debounce", "soon"}, "-debounce"},
		{[]string{"-debounce", "10"}, "needs a unit: 10ms"},
		{[]string{"-buidl", "true"}, "did you mean -build?"},
		{[]string{"-serv", "x"}, "did you mean -serve?"},
		{[]string{"-zzzzzz"}, "unknown flag -zzzzzz"},
		{[]string{"-poll-interval", "0"}, "-poll-interval"},
		{[]string{"-grace", "-1s"}, "-grace"},
		{[]string{"-build-timeout", "-5s"}, "-build-timeout"},
		{[]string{"-addr", "nowhere"}, "-addr"},
		{[]string{"-proxy", "ftp://x"}, "-proxy"},
		{[]string{"-proxy", "http://127.0.0.1:1", "-serve", "."}, "exclude"},
		{[]string{"-allow-host", "a b"}, "-allow-host"},
		{[]string{"-nosuchflag"}, "unknown flag -nosuchflag"},
	}
	for _, tc := range tests {
		var stderr bytes.Buffer
		_, err := parseFlags(tc.args, &stderr)
		var ue *usageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: err = %v, want a usage error", tc.args, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %q, want it to mention %q", tc.args, err, tc.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error is not one line: %q", tc.args, err)
		}
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	c, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:35729" || c.watch != "auto" || c.debounce != 10*time.Millisecond ||
		c.pollInterval != 100*time.Millisecond || c.grace != 3*time.Second || !slices.Equal(c.dirs, []string{"."}) {
		t.Errorf("defaults = %+v", c)
	}
	if c.debounceSet {
		t.Error("-debounce counted as given")
	}
	if c, err := parseFlags([]string{"-debounce", "10ms"}, &bytes.Buffer{}); err != nil || !c.debounceSet {
		t.Errorf("-debounce 10ms: %+v, %v: want a fixed window", c, err)
	}
	if c, err := parseFlags([]string{".", "-debounce", "10ms"}, &bytes.Buffer{}); err != nil || !c.debounceSet {
		t.Errorf("-debounce after DIR: %+v, %v: want a fixed window", c, err)
	}
	var help bytes.Buffer
	if _, err := parseFlags([]string{"-h"}, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "-build CMD") {
		t.Errorf("-h: %v, printed %q", err, help.String())
	}
	var version bytes.Buffer
	if _, err := parseFlags([]string{"-version"}, &version); !errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(version.String(), "reloadd ") {
		t.Errorf("-version: %v, printed %q", err, version.String())
	}
}

func TestExitCodes(t *testing.T) {
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	stderr := os.Stderr
	os.Stderr = devnull
	defer func() { os.Stderr = stderr }()
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{flag.ErrHelp, 0},
		{usagef("bad"), 2},
		{fmt.Errorf("listen: in use"), 1},
	}
	for _, tc := range tests {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestFatalErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	site := newSite(t)
	file := filepath.Join(site, "index.html")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-addr", "127.0.0.1:0", filepath.Join(site, "missing")}, "no such file or directory"},
		{[]string{"-addr", "127.0.0.1:0", file}, "not a directory"},
		{[]string{"-addr", "127.0.0.1:0", "-serve", filepath.Join(site, "nope"), site}, "serve"},
		{[]string{"-addr", busy.Addr().String(), site}, "address already in use"},
	}
	for _, tc := range tests {
		err := run(context.Background(), tc.args, &bytes.Buffer{}, &bytes.Buffer{})
		var ue *usageError
		if err == nil || errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want a fatal error mentioning %q", tc.args, err, tc.want)
		}
	}
}

func TestSaveReachesWebSocketClient(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), site)
	c := d.dial(t)
	hello := readMsg(t, c)
	if hello["type"] != "hello" || hello["build"] != float64(0) || hello["epoch"] == "" {
		t.Fatalf("hello = %v", hello)
	}
	testenv.Eventually(t, "the client to register", func() bool { return d.status(t)["clients"] == float64(1) })

	before := time.Now().UnixMilli()
	must(t, os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>two</h1>"), 0o644))
	start := readType(t, c, "build_start")
	done := readType(t, c, "build_complete")
	want := []any{filepath.Join(site, "index.html")}
	if !slices.Equal(start["paths"].([]any), want) || !slices.Equal(done["paths"].([]any), want) {
		t.Errorf("paths: start %v, complete %v, want %v", start["paths"], done["paths"], want)
	}
	if !slices.Equal(done["urls"].([]any), []any{"/index.html"}) || done["css_only"] != false {
		t.Errorf("build_complete = %v", done)
	}
	if at := int64(done["changed_at"].(float64)); at < before-1000 || at > time.Now().UnixMilli() {
		t.Errorf("changed_at = %d, not around the write at %d", at, before)
	}
	if done["build"] != float64(1) {
		t.Errorf("build = %v, want 1", done["build"])
	}

	// A CSS-only change says so.
	must(t, os.WriteFile(filepath.Join(site, "css", "site.css"), []byte("h1{}"), 0o644))
	done = readType(t, c, "build_complete")
	if done["css_only"] != true || !slices.Equal(done["urls"].([]any), []any{"/css/site.css"}) {
		t.Errorf("css build_complete = %v", done)
	}
	st := d.status(t)
	if st["build"] != float64(2) || len(st["mounts"].([]any)) != 1 {
		t.Errorf("status = %v", st)
	}
	m := st["mounts"].([]any)[0].(map[string]any)
	for _, k := range []string{"path", "fstype", "mode", "reason"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status mount lacks %q: %v", k, m)
		}
	}
	if !strings.Contains(d.out.String(), "build 2  ") {
		t.Errorf("terminal output lacks the build line:\n%s", d.out)
	}
}

func TestServedPageHasClientInjectedOnce(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), site)
	for _, path := range []string{"/", "/index.html"} {
		resp, err := http.Get("http://" + d.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		if n := strings.Count(b.String(), "/_reloadd/client.js"); n != 1 {
			t.Errorf("%s: client appears %d times:\n%s", path, n, b.String())
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control = %q", path, cc)
		}
	}
	resp, err := http.Get("http://" + d.addr + "/_reloadd/client.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("client.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestJSONLog(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), "-log", "json", site)
	c := d.dial(t)
	readMsg(t, c)
	must(t, os.WriteFile(filepath.Join(site, "index.html"), []byte("x"), 0o644))
	readType(t, c, "build_complete")
	testenv.Eventually(t, "the build line", func() bool { return strings.Contains(d.out.String(), `"build_complete"`) })
	for _, line := range strings.Split(strings.TrimSpace(d.out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not a JSON line: %q", line)
		} else if m["event"] == nil || m["time"] == nil {
			t.Errorf("line lacks event/time: %q", line)
		}
	}
}

func TestCheckPrintsModePerMount(t *testing.T) {
	site := newSite(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-check", site}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{site, "MODE", "REASON", "max_user_watches="} {
		if !strings.Contains(s, want) {
			t.Errorf("-check output lacks %q:\n%s", want, s)
		}
	}
	if !strings.Contains(s, " native ") && !strings.Contains(s, " poll ") && !strings.Contains(s, " hybrid ") {
		t.Errorf("-check output names no mode:\n%s", s)
	}
}

func TestChangedAtIgnoresDroppedEvents(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := debounce.Batch{First: t0}
	tests := []struct {
		events []watcher.Event
		want   time.Time
	}{
		{nil, t0},
		{[]watcher.Event{{Path: "/a", Time: t0.Add(3 * time.Second)}, {Path: "/b", Time: t0.Add(2 * time.Second)}}, t0.Add(2 * time.Second)},
		{[]watcher.Event{{Path: "/a"}}, t0},
	}
	for _, tc := range tests {
		if got := changedAt(b, tc.events); !got.Equal(tc.want) {
			t.Errorf("changedAt(%v) = %v, want %v", tc.events, got, tc.want)
		}
	}
}
