package hub

import "github.com/reloadd/reloadd/internal/hostpolicy"

// IsLoopbackName reports whether a host name (no port) names this machine:
// localhost, *.localhost, or a loopback IP address.
//
// Deprecated: the host policy lives in internal/hostpolicy; use
// hostpolicy.IsLoopbackName. This forwarder remains until serve/proxy.go,
// its last caller, moves over.
func IsLoopbackName(name string) bool { return hostpolicy.IsLoopbackName(name) }
