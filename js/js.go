// Package js embeds reloadd's browser client.
//
// The client derives its WebSocket URL from its own script URL (so it works
// behind proxies and from other hosts; loaded as /livereload.js it uses the
// same server's /_reloadd/ws), reloads the page on build_complete, swaps
// stylesheets (@imported ones included) and images in place when only they
// changed, shows a "rebuilding…" indicator during slow builds and a
// dismissible error overlay (text, never HTML) on build_failed, reconnects
// with exponential backoff and jitter (paused while the tab is hidden or
// offline, resumed at once when it is back), and on reconnect reloads iff
// the server's (epoch, build) moved while it was away. After a reload or a
// swap it reports how long the save took to reach the screen.
//
// For tests, the client keeps its state on window.__reloadd: connected,
// paused, attempts (WebSocket connections tried), hellos, cssSwaps and
// imgSwaps. The overlay and the indicator are the elements
// #reloadd-overlay and #reloadd-indicator, with their content in an open
// shadow root.
package js

import (
	_ "embed"
	"net/http"
)

// Client is the browser client's source, served at /_reloadd/client.js.
//
//go:embed client.js
var Client []byte

// Handler serves the client (for /_reloadd/client.js and /livereload.js),
// never cached: a stale client is a confusing bug.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		w.Write(Client)
	})
}
