package serve

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/reloadd/reloadd/internal/testenv"
)

// proxyEnv is a Proxy behind reloadd's handler on a real server, and a
// keep-alive client for it.
type proxyEnv struct {
	p      *Proxy
	srv    *httptest.Server
	host   string // host:port of reloadd
	client *http.Client
	log    *testenv.Buffer
}

func newProxyEnv(t *testing.T, upstream string, opts ProxyOptions) *proxyEnv {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Tag == nil {
		opts.Tag = func() []byte { return ScriptTag("e1", 7) }
	}
	lb := &testenv.Buffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(lb, nil))
	}
	p, err := NewProxy(u, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(testMux(p))
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 8}
	env := &proxyEnv{
		p: p, srv: srv, host: srv.Listener.Addr().String(), log: lb,
		client: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		p.Close() // first: it ends the requests still waiting for the app
		srv.Close()
	})
	return env
}

// newUpstream starts an in-process app.
func newUpstream(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(h)
	t.Cleanup(up.Close)
	return up
}

// do sends a request through the proxy and returns the response with its
// body read.
func (e *proxyEnv) do(t *testing.T, method, path string, header http.Header, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+e.host+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, string(b)
}

// navigation is what a browser sends when it loads a page.
var navigation = http.Header{
	"Sec-Fetch-Dest": {"document"}, "Sec-Fetch-Mode": {"navigate"},
	"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}, "Accept-Encoding": {"gzip, deflate, br, zstd"},
}

func TestProxyPassesRequestsThrough(t *testing.T) {
	type seen struct {
		method, uri, host, body string
		header                  http.Header
	}
	got := make(chan seen, 1)
	up := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Host, string(b), r.Header.Clone()}
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc", Path: "/"})
		w.Header().Set("X-App", "yes")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "ok")
	}))
	e := newProxyEnv(t, up.URL, ProxyOptions{})

	resp, body := e.do(t, "POST", "/p/a%2Fb/c?x=1&y=%20z&x=2", http.Header{
		"X-Custom": {"v"}, "Cookie": {"s=1; t=2"}, "Content-Type": {"text/plain"},
		"Origin": {"http://" + e.host},
	}, strings.NewReader("payload"))
	s := <-got
	checks := []struct {
		what, got, want string
	}{
		{"method", s.method, "POST"},
		{"request URI", s.uri, "/p/a%2Fb/c?x=1&y=%20z&x=2"},
		{"Host (kept for a loopback app)", s.host, e.host},
		{"body", s.body, "payload"},
		{"X-Custom", s.header.Get("X-Custom"), "v"},
		{"Cookie", s.header.Get("Cookie"), "s=1; t=2"},
		{"Origin", s.header.Get("Origin"), "http://" + e.host},
		{"X-Forwarded-Host", s.header.Get("X-Forwarded-Host"), e.host},
		{"X-Forwarded-Proto", s.header.Get("X-Forwarded-Proto"), "http"},
		{"X-Forwarded-For", s.header.Get("X-Forwarded-For"), "127.0.0.1"},
		{"Accept-Encoding of a possible document", s.header.Get("Accept-Encoding"), "identity"},
		{"response status", strconv.Itoa(resp.StatusCode), "201"},
		{"response header", resp.Header.Get("X-App"), "yes"},
		{"response cookie", resp.Header.Get("Set-Cookie"), "session=abc; Path=/"},
		{"response body", body, "ok"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}

	// A subresource keeps the browser's Accept-Encoding.
	e.do(t, "GET", "/app.js", http.Header{"Sec-Fetch-Dest": {"script"}, "Accept-Encoding": {"gzip, br"}}, nil)
	if s := <-got; s.header.Get("Accept-Encoding") != "gzip, br" {
		t.Errorf("script request: Accept-Encoding = %q, want the browser's", s.header.Get("Accept-Encoding"))
	}
}

