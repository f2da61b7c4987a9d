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
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
)

// Client is the browser client's source, served by [Handler] at
// /_reloadd/client.js and /livereload.js.
//
//go:embed client.js
var Client []byte

// Version identifies Client's content: the first 16 hex digits of its
// SHA-256. Pages load the client as /_reloadd/client.js?v=Version, a URL
// whose content never changes, so the browser may keep it.
var Version = func() string {
	sum := sha256.Sum256(Client)
	return hex.EncodeToString(sum[:8])
}()

// VersionQuery is the query parameter that carries Version.
const VersionQuery = "v"

// Handler serves the client; reloadd mounts it at /_reloadd/client.js and
// /livereload.js. A request for this Version (?v=Version, the URL pages are
// injected with) may be cached for a year and never revalidated
// (immutable): a reload then takes the client from the browser's cache
// instead of asking reloadd again. Any other request — no version (pages
// injected by an older reloadd, /livereload.js) or another version — is
// answered no-store, so that nobody keeps a stale client. Every answer is
// text/javascript with X-Content-Type-Options: nosniff, and no CORS headers.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.URL.Query().Get(VersionQuery) == Version {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-store")
		}
		w.Write(Client)
	})
}
