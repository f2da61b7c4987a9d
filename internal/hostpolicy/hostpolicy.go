// Package hostpolicy is reloadd's one rule for the names a request may use
// to reach it. Two checks apply it:
//
//   - the Host header of every HTTP request ([Policy.HostAllowed]), reloadd's
//     defence against DNS rebinding (what Vite calls allowedHosts), and
//   - the Origin of every WebSocket handshake ([Policy.OriginAllowed]), its
//     defence against cross-site WebSocket hijacking;
//
// and [SameOrigin] tells the pages reloadd serves itself from pages of other
// (allowed) origins, which the hub sends less (no build output, no absolute
// paths).
//
// Names are compared in one canonical form ([Name]): lower case, without
// IPv6 brackets and without the trailing dot of a fully qualified name, and
// IP addresses in their standard spelling, so that "mybox.local.",
// "MyBox.Local" and "mybox.local" are one name everywhere, and "[::1]" and
// "0:0::1" one address.
package hostpolicy

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Policy is the set of names reloadd answers to: loopback names, the name or
// address it listens on, and the names the user allowed (-allow-host). It is
// immutable and safe for concurrent use.
type Policy struct {
	listen  string          // canonical listening name; "" when listening on all addresses
	allowed map[string]bool // canonical -allow-host names
}

// New returns the policy for a server listening on listen (the -addr value:
// host:port, or a host) that also answers to the names in allowed. An empty
// or unspecified listening host (0.0.0.0, [::]) means every address of the
// machine. An allowed entry may carry a port, which is ignored.
func New(listen string, allowed []string) *Policy {
	p := &Policy{allowed: make(map[string]bool, len(allowed))}
	for _, a := range allowed {
		if name, _ := Split(a); name != "" {
			p.allowed[name] = true
		}
	}
	name, _ := Split(listen)
	if ip, err := netip.ParseAddr(name); err == nil && ip.IsUnspecified() {
		name = ""
	}
	p.listen = name
	return p
}

// HostAllowed reports whether a request whose Host header is host (host or
// host:port) may be served. It may when the header is absent (HTTP/1.0,
// never a browser), or names
//
//   - a loopback name ([IsLoopbackName]),
//   - an allowed name,
//   - the host reloadd listens on, or
//   - when reloadd listens on all addresses, any IP address: a rebinding
//     attack needs a host name the attacker controls, and a request naming
//     an IP address was sent to that address on purpose.
//
// The port is not checked.
func (p *Policy) HostAllowed(host string) bool {
	if host == "" {
		return true
	}
	name, _ := Split(host)
	if name == "" {
		return false
	}
	if p.known(name) {
		return true
	}
	return p.listen == "" && isIP(name)
}

// OriginAllowed reports whether a WebSocket handshake with this Origin
// header, addressed to host (the request's Host header), is accepted. It is
// when there is no Origin (not a browser: a local program), or the Origin is
// an http or https origin whose host name is a loopback name, an allowed
// name or the host reloadd listens on — on any port. When reloadd listens on
// all addresses, the request's own host name stands in for the listening
// one, provided HostAllowed accepts it. Everything else (a page on another
// site, "null", file://, a browser extension) is refused; the LiveReload
// endpoint admits extensions itself ([IsExtensionOrigin]).
func (p *Policy) OriginAllowed(origin, host string) bool {
	if origin == "" {
		return true
	}
	name, _, ok := originHost(origin)
	if !ok {
		return false
	}
	if p.known(name) {
		return true
	}
	if p.listen != "" {
		return false
	}
	own, _ := Split(host)
	return own == name && p.HostAllowed(host)
}

// CheckOrigin is OriginAllowed for a handshake request, in the form
// websocket.Upgrader.CheckOrigin takes.
func (p *Policy) CheckOrigin(r *http.Request) bool {
	return p.OriginAllowed(r.Header.Get("Origin"), r.Host)
}

// known reports whether a canonical name is one reloadd answers to whatever
// the request: loopback, allowed, or the listening name.
func (p *Policy) known(name string) bool {
	return IsLoopbackName(name) || p.allowed[name] || (p.listen != "" && name == p.listen)
}

// SameOrigin reports whether origin (an Origin header) is the origin of a
// page served at host (the request's Host header): the same scheme-default
// or explicit port and the same name. A Host without a port matches an
// origin on its scheme's default port (80 for http, 443 for https), which
// is what a browser omits. Such a page was served by the server the
// request reached — reloadd, or with -proxy the app through reloadd.
func SameOrigin(origin, host string) bool {
	name, port, ok := originHost(origin)
	if !ok {
		return false
	}
	hname, hport := Split(host)
	if hname == "" || hname != name {
		return false
	}
	if hport == "" {
		u, _ := url.Parse(origin)
		return port == defaultPort(u.Scheme)
	}
	return hport == port
}

// originHost parses an http or https Origin into its canonical host name
// and its port (the scheme's default when the origin names none).
func originHost(origin string) (name, port string, ok bool) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", "", false
	}
	name, port = Split(u.Host)
	if name == "" {
		return "", "", false
	}
	if port == "" {
		port = defaultPort(scheme)
	}
	return name, port, true
}

func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// Split splits a Host header value (or an -addr, or a URL's host) into its
// canonical name ([Name]) and its port, "" when there is none. A bare IPv6
// address without brackets is taken whole as the name.
func Split(hostport string) (name, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return Name(h), p
	}
	return Name(hostport), ""
}

// Name returns the canonical form of a host name without a port: lower
// case, without IPv6 brackets and without a trailing dot; an IP address
// (IPv4-mapped IPv6 included) in its standard spelling, without a zone.
func Name(name string) string {
	name = strings.TrimSuffix(strings.ToLower(strings.TrimPrefix(strings.TrimSuffix(name, "]"), "[")), ".")
	if ip, err := netip.ParseAddr(name); err == nil {
		return ip.Unmap().WithZone("").String()
	}
	return name
}

func isIP(name string) bool {
	_, err := netip.ParseAddr(name)
	return err == nil
}

// IsLoopbackName reports whether a host name (no port) names this machine
// through the loopback interface: localhost, *.localhost (RFC 6761), or a
// loopback address (127.0.0.0/8, ::1).
func IsLoopbackName(name string) bool {
	name = Name(name)
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(name)
	return err == nil && ip.IsLoopback()
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