func TestProxyInjectsIntoHTMLOnly(t *testing.T) {
	const page = `<!doctype html><html><head><title>t</title></head><body><p>hi</p></body></html>`
	routes := map[string]struct {
		status int
		ctype  string
		body   string
		extra  http.Header
	}{
		"/page":       {200, "text/html; charset=utf-8", page, http.Header{"Etag": {`"v1"`}, "Last-Modified": {"Mon, 02 Jan 2006 15:04:05 GMT"}, "Cache-Control": {"max-age=3600"}}},
		"/upper":      {200, "TEXT/HTML; Charset=UTF-8", page, nil},
		"/xhtml":      {200, "application/xhtml+xml", page, nil},
		"/nohead":     {200, "text/html", "<p>x</p></body>", nil},
		"/fragment":   {200, "text/html", "<p>x</p>", nil},
		"/has-client": {200, "text/html", `<head><script src="/_reloadd/client.js"></script></head>`, nil},
		"/missing":    {404, "text/html", page, nil},
		"/failed":     {500, "text/html", page, nil},
		"/text":       {200, "text/plain", page, nil},
		"/json":       {200, "application/json", `{"html":"</head>"}`, nil},
		"/css":        {200, "text/css", "</head>", nil},
		"/none":       {200, "", "", nil},
		"/attachment": {200, "text/html", page, http.Header{"Content-Disposition": {`attachment; filename="a.html"`}}},
		"/huge":       {200, "text/html", strings.Repeat("a paragraph of text, no markup\n", 400), nil},
	}
	up := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := routes[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, v := range rt.extra {
			w.Header()[k] = v
		}
		if rt.ctype != "" {
			w.Header().Set("Content-Type", rt.ctype)
		} else {
			w.Header()["Content-Type"] = nil // no sniffing
		}
		if r.URL.Query().Has("chunked") {
			w.WriteHeader(rt.status)
			io.WriteString(w, rt.body[:len(rt.body)/2])
			http.NewResponseController(w).Flush()
			io.WriteString(w, rt.body[len(rt.body)/2:])
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(rt.body)))
		w.WriteHeader(rt.status)
		io.WriteString(w, rt.body)
	}))
	e := newProxyEnv(t, up.URL, ProxyOptions{})
	e.p.maxHead = 4096 // "/huge" (12 kB, no place for the client) is past it

	tests := []struct {
		path     string
		header   http.Header
		injected bool
	}{
		{"/page", navigation, true},
		{"/page", nil, true}, // no Sec-Fetch-Dest: a tool or an old browser
		{"/page", http.Header{"Sec-Fetch-Dest": {"iframe"}}, true},
		{"/page", http.Header{"Sec-Fetch-Dest": {"empty"}}, false}, // fetch()/XHR: a fragment for the page's own script
		{"/upper", navigation, true},
		{"/xhtml", navigation, true},
		{"/nohead", navigation, true},
		{"/fragment", navigation, true},
		{"/has-client", navigation, false},
		{"/missing", navigation, true},
		{"/failed", navigation, true},
		{"/text", navigation, false},
		{"/json", navigation, false},
		{"/css", http.Header{"Sec-Fetch-Dest": {"style"}}, false},
		{"/none", navigation, false},
		{"/attachment", navigation, false},
		{"/huge", navigation, false},
	}
	for _, tc := range tests {
		for _, chunked := range []bool{false, true} {
			path := tc.path
			if chunked {
				path += "?chunked=1"
			}
			rt := routes[tc.path]
			resp, body := e.do(t, "GET", path, tc.header, nil)
			name := fmt.Sprintf("GET %s (Sec-Fetch-Dest %q)", path, tc.header.Get("Sec-Fetch-Dest"))
			if resp.StatusCode != rt.status {
				t.Errorf("%s: status %d, want %d", name, resp.StatusCode, rt.status)
			}
			if cl := resp.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
				t.Errorf("%s: Content-Length %s for a %d-byte body", name, cl, len(body))
			}
			if !tc.injected {
				if body != rt.body {
					t.Errorf("%s: body changed:\n%q\nwant\n%q", name, body, rt.body)
				}
				continue
			}
			if want := string(Inject([]byte(rt.body), ScriptTag("e1", 7))); body != want {
				t.Errorf("%s: body\n%q\nwant\n%q", name, body, want)
			}
			if n := strings.Count(body, ClientPath); n != 1 {
				t.Errorf("%s: client appears %d times", name, n)
			}
			h := resp.Header
			if h.Get("Cache-Control") != "no-store" || h.Get("Etag") != "" || h.Get("Last-Modified") != "" {
				t.Errorf("%s: caching headers survived injection: %v", name, h)
			}
		}
	}

	// HEAD: no body, and no Content-Length that the GET would not match.
	resp, body := e.do(t, "HEAD", "/page", navigation, nil)
	if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Length") != "" {
		t.Errorf("HEAD /page = %d, %q, Content-Length %q", resp.StatusCode, body, resp.Header.Get("Content-Length"))
	}
}

