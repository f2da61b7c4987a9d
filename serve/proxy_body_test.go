package serve

import (
	"bytes"
	"compress/zlib"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

// TestProxyInjectsIntoAProgressivePage: a page the app streams without a
// </head> (server-side rendering that flushes its shell, a long report)
// shows as it streams, with the client, instead of after the whole page.
func TestProxyInjectsIntoAProgressivePage(t *testing.T) {
	const first = `<!doctype html><html><meta charset="utf-8"><title>report</title><div id="shell">first rows`
	const rest = ` last rows</div></html>`
	pages := map[string]string{
		"/shell":    first,
		"/no-shell": `<!doctype html><html><title>report</title>` + strings.Repeat("<!-- padding -->", 100) + `<p>first rows`,
	}
	release := make(chan struct{})
	up := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, pages[r.URL.Path])
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, rest)
	}))
	e := newProxyEnv(t, up.URL, ProxyOptions{})
	for path, page := range pages {
		release = make(chan struct{})
		ctx, cancel := context.WithTimeout(context.Background(), testenv.WaitLimit)
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+e.host+path, nil)
		req.Header = navigation.Clone()
		resp, err := e.client.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("GET %s: %v (the head of the page did not come through while the app held the rest)", path, err)
		}
		var got bytes.Buffer
		// The first part arrives, with the client, while the app holds
		// the rest.
		readUntil(t, resp.Body, &got, "first rows")
		if !strings.Contains(got.String(), ClientPath) {
			t.Errorf("%s: the first part came without the client: %q", path, got.String())
		}
		close(release)
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		got.Write(b)
		if want := string(Inject([]byte(page+rest), ScriptTag("e1", 7))); got.String() != want {
			t.Errorf("%s: got\n%q\nwant\n%q", path, got.String(), want)
		}
	}
}

// TestProxyForwardsTrailers: an injected response keeps the app's
// trailers (HTTP/1.1 chunked, as a Go app sends them), not only their
// announcement.
func TestProxyForwardsTrailers(t *testing.T) {
	const page = `<!doctype html><html><head><title>t</title></head><body>with trailers</body></html>`
	var zl bytes.Buffer
	zw := zlib.NewWriter(&zl)
	zw.Write([]byte(page))
	zw.Close()
	up := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Trailer", "X-Checksum")
		h.Set("Content-Type", "text/html; charset=utf-8")
		if r.URL.Path == "/text" {
			h.Set("Content-Type", "text/plain")
		}
		switch r.URL.Path {
		case "/gzip":
			h.Set("Content-Encoding", "gzip")
			w.Write(gzipBytes(t, []byte(page)))
		case "/zlib":
			h.Set("Content-Encoding", "deflate")
			w.Write(zl.Bytes())
		case "/streamed":
			io.WriteString(w, page[:40])
			http.NewResponseController(w).Flush()
			io.WriteString(w, page[40:])
		default:
			io.WriteString(w, page)
		}
		h.Set("X-Checksum", "sum-of-"+r.URL.Path)
		h.Set(http.TrailerPrefix+"X-Unannounced", "late")
	}))
	e := newProxyEnv(t, up.URL, ProxyOptions{})
	want := string(Inject([]byte(page), ScriptTag("e1", 7)))
	for _, path := range []string{"/small", "/streamed", "/gzip", "/zlib", "/text"} {
		resp, body := e.do(t, "GET", path, navigation, nil)
		if path == "/text" {
			want = page
		}
		if resp.StatusCode != 200 || body != want {
			t.Errorf("GET %s = %d\n%q\nwant\n%q", path, resp.StatusCode, body, want)
		}
		if got := resp.Trailer.Get("X-Checksum"); got != "sum-of-"+path {
			t.Errorf("GET %s: trailer X-Checksum = %q (trailers %v, Content-Length %d)", path, got, resp.Trailer, resp.ContentLength)
		}
		if got := resp.Trailer.Get("X-Unannounced"); got != "late" {
			t.Errorf("GET %s: unannounced trailer = %q (trailers %v)", path, got, resp.Trailer)
		}
	}
}
