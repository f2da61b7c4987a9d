package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

func TestProxyModeInjectsAndAnnouncesBuilds(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<!doctype html><html><head><title>app</title></head><body>path `+r.URL.Path+`</body></html>`)
	}))
	defer app.Close()
	src := t.TempDir()
	d := startDaemon(t, testenv.FreeAddr(t), "-proxy", app.URL, "-log", "json", src)

	resp, err := http.Get("http://" + d.addr + "/some/page")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "path /some/page") {
		t.Fatalf("GET through -proxy = %d %q", resp.StatusCode, body)
	}
	if n := strings.Count(string(body), "/_reloadd/client.js"); n != 1 {
		t.Errorf("client appears %d times in the proxied page:\n%s", n, body)
	}
	if !strings.Contains(string(body), `data-epoch="`) {
		t.Errorf("injected tag is not stamped with the epoch:\n%s", body)
	}

	// A change still reaches the browsers.
	c := d.dial(t)
	readMsg(t, c)
	must(t, os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n"), 0o644))
	readType(t, c, "build_complete")

	// The app goes away: the terminal says so once, and browsers get the
	// waiting page.
	app.Close()
	req, _ := http.NewRequest("GET", "http://"+d.addr+"/", nil)
	req.Header.Set("Sec-Fetch-Dest", "document")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "reloadd-waiting") {
		t.Errorf("with the app down: %d %q", resp.StatusCode, body)
	}
	testenv.Eventually(t, "the proxy event on the terminal", func() bool {
		return strings.Contains(d.out.String(), `"event":"proxy"`) && strings.Contains(d.out.String(), "not answering")
	})
}