func TestProxyDecodesCompressedHTML(t *testing.T) {
	const page = `<html><head><title>z</title></head><body>zipped</body></html>`
	var zl, raw bytes.Buffer
	zw := zlib.NewWriter(&zl)
	zw.Write([]byte(page))
	zw.Close()
	fw, _ := flate.NewWriter(&raw, flate.BestSpeed)
	fw.Write([]byte(page))
	fw.Close()
	gz := gzipBytes(t, []byte(page))
	js := gzipBytes(t, []byte("console.log('</head>')"))
	routes := map[string]struct {
		enc, ctype string
		body       []byte
	}{
		"/gzip":     {"gzip", "text/html", gz},
		"/x-gzip":   {"x-gzip", "text/html", gz},
		"/zlib":     {"deflate", "text/html", zl.Bytes()},
		"/deflate":  {"deflate", "text/html", raw.Bytes()},
		"/js":       {"gzip", "text/javascript", js},
		"/br":       {"br", "text/html", []byte("not really brotli")},
		"/corrupt":  {"gzip", "text/html", []byte("not gzip at all")},
		"/empty-gz": {"gzip", "text/html", nil},
	}
	up := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt := routes[r.URL.Path]
		// Compress whatever the request asked for: some apps do.
		w.Header().Set("Content-Encoding", rt.enc)
		w.Header().Set("Content-Type", rt.ctype)
		w.Header().Set("Content-Length", strconv.Itoa(len(rt.body)))
		w.Write(rt.body)
	}))
	e := newProxyEnv(t, up.URL, ProxyOptions{})
	want := string(Inject([]byte(page), ScriptTag("e1", 7)))
	for _, path := range []string{"/gzip", "/x-gzip", "/zlib", "/deflate"} {
		resp, body := e.do(t, "GET", path, navigation, nil)
		if resp.StatusCode != 200 || body != want || resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("GET %s = %d, Content-Encoding %q, body %q; want 200, identity, %q",
				path, resp.StatusCode, resp.Header.Get("Content-Encoding"), body, want)
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(want)) {
			t.Errorf("GET %s: Content-Length %q, want %d", path, cl, len(want))
		}
	}
	// Not HTML: the compressed bytes pass as they are.
	resp, body := e.do(t, "GET", "/js", http.Header{"Sec-Fetch-Dest": {"script"}}, nil)
	if resp.Header.Get("Content-Encoding") != "gzip" || body != string(js) {
		t.Errorf("GET /js: Content-Encoding %q, body changed", resp.Header.Get("Content-Encoding"))
	}
	// An encoding reloadd cannot decode: passed on untouched, said once.
	for range 2 {
		resp, body = e.do(t, "GET", "/br", navigation, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "br" || body != "not really brotli" {
			t.Errorf("GET /br = %d %q %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
		}
	}
	if n := strings.Count(e.log.String(), "cannot decode"); n != 1 {
		t.Errorf("undecodable encoding logged %d times, want once:\n%s", n, e.log)
	}
	// A corrupt body: a 502 page, not a hang or a half page.
	resp, body = e.do(t, "GET", "/corrupt", navigation, nil)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "reloadd-waiting") {
		t.Errorf("GET /corrupt = %d %q, want the 502 page", resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", "/empty-gz", navigation, nil)
	if resp.StatusCode != 200 || strings.Count(body, ClientPath) != 1 {
		t.Errorf("GET /empty-gz = %d %q", resp.StatusCode, body)
	}
}

// readUntil reads from r until the bytes read so far contain want.
func readUntil(t *testing.T, r io.Reader, got *bytes.Buffer, want string) {
	t.Helper()
	buf := make([]byte, 4096)
	for !strings.Contains(got.String(), want) {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err != nil && !strings.Contains(got.String(), want) {
			t.Fatalf("read %q, then %v; want %q", got, err, want)
		}
	}
}

func TestProxyStreamsChunksAsTheyCome(t *testing.T) {
	release := make(chan struct{})
	up := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", r.URL.Query().Get("type"))
		io.WriteString(w, "<html><head></head><body>first chunk")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, " second chunk</body></html>")
	}))
	e := newProxyEnv(t, up.URL, ProxyOptions{})
	for _, ctype := range []string{"text/html", "text/plain", "application/octet-stream"} {
		release = make(chan struct{})
		req, _ := http.NewRequest("GET", "http://"+e.host+"/?type="+url.QueryEscape(ctype), nil)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ContentLength != -1 {
			t.Errorf("%s: ContentLength %d for a streamed response", ctype, resp.ContentLength)
		}
		var got bytes.Buffer
		// The first chunk arrives while the app still holds the second.
		readUntil(t, resp.Body, &got, "first chunk")
		close(release)
		rest, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		got.Write(rest)
		want := "<html><head></head><body>first chunk second chunk</body></html>"
		if ctype == "text/html" {
			want = string(Inject([]byte(want), ScriptTag("e1", 7)))
		}
		if got.String() != want {
			t.Errorf("%s: got %q, want %q", ctype, got.String(), want)
		}
	}
}

