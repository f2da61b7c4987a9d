package serve

import (
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
)

// pageHeader is what a browser sends when it navigates.
var pageHeader = http.Header{
	"Sec-Fetch-Dest": {"document"}, "Sec-Fetch-Mode": {"navigate"},
	"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"},
}

// request serves one request with the given headers and returns the
// response. It fails the test if the handler has not answered within
// testenv.WaitLimit (a handler that blocks, on a FIFO say).
func request(t *testing.T, h http.Handler, method, path string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "/", nil)
	req.URL.Path, req.URL.RawPath = path, ""
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(testenv.WaitLimit):
		t.Fatalf("%s %.80s: no answer within %v", method, path, testenv.WaitLimit)
	}
	return rec
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func sh(t *testing.T, script string) {
	t.Helper()
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("sh -c %q: %v\n%s", script, err, out)
	}
}

// openHandles returns the targets of this process's descriptors that name
// dir or something below it.
func openHandles(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var open []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && (target == dir || strings.HasPrefix(target, dir+"/") || strings.HasPrefix(target, dir+" (deleted)")) {
			open = append(open, target)
		}
	}
	return open
}

// TestStaticServesARecreatedDirectory is the build that replaces its
// output directory: -build 'rm -rf dist && mkdir dist && cp ...'.
func TestStaticServesARecreatedDirectory(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "dist")
	writeFile(t, filepath.Join(site, "index.html"), "<head></head>version 1")
	st, err := NewStatic(site, func() []byte { return []byte(testTag) })
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if rec := request(t, st, "GET", "/", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "version 1") {
		t.Fatalf("GET / = %d %q", rec.Code, rec.Body)
	}
	// Between requests no handle keeps the directory: a deleted served
	// (and watched) root must be gone for the kernel, or inotify never
	// reports its deletion.
	if open := openHandles(t, site); len(open) > 0 {
		t.Errorf("between requests the server holds %q", open)
	}
	for i := 2; i <= 3; i++ {
		v := "version " + strconv.Itoa(i)
		sh(t, "cd "+dir+" && rm -rf dist && mkdir dist && printf '<head></head>"+v+"' > dist/index.html")
		rec := request(t, st, "GET", "/", nil)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), v) || strings.Count(rec.Body.String(), ClientPath) != 1 {
			t.Fatalf("after the directory was replaced: GET / = %d %q, want %q", rec.Code, rec.Body, v)
		}
	}
	if open := openHandles(t, site); len(open) > 0 {
		t.Errorf("after requests the server holds %q", open)
	}
}

// TestStaticServesARemountedDirectory serves a FUSE mount that goes away
// and comes back (a remounted sshfs or Docker volume).
func TestStaticServesARemountedDirectory(t *testing.T) {
	dir := t.TempDir()
	src, mnt := filepath.Join(dir, "src"), filepath.Join(dir, "mnt")
	writeFile(t, filepath.Join(src, "index.html"), "<head></head>before")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	m := testenv.Bindfs(t, src, mnt)
	st, err := NewStatic(mnt, func() []byte { return []byte(testTag) })
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if rec := request(t, st, "GET", "/", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "before") {
		t.Fatalf("GET / = %d %q", rec.Code, rec.Body)
	}

	// Unmounted: the empty mount point has no page. The answer carries
	// the client, so the browser comes back after the next build.
	if err := m.Unmount(); err != nil {
		t.Fatalf("unmount with the server idle: %v", err)
	}
	rec := request(t, st, "GET", "/", pageHeader)
	if rec.Code != http.StatusNotFound || strings.Count(rec.Body.String(), ClientPath) != 1 {
		t.Errorf("GET / while unmounted = %d %q, want a 404 page with the client", rec.Code, rec.Body)
	}

	writeFile(t, filepath.Join(src, "index.html"), "<head></head>after")
	if err := m.Mount(); err != nil {
		t.Fatal(err)
	}
	if rec := request(t, st, "GET", "/", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "after") {
		t.Fatalf("GET / after the remount = %d %q", rec.Code, rec.Body)
	}

	// The FUSE daemon dies (a dropped sshfs connection): a page saying
	// the directory cannot be opened, with the client; then a remount
	// serves again.
	m.Kill()
	rec = request(t, st, "GET", "/", pageHeader)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "cannot open") || strings.Count(rec.Body.String(), ClientPath) != 1 {
		t.Errorf("GET / with the FUSE daemon dead = %d %q, want a 503 page with the client", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), dir) {
		t.Errorf("the page names the full path: %q", rec.Body)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	if err := m.Mount(); err != nil {
		t.Fatal(err)
	}
	if rec := request(t, st, "GET", "/", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "after") {
		t.Fatalf("GET / after the FUSE daemon came back = %d %q", rec.Code, rec.Body)
	}
}

