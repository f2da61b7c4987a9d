package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/internal/testenv"
)

// get sends a request with the given Host and Origin headers ("" for none).
func get(t *testing.T, method, url, host, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// dialWS tries a WebSocket handshake with the given Host and Origin.
func dialWS(addr, path, host, origin string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if host != "" {
		h.Set("Host", host)
	}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.DefaultDialer.Dial("ws://"+addr+path, h)
}

var routes = []string{"/", "/index.html", "/css/site.css", "/_reloadd/client.js", "/_reloadd/status", "/_reloadd/", "/livereload.js"}

func TestForeignHostIsRefused(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), "-allow-host", "devbox.lan", site)
	_, port, _ := strings.Cut(d.addr, ":")
	for _, host := range []string{"evil.example:" + port, "localhost.evil.example", "127.0.0.1.nip.io:" + port} {
		for _, path := range routes {
			if resp := get(t, "GET", "http://"+d.addr+path, host, ""); resp.StatusCode != http.StatusForbidden {
				t.Errorf("Host %s GET %s: %s, want 403", host, path, resp.Status)
			}
		}
		for _, path := range []string{"/_reloadd/ws", "/_reloadd/ws?dashboard=1", hub.LiveReloadPath} {
			if c, resp, err := dialWS(d.addr, path, host, ""); err == nil {
				c.Close()
				t.Errorf("Host %s: WebSocket %s accepted", host, path)
			} else if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("Host %s: WebSocket %s: %v", host, path, err)
			}
		}
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "devbox.lan:" + port, "DEVBOX.LAN"} {
		for _, path := range routes {
			if resp := get(t, "GET", "http://"+d.addr+path, host, ""); resp.StatusCode != http.StatusOK {
				t.Errorf("Host %s GET %s: %s, want 200", host, path, resp.Status)
			}
		}
	}
	// An -allow-host name may also be the page's origin.
	c, _, err := dialWS(d.addr, "/_reloadd/ws", "devbox.lan:"+port, "http://devbox.lan:1313")
	if err != nil {
		t.Fatalf("-allow-host origin refused: %v", err)
	}
	c.Close()
}

func TestCrossOriginWebSocketIsRefused(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), site)
	tests := []struct {
		path, origin string
		ok           bool
	}{
		{"/_reloadd/ws", "", true},
		{"/_reloadd/ws", "http://localhost:3000", true},
		{"/_reloadd/ws", "http://" + d.addr, true},
		{"/_reloadd/ws", "http://evil.example", false},
		{"/_reloadd/ws", "null", false},
		{"/_reloadd/ws", "chrome-extension://jnihajbhpnppcggbcgedagnkighmdlei", false},
		{hub.LiveReloadPath, "http://localhost:3000", true},
		{hub.LiveReloadPath, "chrome-extension://jnihajbhpnppcggbcgedagnkighmdlei", true},
		{hub.LiveReloadPath, "moz-extension://0c9e0f2c-1b0a-4c6e-9d1e-3f3b1d1f1a1a", true},
		{hub.LiveReloadPath, "http://evil.example", false},
	}
	for _, tc := range tests {
		c, resp, err := dialWS(d.addr, tc.path, "", tc.origin)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s from %q refused: %v", tc.path, tc.origin, err)
		case !tc.ok && err == nil:
			t.Errorf("%s from %q accepted", tc.path, tc.origin)
		case !tc.ok && (resp == nil || resp.StatusCode != http.StatusForbidden):
			t.Errorf("%s from %q: %v, want 403", tc.path, tc.origin, err)
		}
		if c != nil {
			c.Close()
		}
	}
}

func TestNoWildcardCORS(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), site)
	for _, path := range append(routes, "/missing", "/_reloadd/ws", hub.LiveReloadPath) {
		for _, method := range []string{"GET", "OPTIONS"} {
			for _, origin := range []string{"http://evil.example", "http://localhost:3000"} {
				resp := get(t, method, "http://"+d.addr+path, "", origin)
				if v := resp.Header.Values("Access-Control-Allow-Origin"); len(v) > 0 {
					t.Errorf("%s %s from %s: Access-Control-Allow-Origin %q", method, path, origin, v)
				}
			}
		}
	}
}

func TestLiveReloadProtocolEndToEnd(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), site)

	// /livereload.js is reloadd's own client.
	resp, err := http.Get("http://" + d.addr + "/livereload.js")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "window.__reloadd") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Errorf("/livereload.js: %s %q", resp.Header.Get("Content-Type"), body[:min(len(body), 80)])
	}

	c, _, err := dialWS(d.addr, hub.LiveReloadPath, "", "chrome-extension://abc")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteJSON(map[string]any{"command": "hello", "protocols": []string{"http://livereload.com/protocols/official-6", hub.ProtocolV7}})
	if m := readMsg(t, c); m["command"] != "hello" || !reflect.DeepEqual(m["protocols"], []any{hub.ProtocolV7}) {
		t.Fatalf("hello = %v", m)
	}
	testenv.Eventually(t, "the client to register", func() bool { return d.status(t)["clients"] == float64(1) })
	must(t, os.WriteFile(filepath.Join(site, "css", "site.css"), []byte("h1 { color: red }"), 0o644))
	if m := readMsg(t, c); m["command"] != "reload" || m["path"] != "/css/site.css" || m["liveCSS"] != true {
		t.Errorf("got %v, want a live CSS reload", m)
	}
	must(t, os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>x</h1>"), 0o644))
	if m := readMsg(t, c); m["command"] != "reload" || m["path"] != "/index.html" || m["liveCSS"] != false {
		t.Errorf("got %v, want a page reload", m)
	}
}