func TestProxyServerSentEventsArriveOneByOne(t *testing.T) {
	next := make(chan struct{})
	up := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := 1; i <= 3; i++ {
			if i > 1 {
				select {
				case <-next:
				case <-r.Context().Done():
					return
				}
			}
			fmt.Fprintf(w, "id: %d\ndata: event %d\n\n", i, i)
			rc.Flush()
		}
	}))
	e := newProxyEnv(t, up.URL, ProxyOptions{})
	readEvents(t, e, "/events", func() { next <- struct{}{} })
}

// readEvents reads three SSE events through the proxy, calling more after
// each of the first two: the app sends event i+1 only then, so each event
// must have arrived on its own.
func readEvents(t *testing.T, e *proxyEnv, path string, more func()) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+e.host+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	br := bufio.NewReader(resp.Body)
	for i := 1; i <= 3; i++ {
		var ev []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("event %d: %v (got %q)", i, err, ev)
			}
			if line == "\n" {
				break
			}
			ev = append(ev, strings.TrimSpace(line))
		}
		if want := []string{"id: " + strconv.Itoa(i), "data: event " + strconv.Itoa(i)}; strings.Join(ev, "|") != strings.Join(want, "|") {
			t.Errorf("event %d = %q, want %q", i, ev, want)
		}
		if i < 3 {
			more()
		}
	}
}

// echoUpstream is an app with a WebSocket echo at /ws, using gorilla's
// default same-origin check.
func echoUpstream(t *testing.T) *httptest.Server {
	upgrader := websocket.Upgrader{}
	return newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(typ, msg) != nil {
				return
			}
		}
	}))
}

// checkEcho dials a WebSocket through the proxy as a page on reloadd would
// and checks that messages come back.
func checkEcho(t *testing.T, e *proxyEnv, path string) {
	t.Helper()
	c := dialWS(t, e, path, "http://"+e.host)
	defer c.Close()
	big := bytes.Repeat([]byte("0123456789"), 100_000)
	for i, m := range []struct {
		typ  int
		data []byte
	}{
		{websocket.TextMessage, []byte("hello")},
		{websocket.BinaryMessage, []byte{0, 1, 2, 255}},
		{websocket.BinaryMessage, big},
		{websocket.TextMessage, []byte("bye")},
	} {
		if err := c.WriteMessage(m.typ, m.data); err != nil {
			t.Fatalf("message %d: write: %v", i, err)
		}
		typ, got, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: read: %v", i, err)
		}
		if typ != m.typ || !bytes.Equal(got, m.data) {
			t.Errorf("message %d: echo differs (type %d, %d bytes)", i, typ, len(got))
		}
	}
}

