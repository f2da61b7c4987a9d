package serve

import (
	"fmt"
	"html"
	"net/http"
	"strings"
)

// The small pages reloadd answers with itself when there is no page of the
// site's to show: the static server's 404 and missing-directory pages here,
// the proxy's waiting page in waiting.go. Each carries the client, so that
// the browser reloads when a build or a save brings the real page.

// wantsPage reports whether a request should get one of reloadd's HTML
// pages rather than plain text: a browser navigating to a document (or an
// old browser asking for HTML). Requests that say nothing get plain text
// (curl and other tools send Accept: */*).
func wantsPage(h http.Header) bool {
	if h.Get("Upgrade") != "" {
		return false
	}
	switch h.Get("Sec-Fetch-Dest") {
	case "document", "iframe", "frame":
		return true
	case "":
		return strings.Contains(h.Get("Accept"), "text/html")
	}
	return false
}

// statusPage is one of the static server's own pages: status, a title, and
// a paragraph of HTML (the caller escapes what it puts in), with the client
// tag in the head. id names the page's <main> element, for tests and user
// scripts.
func statusPage(status int, id, title, text string, tag []byte) []byte {
	return ownPage(status, id, title,
		"code { font-family: ui-monospace, monospace; font-size: .9em; word-break: break-all; }",
		"<p>"+text+"</p>", "", tag)
}

// ownPage is the shell of every page of reloadd's own: the title (escaped
// here), the page's own CSS rules after the shared ones, the client tag in
// the head, main (HTML) inside <main id=id data-status=status> after the
// title as <h1>, and after (HTML, a script) after </main>.
func ownPage(status int, id, title, css, main, after string, tag []byte) []byte {
	return fmt.Appendf(nil, `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%[1]s · reloadd</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; margin: 0; padding: 12vh 24px; color: #222; background: #fafafa; }
main { max-width: 40em; margin: auto; }
h1 { font-size: 1.4em; margin: 0 0 .5em; }
%[2]s
</style>
%[3]s</head>
<body>
<main id="%[4]s" data-status="%[5]d">
<h1>%[1]s</h1>
%[6]s
</main>
%[7]s</body>
</html>
`, html.EscapeString(title), css, tag, id, status, main, after)
}