func TestStaticDirectoryNotThereYet(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "public")
	st, err := NewStatic(site, func() []byte { return []byte(testTag) })
	if err != nil {
		t.Fatalf("NewStatic of a directory a build will create: %v", err)
	}
	defer st.Close()
	if err := st.Check(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Check before the build = %v, want ErrNotExist", err)
	}

	rec := request(t, st, "GET", "/posts/", pageHeader)
	body := rec.Body.String()
	if rec.Code != http.StatusServiceUnavailable || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Errorf("GET /posts/ = %d %s, want a 503 page", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{`id="reloadd-nodir"`, "public/", "does not exist yet", "reloads by itself"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q:\n%s", want, body)
		}
	}
	if n := strings.Count(body, ClientPath); n != 1 || strings.Contains(body, dir) {
		t.Errorf("the page has the client %d times, or names the full path:\n%s", n, body)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
	}
	head := request(t, st, "HEAD", "/posts/", pageHeader)
	if head.Code != http.StatusServiceUnavailable || head.Body.Len() != 0 || head.Header().Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("HEAD = %d, %d bytes, Content-Length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
	}
	rec = request(t, st, "GET", "/app.js", http.Header{"Sec-Fetch-Dest": {"script"}, "Accept": {"*/*"}})
	if rec.Code != http.StatusServiceUnavailable || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Errorf("GET /app.js = %d %s %q, want plain 503", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}

	// The build creates it.
	writeFile(t, filepath.Join(site, "index.html"), "<head></head>built")
	if err := st.Check(); err != nil {
		t.Errorf("Check after the build = %v", err)
	}
	if rec := request(t, st, "GET", "/", pageHeader); rec.Code != 200 || !strings.Contains(rec.Body.String(), "built") {
		t.Errorf("GET / after the build = %d %q", rec.Code, rec.Body)
	}

	// A file where the directory should be is refused at once.
	file := filepath.Join(dir, "file")
	writeFile(t, file, "x")
	if _, err := NewStatic(file, nil); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("NewStatic(a file) = %v, want ENOTDIR", err)
	}
}