func dialWS(t *testing.T, e *proxyEnv, path, origin string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: testenv.WaitLimit}
	c, resp, err := d.Dial("ws://"+e.host+path, http.Header{"Origin": {origin}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s through the proxy: %v (status %d)", path, err, status)
	}
	c.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
	return c
}

func TestProxyWebSocket(t *testing.T) {
	up := echoUpstream(t)
	e := newProxyEnv(t, up.URL, ProxyOptions{})
	checkEcho(t, e, "/ws")

	// The app's own Origin check sees the browser's Origin: a page from
	// another site is refused by the app, through the proxy.
	d := websocket.Dialer{HandshakeTimeout: testenv.WaitLimit}
	_, resp, err := d.Dial("ws://"+e.host+"/ws", http.Header{"Origin": {"http://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin upgrade through the proxy: err %v, resp %v; want the app's 403", err, resp)
	}
}

func TestProxyRewritesRedirects(t *testing.T) {
	up := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", r.URL.Query().Get("to"))
		w.Header().Set("X-Path", r.URL.Path)
		w.WriteHeader(http.StatusFound)
	}))
	_, upPort, _ := net.SplitHostPort(up.Listener.Addr().String())
	upHost := "127.0.0.1:" + upPort
	e := newProxyEnv(t, up.URL, ProxyOptions{})
	tests := []struct{ loc, want string }{
		{"http://" + upHost + "/login?next=%2Fa%3Fb#top", "http://" + e.host + "/login?next=%2Fa%3Fb#top"},
		{"http://localhost:" + upPort + "/x", "http://" + e.host + "/x"},
		{"http://[::1]:" + upPort + "/x", "http://" + e.host + "/x"},
		{"http://0.0.0.0:" + upPort + "/x", "http://" + e.host + "/x"},
		{"//" + upHost + "/x", "//" + e.host + "/x"},
		{"http://" + upHost, "http://" + e.host},
		{"/relative?q=1", "/relative?q=1"},
		{"sibling", "sibling"},
		{"https://example.com/" + upHost, "https://example.com/" + upHost},
		{"http://127.0.0.1:1/elsewhere", "http://127.0.0.1:1/elsewhere"},
		{"http://user@" + upHost + "/x", "http://user@" + upHost + "/x"},
		{"mailto:a@b", "mailto:a@b"},
	}
	for _, tc := range tests {
		resp, _ := e.do(t, "GET", "/go?to="+url.QueryEscape(tc.loc), nil, nil)
		if got := resp.Header.Get("Location"); resp.StatusCode != 302 || got != tc.want {
			t.Errorf("Location %q became %q (status %d), want %q", tc.loc, got, resp.StatusCode, tc.want)
		}
	}

	// An unparsable Location (Go's client refuses to receive it) is left
	// as it is.
	if got := e.p.rewriteLocation("http://%zz", "http", e.host); got != "http://%zz" {
		t.Errorf("unparsable Location became %q", got)
	}

	// With a base path in the target, it is added on the way in and taken
	// off on the way out.
	e = newProxyEnv(t, up.URL+"/base/", ProxyOptions{})
	for _, tc := range []struct{ loc, want string }{
		{"http://" + upHost + "/base/login", "http://" + e.host + "/login"},
		{"http://" + upHost + "/base", "http://" + e.host + "/"},
		{"/base/x?y", "/x?y"},
		{"/other", "/other"},
		{"/basement", "/basement"},
	} {
		resp, _ := e.do(t, "GET", "/go?to="+url.QueryEscape(tc.loc), nil, nil)
		if got := resp.Header.Get("Location"); got != tc.want {
			t.Errorf("base path: Location %q became %q, want %q", tc.loc, got, tc.want)
		}
		if p := resp.Header.Get("X-Path"); p != "/base/go" {
			t.Errorf("base path: the app saw %q, want /base/go", p)
		}
	}
}

