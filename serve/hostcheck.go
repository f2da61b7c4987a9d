package serve

import (
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/reloadd/reloadd/hub"
)

// HostCheck wraps next with reloadd's DNS-rebinding defence (what Vite calls
// allowedHosts): a request is served only when its Host header names
//
//   - the host reloadd listens on (listen is the -addr value),
//   - a loopback name: localhost, *.localhost, 127.0.0.0/8 or [::1],
//   - one of allowed (the -allow-host names), or
//   - when reloadd listens on an unspecified address (0.0.0.0, [::]), any
//     IP address: a rebinding attack needs a host name the attacker
//     controls, and a request naming an IP address was sent to that
//     address on purpose.
//
// The port is not checked. A request without a Host (HTTP/1.0, never a
// browser) is served. Everything else gets 403 with a one-line reason that
// names -allow-host. Names compare case-insensitively, without a trailing
// dot.
func HostCheck(next http.Handler, listen string, allowed []string) http.Handler {
	allow := make(map[string]bool, len(allowed))
	for _, a := range allowed {
		allow[normalizeHost(a)] = true
	}
	listenHost := listen
	if h, _, err := net.SplitHostPort(listen); err == nil {
		listenHost = h
	}
	listenHost = normalizeHost(listenHost)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !HostAllowed(r.Host, listenHost, allow) {
			name := hostOnly(r.Host)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "reloadd: Host %q is not allowed (DNS-rebinding protection); to use reloadd under this name, restart it with -allow-host %s\n", name, name)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// HostAllowed is HostCheck's rule: may a request with this Host header value
// (host or host:port) reach a server listening on listenHost (a name or an
// IP, "" or unspecified for all addresses)? allowed holds normalised names.
func HostAllowed(host, listenHost string, allowed map[string]bool) bool {
	if host == "" {
		return true
	}
	name := normalizeHost(hostOnly(host))
	if name == "" {
		return false
	}
	if hub.IsLoopbackName(name) || allowed[name] {
		return true
	}
	listenHost = normalizeHost(listenHost)
	lip := net.ParseIP(listenHost)
	if listenHost == "" || (lip != nil && lip.IsUnspecified()) {
		return net.ParseIP(name) != nil
	}
	if lip != nil {
		ip := net.ParseIP(name)
		return ip != nil && ip.Equal(lip)
	}
	return name == listenHost
}

// hostOnly strips the port from a Host header value.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}