// TestStaticServesOnlyRegularFiles: a named pipe, a socket and a device in
// the served directory are 404, at once (opening a FIFO for reading blocks
// until a writer comes).
func TestStaticServesOnlyRegularFiles(t *testing.T) {
	site := t.TempDir()
	writeFile(t, filepath.Join(site, "index.html"), "<head></head>home")
	writeFile(t, filepath.Join(site, "404.html"), "<head></head>the site's 404")
	for _, p := range []string{"fifo", "dir/index.html", "fifo.html"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(site, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(filepath.Join(site, p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("fifo", filepath.Join(site, "link-to-fifo")); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(site, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	paths := []string{"/fifo", "/fifo.html", "/dir/", "/link-to-fifo", "/sock"}
	// A character device (a copy of /dev/null's node), where mknod is
	// allowed.
	if err := syscall.Mknod(filepath.Join(site, "null"), syscall.S_IFCHR|0o666, 1<<8|3); err == nil {
		paths = append(paths, "/null")
	} else {
		t.Logf("no device node (%v): not tried", err)
	}
	st, err := NewStatic(site, func() []byte { return []byte(testTag) })
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		for _, hdr := range []http.Header{nil, pageHeader} {
			rec := request(t, st, "GET", p, hdr)
			if rec.Code != http.StatusNotFound {
				t.Errorf("GET %s = %d %q, want 404", p, rec.Code, rec.Body)
			}
		}
	}
	// The same file swapped for a FIFO between the stat and the open: the
	// open does not block either.
	root, err := os.OpenRoot(site)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	done := make(chan error, 1)
	go func() {
		f, _, err := openRegular(root, "fifo")
		if f != nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, errNotServable) {
			t.Errorf("openRegular(a FIFO) = %v, want errNotServable", err)
		}
	case <-time.After(testenv.WaitLimit):
		t.Fatal("openRegular blocked on a FIFO")
	}

	// A 404.html that is a FIFO is not the site's 404 page.
	os.Remove(filepath.Join(site, "404.html"))
	if err := syscall.Mkfifo(filepath.Join(site, "404.html"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rec := request(t, st, "GET", "/missing", pageHeader); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "reloadd-notfound") {
		t.Errorf("GET /missing with a FIFO 404.html = %d %q", rec.Code, rec.Body)
	}
}

// TestStaticNotFoundCarriesTheClient: a browser on a missing page must
// reload when the page is created, so the 404 has the client.
func TestStaticNotFoundCarriesTheClient(t *testing.T) {
	site := t.TempDir()
	writeFile(t, filepath.Join(site, "index.html"), "<head></head>home")
	writeFile(t, filepath.Join(site, "a.css"), "body{}")
	if err := os.Mkdir(filepath.Join(site, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := NewStatic(site, func() []byte { return []byte(testTag) })
	if err != nil {
		t.Fatal(err)
	}

	// reloadd's own page, for every kind of "nothing there".
	for _, p := range []string{"/posts/new/", "/missing.html", "/a.css/x", "/empty/", "/<b>&"} {
		rec := request(t, st, "GET", p, pageHeader)
		body := rec.Body.String()
		if rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
			!strings.Contains(body, `id="reloadd-notfound"`) || strings.Count(body, ClientPath) != 1 {
			t.Errorf("GET %s = %d %s:\n%s", p, rec.Code, rec.Header().Get("Content-Type"), body)
		}
		if strings.Contains(body, "<b>&") {
			t.Errorf("GET %s: the path is not escaped:\n%s", p, body)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q", p, rec.Header().Get("Cache-Control"))
		}
	}

	// The site's own 404.html, injected, with status 404.
	const custom = "<!doctype html><html><head><title>Oops</title></head><body>the site's own 404</body></html>"
	writeFile(t, filepath.Join(site, "404.html"), custom)
	rec := request(t, st, "GET", "/posts/new/", pageHeader)
	if want := string(Inject([]byte(custom), []byte(testTag))); rec.Code != http.StatusNotFound || rec.Body.String() != want {
		t.Errorf("GET /posts/new/ with a 404.html = %d\n%q\nwant\n%q", rec.Code, rec.Body, want)
	}
	head := request(t, st, "HEAD", "/posts/new/", pageHeader)
	if head.Code != http.StatusNotFound || head.Body.Len() != 0 || head.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("HEAD /posts/new/ = %d, %d bytes, Content-Length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
	}
	// 404.html itself is a page like any other.
	if rec := request(t, st, "GET", "/404.html", pageHeader); rec.Code != 200 {
		t.Errorf("GET /404.html = %d", rec.Code)
	}

	// Not a page: plain text, no client, whatever the site has.
	for _, hdr := range []http.Header{
		{"Accept": {"application/json"}},
		{"Sec-Fetch-Dest": {"empty"}, "Accept": {"*/*"}},
		{"Sec-Fetch-Dest": {"image"}, "Accept": {"image/avif,image/webp,*/*"}},
		nil, // curl
	} {
		rec := request(t, st, "GET", "/data/missing.json", hdr)
		if rec.Code != http.StatusNotFound || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") || strings.Contains(rec.Body.String(), ClientPath) {
			t.Errorf("GET /data/missing.json (%v) = %d %s %q", hdr, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
}

func TestStaticURITooLong(t *testing.T) {
	st, _ := newStatic(t)
	tests := []struct {
		name, path string
	}{
		{"past MaxURLPath", "/" + strings.Repeat("a/", MaxURLPath/2)},
		{"a name the filesystem refuses", "/" + strings.Repeat("n", 300) + ".html"},
		{"a directory name the filesystem refuses", "/" + strings.Repeat("d", 300) + "/index.html"},
	}
	for _, tc := range tests {
		if rec := request(t, st, "GET", tc.path, pageHeader); rec.Code != http.StatusRequestURITooLong {
			t.Errorf("%s: GET = %d %.100q, want 414", tc.name, rec.Code, rec.Body)
		}
	}
	// Just within the bound, and found or not found as usual.
	if rec := request(t, st, "GET", "/sub/"+strings.Repeat("x", 200), nil); rec.Code != http.StatusNotFound {
		t.Errorf("GET of a long missing name = %d, want 404", rec.Code)
	}

	// Over HTTP, a 900 KB URL.
	srv := httptest.NewServer(testMux(st))
	defer srv.Close()
	code, _, _, _ := rawGet(t, srv.Listener.Addr().String(), "/"+strings.Repeat("%41", 300_000))
	if code != http.StatusRequestURITooLong {
		t.Errorf("GET of a 900 KB URL = %d, want 414", code)
	}
}

func TestStaticRefusesMethods(t *testing.T) {
	st, _ := newStatic(t)
	rec := request(t, st, "POST", "/", nil)
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST / = %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
}
