// Package serve is reloadd's HTTP side: the /_reloadd/ routes (client,
// WebSocket, status) and, for everything else, either a static file server
// or a reverse proxy, both injecting the client <script> into HTML.
package serve

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"

	"github.com/reloadd/reloadd/js"
)

// Routes reloadd owns.
const (
	WSPath     = "/_reloadd/ws"
	StatusPath = "/_reloadd/status"
)

// Options configure [New].
type Options struct {
	// Site serves everything outside /_reloadd/: a [Static] or a [Proxy].
	// A *Proxy also gets UpstreamPath.
	Site http.Handler
	// WS serves the WebSocket at WSPath (a *hub.Hub).
	WS http.Handler
	// Status returns the value encoded as JSON at StatusPath.
	Status func() any
}

// New returns the handler for all of reloadd's HTTP routes.
func New(opts Options) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+ClientPath, js.Handler())
	if opts.WS != nil {
		mux.Handle(WSPath, opts.WS)
	}
	if opts.Status != nil {
		mux.HandleFunc("GET "+StatusPath, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			if err := enc.Encode(opts.Status()); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
	}
	if p, ok := opts.Site.(*Proxy); ok && p != nil {
		mux.HandleFunc("GET "+UpstreamPath, p.ServeProbe)
	}
	if opts.Site != nil {
		mux.Handle("/", opts.Site)
	}
	return mux
}

// ScriptTag returns the element injected into HTML: the client at its
// versioned URL (ClientPath?v=js.Version, cached by the browser), async so
// that it never holds up parsing, and stamped with the epoch and build the
// page is served at, so that a page that misses a build between being
// served and connecting still reloads.
//
// Async rather than defer: an async script runs as soon as it is there —
// from the cache that is at once, while the parser is still at work — so
// the client connects as early as it can; a deferred one would wait for
// the whole document to be parsed, which for a long or streamed page is
// long after its first paint. The client reads the stamp from
// document.currentScript, which async classic scripts have, and the load
// event still waits for it, so its timing report is unchanged.
func ScriptTag(epoch string, build int64) []byte {
	return fmt.Appendf(nil, `<script src="%s?%s=%s" async data-epoch="%s" data-build="%d"></script>`,
		ClientPath, js.VersionQuery, js.Version, html.EscapeString(epoch), build)
}
