// Package serve is reloadd's HTTP content: a static file server ([Static])
// or a reverse proxy to the -run app ([Proxy]), both injecting the client
// <script> into HTML, and the Host check ([HostCheck]). The route table
// that puts them together with the hub and the status is cmd/reloadd's
// (routes.go); the paths reloadd owns are named here.
package serve

import (
	"fmt"
	"html"

	"github.com/reloadd/reloadd/js"
)

// Paths reloadd owns besides ClientPath and UpstreamPath.
const (
	WSPath     = "/_reloadd/ws"
	StatusPath = "/_reloadd/status"
)

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