// TestProxyNamedHost covers an app named by a host that is not a loopback
// name (a virtual host, or a remote app): it is told its own name, and
// what names reloadd in the browser's requests is translated for it.
func TestProxyNamedHost(t *testing.T) {
	p, err := NewProxy(&url.URL{Scheme: "http", Host: "myapp.test:8080", Path: "/base"}, ProxyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	in := httptest.NewRequest("GET", "http://127.0.0.1:35729/page?x=1", nil)
	in.Header.Set("Origin", "http://127.0.0.1:35729")
	in.Header.Set("Referer", "http://127.0.0.1:35729/from?y=2")
	out := in.Clone(context.Background())
	p.rewrite(&httputil.ProxyRequest{In: in, Out: out})
	if out.Host != "" || out.URL.Host != "myapp.test:8080" || out.URL.Path != "/base/page" {
		t.Errorf("out: Host %q, URL %v", out.Host, out.URL)
	}
	if got := out.Header.Get("Origin"); got != "http://myapp.test:8080" {
		t.Errorf("Origin = %q", got)
	}
	if got := out.Header.Get("Referer"); got != "http://myapp.test:8080/base/from?y=2" {
		t.Errorf("Referer = %q", got)
	}
	if got := out.Header.Get("X-Forwarded-Host"); got != "127.0.0.1:35729" {
		t.Errorf("X-Forwarded-Host = %q", got)
	}
	// Another site's Origin is not dressed up as the app's.
	in.Header.Set("Origin", "http://evil.example")
	out = in.Clone(context.Background())
	p.rewrite(&httputil.ProxyRequest{In: in, Out: out})
	if got := out.Header.Get("Origin"); got != "http://evil.example" {
		t.Errorf("foreign Origin = %q", got)
	}

	resp := &http.Response{
		StatusCode: 302, Request: out, Body: http.NoBody,
		Header: http.Header{
			"Location": {"http://myapp.test:8080/base/in"},
			"Set-Cookie": {
				"a=1; Domain=myapp.test; Path=/",
				"b=2; domain=.MyApp.test",
				"c=3; Domain=other.test",
				"d=4",
			},
		},
	}
	if err := p.modifyResponse(resp); err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("Location"); got != "http://127.0.0.1:35729/in" {
		t.Errorf("Location = %q", got)
	}
	want := []string{"a=1; Path=/", "b=2", "c=3; Domain=other.test", "d=4"}
	if got := resp.Header["Set-Cookie"]; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Set-Cookie = %q, want %q", got, want)
	}
}

func TestProxyKeepsConnectionsAlive(t *testing.T) {
	var conns atomic.Int64
	const page = `<html><head></head><body>k</body></html>`
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gzip":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gzipBytes(t, []byte(page)))
		case "/chunked":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, page[:10])
			http.NewResponseController(w).Flush()
			io.WriteString(w, page[10:])
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "plain")
		default:
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, page)
		}
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	e := newProxyEnv(t, up.URL, ProxyOptions{})
	for i := range 40 {
		path := []string{"/", "/gzip", "/chunked", "/text"}[i%4]
		resp, body := e.do(t, "GET", path, navigation, nil)
		if resp.StatusCode != 200 || body == "" {
			t.Fatalf("GET %s = %d %q", path, resp.StatusCode, body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("40 sequential requests opened %d connections to the app, want 1", n)
	}
}

// serveAt starts an in-process app on addr.
func serveAt(t *testing.T, addr string, h http.Handler) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	up := httptest.NewUnstartedServer(h)
	up.Listener.Close()
	up.Listener = ln
	up.Start()
	t.Cleanup(up.Close)
}

var helloApp = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html")
	io.WriteString(w, "<head></head>hello from the app")
})

func TestProxyWaitsForTheAppToStart(t *testing.T) {
	addr := testenv.FreeAddr(t)
	e := newProxyEnv(t, "http://"+addr, ProxyOptions{Wait: testenv.WaitLimit})
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := e.client.Get("http://" + e.host + "/")
		if err != nil {
			done <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(b), nil}
	}()
	// The request is waiting: connection attempts keep failing.
	testenv.Eventually(t, "the proxy to retry connecting", func() bool { return e.p.dials.Load() >= 3 })
	serveAt(t, addr, helloApp)
	r := <-done
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, "hello from the app") {
		t.Fatalf("request made while the app was starting = %d %q %v", r.status, r.body, r.err)
	}
}

