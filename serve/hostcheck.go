package serve

import (
	"fmt"
	"net/http"

	"github.com/reloadd/reloadd/internal/hostpolicy"
)

// HostCheck wraps next with reloadd's DNS-rebinding defence (what Vite calls
// allowedHosts): a request is served only when its Host header passes the
// host policy for a server listening on listen (the -addr value) that also
// answers to allowed (the -allow-host names): a loopback name, the listening
// host, an allowed name, or — when listening on all addresses — any IP
// address (see hostpolicy.Policy.HostAllowed; the WebSocket Origin check
// applies the same policy). The port is not checked, and names compare in
// one canonical form (case, trailing dot and IPv6 brackets do not matter).
// A request without a Host (HTTP/1.0, never a browser) is served. Everything
// else gets 403 with a one-line reason that names -allow-host.
func HostCheck(next http.Handler, listen string, allowed []string) http.Handler {
	policy := hostpolicy.New(listen, allowed)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !policy.HostAllowed(r.Host) {
			name, _ := hostpolicy.Split(r.Host)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "reloadd: Host %q is not allowed (DNS-rebinding protection); to use reloadd under this name, restart it with -allow-host %s\n", name, name)
			return
		}
		next.ServeHTTP(w, r)
	})
}
