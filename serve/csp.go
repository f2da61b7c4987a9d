package serve

import (
	"bytes"
	"html"
	"net/http"
	"strings"
)

// cspNonce returns the nonce a page's Content-Security-Policy allows
// scripts by, or "". A policy that lists nonces for script-src (or, without
// script-src, default-src) blocks every script without one — including the
// injected client, which then gets the page's own nonce. Policies given in
// several headers all apply; the first nonce found serves.
func cspNonce(h http.Header) string {
	for _, policy := range h.Values("Content-Security-Policy") {
		var scriptSrc, defaultSrc []string
		for _, dir := range strings.Split(policy, ";") {
			f := strings.Fields(dir)
			if len(f) == 0 {
				continue
			}
			switch strings.ToLower(f[0]) {
			case "script-src", "script-src-elem":
				if scriptSrc == nil {
					scriptSrc = f[1:]
				}
			case "default-src":
				defaultSrc = f[1:]
			}
		}
		src := scriptSrc
		if src == nil {
			src = defaultSrc
		}
		for _, s := range src {
			if len(s) > len("'nonce-'") && strings.HasPrefix(strings.ToLower(s), "'nonce-") && strings.HasSuffix(s, "'") {
				return s[len("'nonce-") : len(s)-1]
			}
		}
	}
	return ""
}

// withNonce returns tag (a <script ...> element) carrying nonce; tag is not
// modified.
func withNonce(tag []byte, nonce string) []byte {
	const open = "<script"
	if nonce == "" || !bytes.HasPrefix(tag, []byte(open)) {
		return tag
	}
	out := make([]byte, 0, len(tag)+len(nonce)+10)
	out = append(out, open...)
	out = append(out, ` nonce="`...)
	out = append(out, html.EscapeString(nonce)...)
	out = append(out, '"')
	return append(out, tag[len(open):]...)
}