func TestProxyWhileTheAppIsDown(t *testing.T) {
	addr := testenv.FreeAddr(t)
	e := newProxyEnv(t, "http://"+addr, ProxyOptions{Wait: 50 * time.Millisecond})

	resp, body := e.do(t, "GET", "/some/page", navigation, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("navigation while down = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`id="reloadd-waiting"`, "not answering", addr, UpstreamPath, "location.reload()"} {
		if !strings.Contains(body, want) {
			t.Errorf("waiting page lacks %q:\n%s", want, body)
		}
	}
	if n := strings.Count(body, ClientPath); n != 1 {
		t.Errorf("waiting page has the client %d times", n)
	}
	if resp.Header.Get("Retry-After") == "" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("waiting page headers: %v", resp.Header)
	}
	// A form post: the page goes back with a GET, not a resubmission.
	_, body = e.do(t, "POST", "/form", navigation, strings.NewReader("a=1"))
	if !strings.Contains(body, "location.replace(location.href)") {
		t.Errorf("waiting page after a POST would resubmit:\n%s", body)
	}
	// Not a document: plain text.
	resp, body = e.do(t, "GET", "/api", http.Header{"Sec-Fetch-Dest": {"empty"}, "Accept": {"*/*"}}, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || !strings.Contains(body, "not answering") {
		t.Errorf("fetch while down = %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// The probe the page polls.
	resp, body = e.do(t, "GET", UpstreamPath, nil, nil)
	var probe struct{ Up bool }
	if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &probe) != nil || probe.Up {
		t.Errorf("probe while down = %d %q", resp.StatusCode, body)
	}
	if n := strings.Count(e.log.String(), "browsers get the waiting page"); n != 1 {
		t.Errorf("the app going down was logged %d times, want once:\n%s", n, e.log)
	}

	serveAt(t, addr, helloApp)
	resp, body = e.do(t, "GET", UpstreamPath, nil, nil)
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &probe) != nil || !probe.Up {
		t.Errorf("probe after the app is back = %d %q", resp.StatusCode, body)
	}
	resp, body = e.do(t, "GET", "/", navigation, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "hello from the app") {
		t.Errorf("after the app is back = %d %q", resp.StatusCode, body)
	}
	if !strings.Contains(e.log.String(), "answering again") {
		t.Errorf("the app coming back was not logged:\n%s", e.log)
	}
}

func TestProxyAppBreaksOffTheResponse(t *testing.T) {
	up := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // the app "crashes" mid-request
		}
	}))
	e := newProxyEnv(t, up.URL, ProxyOptions{})
	resp, body := e.do(t, "GET", "/", navigation, nil)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, `data-status="502"`) || !strings.Contains(body, "did not answer properly") {
		t.Errorf("app breaking off = %d:\n%s", resp.StatusCode, body)
	}
}

func TestProxyCloseEndsTunnelsAndWaits(t *testing.T) {
	up := echoUpstream(t)
	e := newProxyEnv(t, up.URL, ProxyOptions{})
	c := dialWS(t, e, "/ws", "http://"+e.host)
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- e.p.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close = %v", err)
		}
	case <-time.After(testenv.WaitLimit):
		t.Fatal("Close did not return with a WebSocket open")
	}
	if _, _, err := c.ReadMessage(); err == nil {
		t.Error("the tunnelled WebSocket survived Close")
	}
	if err := e.p.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	resp, _ := e.do(t, "GET", "/", nil, nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("request after Close = %d, want 503", resp.StatusCode)
	}
}

func TestNewProxyRejectsBadTargets(t *testing.T) {
	for _, raw := range []string{"ftp://x", "http://", "/relative", "127.0.0.1:8080"} {
		u, _ := url.Parse(raw)
		if p, err := NewProxy(u, ProxyOptions{}); err == nil {
			p.Close()
			t.Errorf("NewProxy(%q) accepted", raw)
		}
	}
	if _, err := NewProxy(nil, ProxyOptions{}); err == nil {
		t.Error("NewProxy(nil) accepted")
	}
}
