package serve

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reloadd/reloadd/internal/testenv"
)

// result is a response with its body read.
type result struct {
	resp *http.Response
	body string
	err  error
}

// start sends a request through the proxy in the background.
func (e *proxyEnv) start(method, path string, header http.Header) <-chan result {
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(method, "http://"+e.host+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := e.client.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp, string(b), err}
	}()
	return done
}

// await returns the result of a request, failing the test if it has not
// come within testenv.WaitLimit (the proxy waited for the app).
func await(t *testing.T, what string, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("%s: %v", what, r.err)
		}
		return r
	case <-time.After(testenv.WaitLimit):
		t.Fatalf("%s: no answer within %v: the proxy is waiting for an app it was told is down", what, testenv.WaitLimit)
	}
	panic("unreachable")
}

type probeAnswer struct {
	Up    bool
	State string
	Error string
}

func (e *proxyEnv) probe(t *testing.T) (int, probeAnswer) {
	t.Helper()
	r := await(t, "GET "+UpstreamPath, e.start("GET", UpstreamPath, nil))
	var p probeAnswer
	if err := json.Unmarshal([]byte(r.body), &p); err != nil {
		t.Fatalf("probe answered %q: %v", r.body, err)
	}
	return r.resp.StatusCode, p
}

// TestProxyAppKnownDown: once the daemon says the app is down (it exited,
// or the build it needs failed), requests are answered at once with the
// waiting page, however long the proxy would wait for a starting app.
func TestProxyAppKnownDown(t *testing.T) {
	addr := testenv.FreeAddr(t)
	e := newProxyEnv(t, "http://"+addr, ProxyOptions{Wait: time.Hour})
	if s, _ := e.p.AppState(); s != AppStarting {
		t.Fatalf("initial state %v, want starting", s)
	}

	e.p.SetAppState(AppDown, "exited with status 1")
	r := await(t, "navigation with the app down", e.start("GET", "/some/page", navigation))
	if r.resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(r.resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("navigation = %d %s", r.resp.StatusCode, r.resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`id="reloadd-waiting"`, `data-status="503"`, "not running", "exited with status 1", UpstreamPath} {
		if !strings.Contains(r.body, want) {
			t.Errorf("waiting page lacks %q:\n%s", want, r.body)
		}
	}
	if n := strings.Count(r.body, ClientPath); n != 1 {
		t.Errorf("waiting page has the client %d times", n)
	}
	r = await(t, "fetch with the app down", e.start("GET", "/api", http.Header{"Sec-Fetch-Dest": {"empty"}}))
	if r.resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, "exited with status 1") {
		t.Errorf("fetch = %d %q", r.resp.StatusCode, r.body)
	}
	if code, p := e.probe(t); code != http.StatusServiceUnavailable || p.Up || p.State != "down" || !strings.Contains(p.Error, "exited with status 1") {
		t.Errorf("probe = %d %+v", code, p)
	}
	if n := e.p.dials.Load(); n != 0 {
		t.Errorf("%d connection attempts to an app known to be down", n)
	}

	// A request waiting for a starting app is answered as soon as the
	// app is reported down.
	e.p.SetAppState(AppStarting, "")
	waiting := e.start("GET", "/", navigation)
	testenv.Eventually(t, "the request to wait for the app", func() bool { return e.p.dials.Load() >= 2 })
	e.p.SetAppState(AppDown, "the start-up build failed")
	r = await(t, "the waiting request", waiting)
	if r.resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, "the start-up build failed") {
		t.Errorf("waiting request = %d %q", r.resp.StatusCode, r.body)
	}

	// Starting again, and up: requests go through.
	e.p.SetAppState(AppStarting, "")
	serveAt(t, addr, helloApp)
	if code, p := e.probe(t); code != 200 || !p.Up || p.State != "starting" {
		t.Errorf("probe with the app back = %d %+v", code, p)
	}
	e.p.SetAppState(AppUp, "")
	r = await(t, "navigation with the app up", e.start("GET", "/", navigation))
	if r.resp.StatusCode != 200 || !strings.Contains(r.body, "hello from the app") {
		t.Errorf("with the app up = %d %q", r.resp.StatusCode, r.body)
	}
	// The daemon reported all of it: no line of the proxy's.
	if log := e.log.String(); strings.Contains(log, "not answering") || strings.Contains(log, "answering again") {
		t.Errorf("the proxy reported what the daemon knew:\n%s", log)
	}
}

// TestProxyAppUpEndsTheProxysEpisode: an app that took longer than the
// wait to start is reported by the proxy; the daemon's "ready" (AppUp)
// ends that without a second line from the proxy.
func TestProxyAppUpEndsTheProxysEpisode(t *testing.T) {
	addr := testenv.FreeAddr(t)
	e := newProxyEnv(t, "http://"+addr, ProxyOptions{Wait: 20 * time.Millisecond})
	if r := await(t, "navigation", e.start("GET", "/", navigation)); r.resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.body, "not answering") {
		t.Fatalf("navigation before the app started = %d %q", r.resp.StatusCode, r.body)
	}
	if !strings.Contains(e.log.String(), "not answering") {
		t.Errorf("the proxy did not report the app not answering:\n%s", e.log)
	}
	serveAt(t, addr, helloApp)
	e.p.SetAppState(AppUp, "")
	if r := await(t, "navigation", e.start("GET", "/", navigation)); r.resp.StatusCode != 200 {
		t.Errorf("navigation with the app up = %d", r.resp.StatusCode)
	}
	if strings.Contains(e.log.String(), "answering again") {
		t.Errorf("the proxy repeated the daemon's 'ready':\n%s", e.log)
	}
}

// TestProxyBrowserAppKnownDown: in Chromium, the waiting page of an app
// known to be down reloads by itself once the app is back.
func TestProxyBrowserAppKnownDown(t *testing.T) {
	ctx := testenv.Chromium(t)
	addr := testenv.FreeAddr(t)
	e := newProxyEnv(t, "http://"+addr, ProxyOptions{Wait: time.Hour})
	e.p.SetAppState(AppDown, "exited with status 2")

	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+e.host+"/")); err != nil {
		t.Fatalf("navigate with the app down: %v", err)
	}
	testenv.WaitJS(t, ctx, `!!document.getElementById("reloadd-waiting")`)
	text, err := testenv.EvalString(ctx, `document.body.innerText`)
	if err != nil || !strings.Contains(text, "not running") || !strings.Contains(text, "exited with status 2") {
		t.Errorf("waiting page says %q (%v)", text, err)
	}

	e.p.SetAppState(AppStarting, "")
	startApp(t, addr)
	e.p.SetAppState(AppUp, "")
	testenv.WaitJS(t, ctx, `(document.getElementById("title") || {}).textContent === "app" && !!window.__reloadd`)
}
