package serve

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reloadd/reloadd/internal/testenv"
)

// The test app (testdata/app) is built once per test binary, into appDir.
var (
	appOnce sync.Once
	appDir  string
	appBin  string
	appErr  error
)

func removeAppDir() {
	if appDir != "" {
		os.RemoveAll(appDir)
	}
}

// buildApp builds testdata/app with the go command and returns its path.
func buildApp(t testing.TB) string {
	t.Helper()
	goCmd := testenv.Need(t, "go")
	appOnce.Do(func() {
		appDir, appErr = os.MkdirTemp("", "reloadd-serve-app-")
		if appErr != nil {
			return
		}
		appBin = filepath.Join(appDir, "app")
		out, err := exec.Command(goCmd, "build", "-o", appBin, "./testdata/app").CombinedOutput()
		if err != nil {
			appErr = &buildError{err: err, out: string(out)}
		}
	})
	if appErr != nil {
		t.Fatalf("build testdata/app: %v", appErr)
	}
	return appBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// app is a running testdata/app process.
type app struct {
	addr string
	cmd  *exec.Cmd
}

// startApp starts the test app listening on addr ("127.0.0.1:0" for any
// port) and waits until it accepts connections. It is killed in cleanup.
func startApp(t testing.TB, addr string) *app {
	t.Helper()
	cmd := exec.Command(buildApp(t), "-addr", addr)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &app{cmd: cmd}
	t.Cleanup(a.stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("test app did not start: %v", err)
	}
	a.addr = strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	return a
}

// stop kills the app and waits for it; it may be called more than once.
func (a *app) stop() {
	if a.cmd.ProcessState != nil {
		return
	}
	a.cmd.Process.Kill()
	a.cmd.Wait()
}

func TestProxyRealApp(t *testing.T) {
	a := startApp(t, "127.0.0.1:0")
	e := newProxyEnv(t, "http://"+a.addr, ProxyOptions{})

	t.Run("html", func(t *testing.T) {
		resp, body := e.do(t, "GET", "/", navigation, nil)
		if resp.StatusCode != 200 || strings.Count(body, ClientPath) != 1 || !strings.Contains(body, `<h1 id="title">app</h1>`) {
			t.Errorf("GET / = %d %q", resp.StatusCode, body)
		}
		if i, j := strings.Index(body, ClientPath), strings.Index(body, "</head>"); i < 0 || i > j {
			t.Errorf("client not in the head: %q", body)
		}
	})
	t.Run("gzip", func(t *testing.T) {
		resp, body := e.do(t, "GET", "/gzip", navigation, nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || strings.Count(body, ClientPath) != 1 || !strings.Contains(body, "app</h1>") {
			t.Errorf("GET /gzip = %d %q %q", resp.StatusCode, resp.Header.Get("Content-Encoding"), body)
		}
	})
	t.Run("server-sent events", func(t *testing.T) {
		readEvents(t, e, "/sse?n=3", func() {
			if resp, _ := e.do(t, "GET", "/next", nil, nil); resp.StatusCode != 200 {
				t.Fatalf("GET /next = %d", resp.StatusCode)
			}
		})
	})
	t.Run("websocket", func(t *testing.T) { checkEcho(t, e, "/ws") })
	t.Run("redirect", func(t *testing.T) {
		resp, _ := e.do(t, "GET", "/redirect", navigation, nil)
		if got, want := resp.Header.Get("Location"), "http://"+e.host+"/landing?from=redirect"; resp.StatusCode != 302 || got != want {
			t.Errorf("redirect = %d %q, want 302 %q", resp.StatusCode, got, want)
		}
	})
	t.Run("100 MB download in bounded memory", func(t *testing.T) {
		const size = 100 << 20
		grew := download(t, e, "/big?n="+strconv.Itoa(size), size)
		// Buffering the body would allocate at least its size; streaming
		// allocates a few copy buffers.
		if grew > 16<<20 {
			t.Errorf("a %d MB download allocated %d MB in the proxy and client", size>>20, grew>>20)
		}
	})
	t.Run("huge HTML in bounded memory", func(t *testing.T) {
		const size = 32 << 20
		grew := download(t, e, "/big?type=text/html&n="+strconv.Itoa(size), size)
		if limit := uint64(16<<20 + 2*DefaultMaxHead); grew > limit {
			t.Errorf("a %d MB HTML document allocated %d MB in the proxy and client", size>>20, grew>>20)
		}
	})
}

// download fetches path through the proxy as a document, checks that the
// body has size bytes (un-injected), and returns how many bytes this
// process allocated meanwhile.
func download(t *testing.T, e *proxyEnv, path string, size int64) uint64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req, _ := http.NewRequest("GET", "http://"+e.host+path, nil)
	req.Header = navigation.Clone()
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	runtime.ReadMemStats(&after)
	if err != nil || n != size {
		t.Fatalf("GET %s: %d bytes, %v; want %d", path, n, err, size)
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.FormatInt(size, 10) {
		t.Errorf("GET %s: Content-Length %q", path, cl)
	}
	t.Logf("allocated %d KB", (after.TotalAlloc-before.TotalAlloc)>>10)
	return after.TotalAlloc - before.TotalAlloc
}

func TestProxyBrowserWaitsForTheApp(t *testing.T) {
	ctx := testenv.Chromium(t)
	addr := testenv.FreeAddr(t)
	e := newProxyEnv(t, "http://"+addr, ProxyOptions{Wait: 200 * time.Millisecond})

	// The app is down: the browser gets reloadd's page, not an error.
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+e.host+"/")); err != nil {
		t.Fatal(err)
	}
	testenv.WaitJS(t, ctx, `!!document.getElementById("reloadd-waiting")`)
	text, err := testenv.EvalString(ctx, `document.body.innerText`)
	if err != nil || !strings.Contains(text, "not answering") {
		t.Errorf("waiting page says %q (%v)", text, err)
	}

	// The app comes up: the page reloads by itself and shows it, with the
	// client injected.
	startApp(t, addr)
	testenv.WaitJS(t, ctx, `(document.getElementById("title") || {}).textContent === "app" && !!window.__reloadd`)
}
