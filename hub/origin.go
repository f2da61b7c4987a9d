package hub

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// OriginChecker returns a CheckOrigin function for the WebSocket handshake.
// A handshake is accepted when it has no Origin header (not a browser, or a
// same-origin request from an old one), or when the Origin's host name is
// the listening host (any port), a loopback name (localhost, 127.0.0.1,
// [::1]), or one of allowed. Everything else — a page on another site trying
// to talk to the developer's reloadd — is refused.
//
// listen is the listening address (host:port or host). When it is
// unspecified (0.0.0.0, [::] or empty host), the host the request was
// addressed to stands in for it; serve's Host check has vetted that.
func OriginChecker(listen string, allowed []string) func(r *http.Request) bool {
	allow := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		allow[strings.ToLower(a)] = true
	}
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true
		}
		host := hostname(listen)
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = hostname(r.Host)
		}
		return OriginAllowed(origin, host, allow)
	}
}

// OriginAllowed is the pure rule behind OriginChecker: may a page from origin
// talk to a server whose host name is host?
func OriginAllowed(origin, host string, allowed map[string]bool) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	name := strings.ToLower(u.Hostname())
	if IsLoopbackName(name) || allowed[name] {
		return true
	}
	return name == strings.ToLower(host)
}

// IsLoopbackName reports whether a host name (no port) names this machine:
// localhost, *.localhost, or a loopback IP address.
func IsLoopbackName(name string) bool {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(name, "[]"))
	return ip != nil && ip.IsLoopback()
}

// hostname strips the port from a Host header value.
func hostname(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return strings.Trim(h, "[]")
	}
	return strings.Trim(host, "[]")
}

// IsExtensionOrigin reports whether origin belongs to a browser extension
// (chrome-extension://, moz-extension://, safari-web-extension://, and
// Edge's and old Safari's schemes). The LiveReload browser extensions
// connect from such origins; reloadd accepts them on /livereload only.
func IsExtensionOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "chrome-extension", "moz-extension", "safari-web-extension", "safari-extension", "ms-browser-extension":
		return true
	}
	return false
}
