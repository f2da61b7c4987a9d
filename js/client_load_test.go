package js_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/page"

	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/js"
	"github.com/reloadd/reloadd/serve"
)

// clientCounter stands in front of the real client route: it counts the
// requests for the client, and holds them while held is open.
type clientCounter struct {
	requests atomic.Int64
	mu       sync.Mutex
	held     chan struct{} // nil: answer at once
}

func (c *clientCounter) route(mux *http.ServeMux, _ *hub.Hub) {
	mux.HandleFunc("GET "+serve.ClientPath, func(w http.ResponseWriter, r *http.Request) {
		c.requests.Add(1)
		c.mu.Lock()
		held := c.held
		c.mu.Unlock()
		if held != nil {
			select {
			case <-held:
			case <-r.Context().Done():
				return
			}
		}
		js.Handler().ServeHTTP(w, r)
	})
}

// navigateNoWait starts loading url without waiting for its load event
// (which waits for the client).
func navigateNoWait(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	call(t, ctx, page.Navigate, page.NavigateParams{URL: url})
}

// TestClientNeverDelaysThePage: issue 16 — the injected client was a
// parser-blocking <script src> in the head, so nothing of the page was
// parsed until it arrived. With the client's answer held back, the page
// must still be parsed to the end (DOMContentLoaded) and show its body;
// once the client arrives, it resyncs by the page's stamp.
func TestClientNeverDelaysThePage(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{"index.html": `<!doctype html><html><head><title>t</title></head>
<body><h1 id="after">parsed</h1></body></html>`})
	var cc clientCounter
	cc.held = make(chan struct{})
	s.extra = cc.route
	s.start("E", 3)
	navigateNoWait(t, ctx, s.url("/"))
	testenv.Eventually(t, "the browser to ask for the client", func() bool { return cc.requests.Load() == 1 })
	testenv.WaitJS(t, ctx, `document.readyState === "interactive" && !!document.getElementById("after") && !window.__reloadd`)

	// A build completes while the client is on its way: the page, stamped
	// with build 3, must notice from its stamp (document.currentScript, in
	// an async script) that hello says 4, and reload.
	mark(t, ctx)
	s.complete(4)
	cc.mu.Lock()
	close(cc.held)
	cc.held = nil
	cc.mu.Unlock()
	testenv.WaitJS(t, ctx, `window.marker === undefined && !!window.__reloadd && __reloadd.connected && __reloadd.hellos === 1`)
	if got := eval[string](t, ctx, `document.querySelector("script[data-epoch]").dataset.epoch + "/" + document.querySelector("script[data-epoch]").dataset.build`); got != "E/4" {
		t.Errorf("the reloaded page's stamp is %q, want E/4", got)
	}
}

// TestClientIsCachedAcrossReloads: the client was served no-store and
// fetched again on every reload. Under its versioned URL the browser keeps
// it: a reload asks reloadd for the page, not the client — and the
// reloaded page still connects, resyncs by its stamp and reports its
// timing.
func TestClientIsCachedAcrossReloads(t *testing.T) {
	ctx := testenv.SharedChromium(t)
	s := newSite(t, map[string]string{"index.html": `<!doctype html><title>t</title><h1 id="title">one</h1>`})
	var cc clientCounter
	s.extra = cc.route
	s.start("E", 0)
	navigate(t, ctx, s.url("/"))
	connected(t, ctx, 1)
	if n := cc.requests.Load(); n != 1 {
		t.Fatalf("the client was fetched %d times for one page", n)
	}
	for i, text := range []string{"two", "three"} {
		mark(t, ctx)
		s.write("index.html", `<!doctype html><title>t</title><h1 id="title">`+text+`</h1>`)
		s.complete(int64(i+1), "index.html")
		testenv.WaitJS(t, ctx, `document.getElementById("title").textContent === "`+text+`" && window.marker === undefined && !!window.__reloadd && __reloadd.connected`)
		if r := s.report(); r.Build != int64(i+1) || r.Load <= 0 {
			t.Errorf("timing report %+v", r)
		}
	}
	if n := cc.requests.Load(); n != 1 {
		t.Errorf("the client was fetched %d times over two reloads, want once (then from the cache)", n)
	}
	// The page's stamp is the new build: the cached client read it.
	if got := eval[string](t, ctx, `document.querySelector("script[data-build]").dataset.build`); !strings.HasPrefix(got, "2") {
		t.Errorf("stamp %q", got)
	}
}
