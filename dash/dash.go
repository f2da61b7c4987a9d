// Package dash embeds reloadd's dashboard: one self-contained page (HTML,
// CSS and JavaScript in one file, no CDN, works offline) served at
// /_reloadd/. It shows where each save's time went — the recent saves as
// stacked bars, one colour per phase — the save → page loaded histogram,
// the mounts and how each is watched, the builds with their output, and
// the connected clients.
//
// The page reads /_reloadd/status and follows reloadd's WebSocket as a
// dashboard client (/_reloadd/ws?dashboard=1, see package hub): it is
// never reloaded by builds and never counted as a client. Nothing of it is
// injected into the site's pages.
//
// For tests the page keeps its state on window.__dash (connected, renders,
// messages, epoch); each save is a details.save element with data-build,
// data-state and data-total, and each bar segment a .seg with data-phase
// and data-ms.
package dash

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
)

// Page is the dashboard, served by [Handler].
//
//go:embed dashboard.html
var Page []byte

// MaxPageSize is the dashboard's weight budget, uncompressed: a dev tool's
// page must load at once, over a phone's connection to a laptop too.
const MaxPageSize = 30 * 1024

// csp is the page's Content-Security-Policy: nothing but its own inline
// script and style (by hash), and connections to reloadd itself.
var csp = "default-src 'none'; script-src " + inlineHash("script") + "; style-src " + inlineHash("style") +
	"; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// inlineHash returns the CSP source for the content of Page's one <tag>
// element: 'sha256-…'.
func inlineHash(tag string) string {
	open, end := []byte("<"+tag+">"), []byte("</"+tag+">")
	i := bytes.Index(Page, open)
	j := bytes.LastIndex(Page, end)
	if i < 0 || j < i {
		panic("dash: the page has no <" + tag + "> element")
	}
	sum := sha256.Sum256(Page[i+len(open) : j])
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// Handler serves the page: HTML, no-store (it changes with reloadd), with
// its Content-Security-Policy, never in a frame.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", csp)
		w.Write(Page)
	})
}
