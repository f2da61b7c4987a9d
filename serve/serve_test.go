package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInject(t *testing.T) {
	tag := `<script src="/_reloadd/client.js"></script>`
	tests := []struct{ in, want string }{
		{"<html><head><title>x</title></head><body>b</body></html>",
			"<html><head><title>x</title>" + tag + "</head><body>b</body></html>"},
		{"<HTML><HEAD></HEAD></HTML>", "<HTML><HEAD>" + tag + "</HEAD></HTML>"},
		{"<p>no head</p></body><!-- </body> -->", "<p>no head</p></body><!-- " + tag + "</body> -->"},
		{"<p>fragment</p>", "<p>fragment</p>" + tag},
		{"", tag},
		{"<head></head><script src=\"/_reloadd/client.js\"></script>", "<head></head><script src=\"/_reloadd/client.js\"></script>"},
	}
	for _, tc := range tests {
		if got := string(Inject([]byte(tc.in), []byte(tag))); got != tc.want {
			t.Errorf("Inject(%q) =\n%q\nwant\n%q", tc.in, got, tc.want)
		}
	}
}

func newStatic(t *testing.T) (http.Handler, string) {
	t.Helper()
	dir := t.TempDir()
	site := filepath.Join(dir, "site")
	os.MkdirAll(filepath.Join(site, "sub"), 0o755)
	os.WriteFile(filepath.Join(site, "index.html"), []byte("<head></head>home"), 0o644)
	os.WriteFile(filepath.Join(site, "sub", "index.html"), []byte("sub"), 0o644)
	os.WriteFile(filepath.Join(site, "a.css"), []byte("body{}"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644)
	if err := os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(site, "escape.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.css", filepath.Join(site, "inside.css")); err != nil {
		t.Fatal(err)
	}
	st, err := NewStatic(site, func() []byte { return []byte("<script src=\"/_reloadd/client.js\"></script>") })
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

func TestStaticRefusesTraversal(t *testing.T) {
	h, _ := newStatic(t)
	for _, p := range []string{
		"/../secret.txt", "/sub/../../secret.txt", "/..", "/escape.txt",
		"/..\\secret.txt", "/sub\\..\\..\\secret.txt", "/index.html\x00.png", "relative",
	} {
		rec := get(h, p)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code == 200 || strings.Contains(string(body), "secret") {
			t.Errorf("GET %q = %d %q: escaped the served directory", p, rec.Code, body)
		}
	}
}
