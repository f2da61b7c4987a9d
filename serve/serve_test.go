package serve

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	removeAppDir()
	if code == 0 {
		err := goleak.Find(
			// chromedp's browser plumbing winds down just after its context.
			goleak.IgnoreTopFunction("github.com/chromedp/chromedp.(*Browser).run"),
		)
		if err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// secret is the content of the files outside the served directory.
const secret = "TOP-SECRET-CONTENT"

func newStatic(t *testing.T) (*Static, string) {
	t.Helper()
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	outside := filepath.Join(dir, "outside")
	for _, d := range []string{filepath.Join(site, "sub"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(site, "index.html"):        "<head></head>home",
		filepath.Join(site, "sub", "index.html"): "sub",
		filepath.Join(site, "a.css"):             "body{}",
		filepath.Join(dir, "secret.txt"):         secret,
		filepath.Join(outside, "secret.txt"):     secret,
		filepath.Join(outside, "index.html"):     secret,
	}
	for name, content := range files {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		filepath.Join(site, "escape.txt"):        filepath.Join("..", "secret.txt"),
		filepath.Join(site, "abs.txt"):           filepath.Join(dir, "secret.txt"),
		filepath.Join(site, "escdir"):            filepath.Join("..", "outside"),
		filepath.Join(site, "sub", "deep.txt"):   filepath.Join("..", "..", "secret.txt"),
		filepath.Join(site, "inside.css"):        "a.css",
		filepath.Join(site, "sub", "up.css"):     filepath.Join("..", "a.css"),
		filepath.Join(site, "loop"):              "loop",
		filepath.Join(site, "sub", "parent.txt"): "..",
	}
	for name, target := range links {
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	st, err := NewStatic(site, func() []byte { return []byte(testTag) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, dir
}

func get(h http.Handler, rawPath string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/", nil)
	req.URL.Path = rawPath
	req.URL.RawPath = ""
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestStaticServesAndInjects(t *testing.T) {
	h, _ := newStatic(t)
	tests := []struct {
		path     string
		code     int
		contains string
		injected bool
	}{
		{"/", 200, "home", true},
		{"/index.html", 200, "home", true},
		{"/sub/", 200, "sub", true},
		{"/sub", 301, "", false},
		{"/a.css", 200, "body{}", false},
		{"/inside.css", 200, "body{}", false},
		{"/sub/up.css", 200, "body{}", false},
		{"/missing.html", 404, "", false},
	}
	for _, tc := range tests {
		rec := get(h, tc.path)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != tc.code || !strings.Contains(string(body), tc.contains) {
			t.Errorf("GET %s = %d %q", tc.path, rec.Code, body)
		}
		if got := strings.Count(string(body), "client.js"); tc.injected != (got == 1) || got > 1 {
			t.Errorf("GET %s: client injected %d times", tc.path, got)
		}
		if rec.Code == 200 && rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q", tc.path, rec.Header().Get("Cache-Control"))
		}
	}
}

// traversals are URL paths (as sent on the wire) that try to leave the
// served directory: dot segments, encoded dots and slashes, backslashes,
// NUL bytes, and symlinks that lead outside.
var traversals = []string{
	"/../secret.txt", "/sub/../../secret.txt", "/..", "/../", "/./../secret.txt",
	"/%2e%2e/secret.txt", "/%2E%2E/secret.txt", "/.%2e/secret.txt", "/%2e./secret.txt",
	"/sub/%2e%2e/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt", "/..%2fsecret.txt",
	"/sub/..%2f..%2fsecret.txt", "/%2e%2e%2f%2e%2e%2fsecret.txt", "/%252e%252e/secret.txt",
	"/..%5csecret.txt", "/sub%5c..%5c..%5csecret.txt", `/..\secret.txt`, `/sub\..\..\secret.txt`,
	"/index.html%00.png", "/%00", "/escape.txt%00", "/..%00/secret.txt", "/..%c0%afsecret.txt",
	"/escape.txt", "/abs.txt", "/escdir/secret.txt", "/escdir/", "/escdir", "/sub/deep.txt",
	"/sub/parent.txt/../secret.txt", "/loop", "//secret.txt", "///../secret.txt",
	"/sub/%2e%2e%2f%2e%2e%2fescape.txt",
}

func TestStaticRefusesTraversal(t *testing.T) {
	h, _ := newStatic(t)
	paths := append([]string{"relative", "/index.html\x00.png", "/..\\secret.txt"}, traversals...)
	for _, p := range paths {
		rec := get(h, p)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code == 200 || strings.Contains(string(body), secret) {
			t.Errorf("GET %q = %d %q: escaped the served directory", p, rec.Code, body)
		}
	}
}

// rawGet sends target exactly as given on the request line (no client-side
// cleaning or escaping) and follows same-site redirects, returning the last
// response's status and body, every body seen, and the number of redirects
// followed.
func rawGet(t *testing.T, addr, target string) (code int, body, all string, hops int) {
	t.Helper()
	for hops = 0; hops < 4; hops++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(testenv.WaitLimit))
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target, addr)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			conn.Close()
			t.Fatalf("GET %q: %v", target, err)
		}
		b, _ := io.ReadAll(resp.Body)
		conn.Close()
		code, body = resp.StatusCode, string(b)
		all += body
		loc := resp.Header.Get("Location")
		if code < 300 || code > 399 || loc == "" {
			return code, body, all, hops
		}
		if !strings.HasPrefix(loc, "/") {
			loc = target[:strings.LastIndex(target, "/")+1] + loc
		}
		target = loc
	}
	return code, body, all, hops
}

func TestStaticTraversalOverHTTP(t *testing.T) {
	st, _ := newStatic(t)
	srv := httptest.NewServer(testMux(st))
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	// The same server serves what it should, so the refusals below are
	// not a broken server refusing everything.
	for target, want := range map[string]string{
		"/a.css": "body{}", "/sub/%69ndex.html": "sub", "/inside.css": "body{}",
		"/sub/up.css": "body{}", "/sub/./index.html": "sub",
	} {
		code, body, _, _ := rawGet(t, addr, target)
		if code != 200 || !strings.HasPrefix(body, want) {
			t.Errorf("GET %s = %d %q, want 200 %q", target, code, body, want)
		}
	}
	// A traversal may be redirected to a cleaned path inside the site
	// ("/.." to "/"), but never answered from outside it.
	for _, target := range append(traversals, "http://"+addr+"/../secret.txt") {
		code, body, all, hops := rawGet(t, addr, target)
		if strings.Contains(all, secret) || (code == 200 && hops == 0) {
			t.Errorf("GET %s = %d %q after %d redirects: escaped the served directory", target, code, body, hops)
		}
	}
}
