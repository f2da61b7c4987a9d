package serve

import (
	"fmt"
	"html"
	"net/http"
)

// waiting describes a waiting page.
type waiting struct {
	status     int    // 503: the app does not accept connections; 502: it answered badly
	app        string // the app's URL
	reason     string // the error, shown in small print
	method     string // the request's method
	notRunning bool   // the daemon reported the app down (AppDown)
	tag        []byte // the client
}

// waitingPage is the page a browser gets instead of the app's when the app
// does not answer. It says so, carries the client (so a build that brings
// the app back, or fails, shows as usual), and polls UpstreamPath to reload
// itself when the app accepts connections again.
//
// With status 503 the app was not accepting connections (or is reported
// not running), so the first "up" means it is back. With 502 the app
// accepted the connection but answered badly (it crashed mid-request,
// say); it may be up all along, and reloading on "up" would loop, so the
// page waits for the app to go down and come back up (a restart), or for a
// build.
//
// After a non-GET request (a form post) the page goes to the same URL with
// a GET instead of resubmitting.
func waitingPage(p waiting) []byte {
	title := "The app is not answering"
	what := "reloadd is waiting for the app at <code>%s</code>. This page reloads by itself when the app is back."
	switch {
	case p.notRunning:
		title = "The app is not running"
		what = "The app at <code>%s</code> is not running. This page reloads by itself when the app is back."
	case p.status == http.StatusBadGateway:
		title = "The app did not answer properly"
		what = "The app at <code>%s</code> broke off or sent a bad response. This page reloads by itself after the app restarts or the next build."
	}
	again := "location.reload()"
	if p.method != http.MethodGet && p.method != http.MethodHead {
		again = "location.replace(location.href)"
	}
	main := fmt.Sprintf("<p>%s</p>\n<p class=\"reason\">%s</p>", fmt.Sprintf(what, html.EscapeString(p.app)), html.EscapeString(p.reason))
	script := fmt.Sprintf(`<script>
(function () {
  "use strict";
  var sawDown = %t, wait = 250;
  function poll() {
    fetch(%q, { cache: "no-store" }).then(function (r) {
      if (r.ok && sawDown) { %s; return; }
      if (!r.ok) sawDown = true;
      setTimeout(poll, r.ok ? 1000 : wait);
    }, function () {
      setTimeout(poll, 1000); // reloadd itself is away; the client reconnects too
    });
  }
  poll();
})();
</script>
`, p.status == http.StatusServiceUnavailable, UpstreamPath, again)
	return ownPage(p.status, "reloadd-waiting", title,
		"code, .reason { font-family: ui-monospace, monospace; font-size: .9em; }\n.reason { color: #777; white-space: pre-wrap; word-break: break-word; }",
		main, script, p.tag)
}
