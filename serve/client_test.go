package serve

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/reloadd/reloadd/js"
)

// TestClientRouteIsTheOneHandler: /_reloadd/client.js was served by a
// second copy of the handler that lacked X-Content-Type-Options: nosniff
// (issue 14). the route table mounts js.Handler, the one /livereload.js uses.
func TestClientRouteIsTheOneHandler(t *testing.T) {
	srv := httptest.NewServer(testMux(nil))
	defer srv.Close()
	for _, url := range []string{ClientPath, ClientPath + "?v=" + js.Version} {
		resp, err := http.Get(srv.URL + url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := httptest.NewRecorder()
		js.Handler().ServeHTTP(want, httptest.NewRequest("GET", url, nil))
		if resp.StatusCode != 200 || !bytes.Equal(body, js.Client) {
			t.Errorf("%s: %d, %d bytes", url, resp.StatusCode, len(body))
		}
		for _, k := range []string{"Content-Type", "Cache-Control", "X-Content-Type-Options"} {
			if got := resp.Header.Get(k); got != want.Header().Get(k) || got == "" {
				t.Errorf("%s: %s %q, want js.Handler's %q", url, k, got, want.Header().Get(k))
			}
		}
	}
}

// TestScriptTag: the injected client is the versioned, cacheable URL,
// loaded async, stamped for resync — and still recognised by Inject as the
// client (a page that already has it is left alone).
func TestScriptTag(t *testing.T) {
	tag := string(ScriptTag(`e"1`, 42))
	re := regexp.MustCompile(`^<script src="/_reloadd/client\.js\?v=([0-9a-f]{16})" async data-epoch="e&#34;1" data-build="42"></script>$`)
	m := re.FindStringSubmatch(tag)
	if m == nil || m[1] != js.Version {
		t.Fatalf("ScriptTag = %s", tag)
	}
	page := []byte("<html><head></head><body></body></html>")
	once := Inject(page, []byte(tag))
	if twice := Inject(once, []byte(tag)); !bytes.Equal(once, twice) {
		t.Errorf("injected twice: %s", twice)
	}
}