func TestTimingReportIsPrintedAndCounted(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), site)
	c := d.dial(t)
	readMsg(t, c)
	testenv.Eventually(t, "the client to register", func() bool { return d.status(t)["clients"] == float64(1) })

	must(t, os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>two</h1>"), 0o644))
	done := readType(t, c, "build_complete")
	arrived := time.Now()
	build := int64(done["build"].(float64))
	changed := int64(done["changed_at"].(float64))
	// What the client sends after the reload, measured with its clock. The
	// hub believes only times that have passed (issue 13), so the report
	// claims what did pass since the message arrived.
	received := float64(arrived.UnixMilli() - changed)
	after := float64(time.Since(arrived).Milliseconds())
	c.WriteJSON(hub.Reloaded{Type: hub.TypeReloaded, Build: build, Received: received,
		DOMContentLoaded: received + after/2, Load: received + after})
	// A local program is no browser: the save line does not wait for its
	// report. The page's figure is in the save line when the report came
	// before it, else on a line of its own.
	pageShown := func(id int64) bool {
		return regexp.MustCompile(fmt.Sprintf(`build %d  (\S+  .* · page [\d.]+ = [\d.]+ ms  \(1 client\)|page report: page [\d.]+ · total [\d.]+ ms)\n`, id)).MatchString(d.out.String())
	}
	testenv.Eventually(t, "the page's figure on the terminal", func() bool { return pageShown(build) })
	if rec := saveOf(t, d, build); len(rec.Reports) != 1 || rec.Reports[0].Swap != "" || rec.Phases[len(rec.Phases)-1].Name != "page" {
		t.Errorf("save %d = %+v, want the report's page phase", build, rec)
	}

	must(t, os.WriteFile(filepath.Join(site, "css", "site.css"), []byte("h1{}"), 0o644))
	done = readType(t, c, "build_complete")
	swapBuild := int64(done["build"].(float64))
	// A swap measured without "received": the browser's clock since
	// changed_at (here the same machine's), whole milliseconds.
	swap := float64(time.Now().UnixMilli() - int64(done["changed_at"].(float64)))
	c.WriteJSON(hub.Reloaded{Type: hub.TypeReloaded, Build: swapBuild, Load: swap, CSSSwap: true})
	testenv.Eventually(t, "the swap's figure on the terminal", func() bool { return pageShown(swapBuild) })
	if rec := saveOf(t, d, swapBuild); len(rec.Reports) != 1 || rec.Reports[0].Swap != "css" || rec.Reports[0].Phases[0].Name != "swap" {
		t.Errorf("save %d = %+v, want a css swap", swapBuild, rec)
	}

	lat := d.status(t)["reload_latency"].(map[string]any)
	page, swapped := lat["page_loaded"].(map[string]any), lat["swapped"].(map[string]any)
	if page["count"] != float64(1) || swapped["count"] != float64(1) || swapped["p50_ms"] != swap {
		t.Errorf("reload_latency = %v", lat)
	}
	if p := page["p50_ms"].(float64); p < after || p > after+float64(testenv.WaitLimit.Milliseconds()) {
		t.Errorf("page_loaded p50 = %v ms, want the server's changed→sent plus %v", p, after)
	}
	if n := len(page["buckets"].([]any)); n != len(bucketBoundsMS)+1 {
		t.Errorf("%d buckets", n)
	}
}

func TestExposureWarning(t *testing.T) {
	tests := []struct {
		addr, want string
	}{
		{"127.0.0.1:35729", ""},
		{"localhost:35729", ""},
		{"[::1]:35729", ""},
		{"0.0.0.0:35729", "all interfaces"},
		{":35729", "all interfaces"},
		{"[::]:35729", "all interfaces"},
		{"192.168.1.5:35729", "not loopback"},
		{"devbox.lan:35729", "not loopback"},
	}
	for _, tc := range tests {
		got := exposureWarning(tc.addr, tc.addr)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("exposureWarning(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	if s := h.status(); s.Count != 0 || s.P50MS != 0 || len(s.Buckets) != len(bucketBoundsMS)+1 {
		t.Errorf("empty: %+v", s)
	}
	for _, v := range []float64{5, 10, 11, 60, 63, 65, 70, 99, 400, 20000} {
		h.add(v)
	}
	s := h.status()
	if s.Count != 10 || s.P50MS != 63 || s.P90MS != 400 || s.P99MS != 20000 || s.MaxMS != 20000 || s.MeanMS != 2078.3 {
		t.Errorf("status %+v", s)
	}
	want := map[float64]int{10: 2, 25: 1, 75: 4, 100: 1, 500: 1}
	for _, b := range s.Buckets {
		if b.LeMS == nil {
			if b.Count != 1 {
				t.Errorf("overflow bucket %d, want 1", b.Count)
			}
			continue
		}
		if b.Count != want[*b.LeMS] {
			t.Errorf("bucket ≤%v: %d, want %d", *b.LeMS, b.Count, want[*b.LeMS])
		}
	}
	// The percentiles follow the recent past.
	for range recentSamples {
		h.add(1)
	}
	if s := h.status(); s.P99MS != 1 || s.Count != 10+recentSamples {
		t.Errorf("after %d more: %+v", recentSamples, s)
	}
}
