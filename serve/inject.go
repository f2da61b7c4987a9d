package serve

import (
	"bytes"
)

// ClientPath is where the browser client is served.
const ClientPath = "/_reloadd/client.js"

// Inject returns html with tag inserted exactly once: before the first
// </head>, else before the last </body>, else at the end. A document that
// already loads the client (it contains ClientPath) is returned unchanged.
// Inject never modifies html in place.
func Inject(html, tag []byte) []byte {
	if bytes.Contains(html, []byte(ClientPath)) {
		return html
	}
	at := indexFold(html, []byte("</head"))
	if at < 0 {
		at = lastIndexFold(html, []byte("</body"))
	}
	if at < 0 {
		at = len(html)
	}
	out := make([]byte, 0, len(html)+len(tag))
	out = append(out, html[:at]...)
	out = append(out, tag...)
	out = append(out, html[at:]...)
	return out
}

// indexFold is an ASCII case-insensitive bytes.Index for a lower-case needle.
func indexFold(s, lowerNeedle []byte) int {
	n := len(lowerNeedle)
	for i := 0; i+n <= len(s); i++ {
		if s[i] == '<' && equalFoldASCII(s[i:i+n], lowerNeedle) {
			return i
		}
	}
	return -1
}

// lastIndexFold is indexFold from the end.
func lastIndexFold(s, lowerNeedle []byte) int {
	n := len(lowerNeedle)
	for i := len(s) - n; i >= 0; i-- {
		if s[i] == '<' && equalFoldASCII(s[i:i+n], lowerNeedle) {
			return i
		}
	}
	return -1
}

func equalFoldASCII(a, lower []byte) bool {
	for i := range lower {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
