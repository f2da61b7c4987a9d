package hostpolicy

import (
	"net/http/httptest"
	"testing"
)

// Case is one request reaching reloadd: the policy (listen, allow), the
// request's Host header, and the Origin of a WebSocket handshake ("" for
// none). The wants say what the two checks decide together:
//
//   - Page: HostAllowed — the page (any HTTP route) is served;
//   - WS:   HostAllowed and OriginAllowed — the WebSocket is accepted;
//   - Full: the WebSocket gets full messages (no Origin, or SameOrigin).
//
// The table is exported to the external test, which runs the same rows
// against serve.HostCheck and a real hub over a real server.
type Case struct {
	Name           string
	Listen         string
	Allow          []string
	Host, Origin   string
	Page, WS, Full bool
}

// Cases cover both checks together; each row says why.
var Cases = []Case{
	// The page reloadd serves, and its own WebSocket.
	{"own page", "127.0.0.1:35729", nil, "127.0.0.1:35729", "http://127.0.0.1:35729", true, true, true},
	{"own page by localhost", "127.0.0.1:35729", nil, "localhost:35729", "http://localhost:35729", true, true, true},
	{"own page, case and dot", "127.0.0.1:35729", nil, "LocalHost.:35729", "http://localhost:35729", true, true, true},
	{"own page over IPv6", "[::1]:35729", nil, "[::1]:35729", "http://[::1]:35729", true, true, true},
	{"own page, IPv6 spelled long", "[::1]:35729", nil, "[0:0:0:0:0:0:0:1]:35729", "http://[::1]:35729", true, true, true},
	{"local program (no Origin)", "127.0.0.1:35729", nil, "127.0.0.1:35729", "", true, true, true},
	{"no Host at all (HTTP/1.0)", "127.0.0.1:35729", nil, "", "", true, true, true},

	// Other loopback ports: allowed, but not reloadd's own pages.
	{"another localhost port", "127.0.0.1:35729", nil, "127.0.0.1:35729", "http://localhost:1313", true, true, false},
	{"same name, other port", "127.0.0.1:35729", nil, "localhost:35729", "http://localhost:3000", true, true, false},
	{"other loopback name, same port", "127.0.0.1:35729", nil, "127.0.0.1:35729", "http://localhost:35729", true, true, false},
	{"*.localhost", "127.0.0.1:35729", nil, "app.localhost:35729", "http://app.localhost:35729", true, true, true},
	{"https on the default port", "127.0.0.1:35729", nil, "localhost", "https://localhost", true, true, true},
	{"http origin, Host without port", "127.0.0.1:35729", nil, "localhost", "http://localhost", true, true, true},
	{"https origin on port 80", "127.0.0.1:35729", nil, "localhost", "https://localhost:80", true, true, false},

	// -allow-host: issue 14's bug, both ways round.
	{"allow with dot, browse without", "127.0.0.1:35729", []string{"mybox.local."}, "mybox.local:35729", "http://mybox.local:35729", true, true, true},
	{"allow without dot, browse with", "127.0.0.1:35729", []string{"mybox.local"}, "mybox.local.:35729", "http://mybox.local.:35729", true, true, true},
	{"allow in capitals", "127.0.0.1:35729", []string{"MyBox.Local"}, "mybox.LOCAL:35729", "http://MYBOX.local:35729", true, true, true},
	{"allowed name on another port", "127.0.0.1:35729", []string{"mybox.local"}, "mybox.local:35729", "http://mybox.local:8080", true, true, false},
	{"allowed name given with a port", "127.0.0.1:35729", []string{"mybox.local:9999"}, "mybox.local:35729", "http://mybox.local:35729", true, true, true},
	{"allowed origin, loopback Host", "127.0.0.1:35729", []string{"mybox.local"}, "127.0.0.1:35729", "http://mybox.local:35729", true, true, false},

	// DNS rebinding: a name the attacker controls, pointing at us.
	{"rebinding name", "127.0.0.1:35729", nil, "evil.example:35729", "http://evil.example:35729", false, false, false},
	{"localhost as a subdomain", "127.0.0.1:35729", nil, "localhost.evil.example", "http://localhost.evil.example", false, false, false},
	{"IP-looking name", "127.0.0.1:35729", nil, "127.0.0.1.nip.io", "http://127.0.0.1.nip.io", false, false, false},
	{"allowed name as a prefix", "127.0.0.1:35729", []string{"devbox.lan"}, "devbox.lan.evil.example", "http://devbox.lan.evil.example", false, false, false},

	// Cross-site WebSocket hijacking: a foreign page, our Host.
	{"foreign page", "127.0.0.1:35729", nil, "127.0.0.1:35729", "http://evil.example", true, false, false},
	{"foreign page, localhost prefix", "127.0.0.1:35729", nil, "127.0.0.1:35729", "http://localhost.evil.example", true, false, false},
	{"opaque origin", "127.0.0.1:35729", nil, "127.0.0.1:35729", "null", true, false, false},
	{"file page", "127.0.0.1:35729", nil, "127.0.0.1:35729", "file://", true, false, false},
	{"extension (on /_reloadd/ws)", "127.0.0.1:35729", nil, "127.0.0.1:35729", "chrome-extension://abc", true, false, false},
	{"garbage origin", "127.0.0.1:35729", nil, "127.0.0.1:35729", "::garbage", true, false, false},

	// Listening on a LAN address.
	{"LAN address", "192.168.1.5:35729", nil, "192.168.1.5:35729", "http://192.168.1.5:35729", true, true, true},
	{"LAN address, other port", "192.168.1.5:35729", nil, "192.168.1.5:35729", "http://192.168.1.5:8080", true, true, false},
	{"another LAN address", "192.168.1.5:35729", nil, "192.168.1.6:35729", "http://192.168.1.6:35729", false, false, false},
	{"listening on 127.0.0.1, another address", "127.0.0.1:35729", nil, "192.168.1.5:35729", "http://192.168.1.5:35729", false, false, false},
	{"a foreign IP page", "192.168.1.5:35729", nil, "192.168.1.5:35729", "http://192.168.1.9", true, false, false},

	// Listening on a name.
	{"listening name", "devbox:35729", nil, "devbox:35729", "http://devbox:35729", true, true, true},
	{"listening name with dot", "devbox.:35729", nil, "DEVBOX:35729", "http://devbox:35729", true, true, true},
	{"other name", "devbox:35729", nil, "other:35729", "http://other:35729", false, false, false},

	// Listening on all addresses: any IP literal, the origin must be the
	// address the request was sent to, still no foreign names.
	{"all addresses, by IP", "0.0.0.0:35729", nil, "192.168.1.5:35729", "http://192.168.1.5:35729", true, true, true},
	{"all addresses, IPv6", "[::]:35729", nil, "[fe80::1]:35729", "http://[fe80::1]:35729", true, true, true},
	{"all addresses, by IP, other port", "0.0.0.0:35729", nil, "192.168.1.5:35729", "http://192.168.1.5:8080", true, true, false},
	{"all addresses, other IP's page", "0.0.0.0:35729", nil, "192.168.1.5:35729", "http://192.168.1.9", true, false, false},
	{"all addresses, empty host", ":35729", nil, "10.0.0.7", "", true, true, true},
	{"all addresses, a name", "0.0.0.0:35729", nil, "evil.example:35729", "http://evil.example:35729", false, false, false},
	{"all addresses, no name", "0.0.0.0:35729", nil, ":35729", "", false, false, false},
	{"all addresses, allowed name", "0.0.0.0:35729", []string{"mybox.local."}, "mybox.local:35729", "http://mybox.local:35729", true, true, true},
}

func TestPolicy(t *testing.T) {
	for _, tc := range Cases {
		p := New(tc.Listen, tc.Allow)
		page := p.HostAllowed(tc.Host)
		ws := page && p.OriginAllowed(tc.Origin, tc.Host)
		full := ws && (tc.Origin == "" || SameOrigin(tc.Origin, tc.Host))
		if page != tc.Page || ws != tc.WS || full != tc.Full {
			t.Errorf("%s (listen %s, allow %q, Host %q, Origin %q): page %v ws %v full %v; want %v %v %v",
				tc.Name, tc.Listen, tc.Allow, tc.Host, tc.Origin, page, ws, full, tc.Page, tc.WS, tc.Full)
		}
		// CheckOrigin is OriginAllowed on a request.
		r := httptest.NewRequest("GET", "/_reloadd/ws", nil)
		r.Host = tc.Host
		if tc.Origin != "" {
			r.Header.Set("Origin", tc.Origin)
		}
		if got, want := p.CheckOrigin(r), p.OriginAllowed(tc.Origin, tc.Host); got != want {
			t.Errorf("%s: CheckOrigin %v, OriginAllowed %v", tc.Name, got, want)
		}
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"MyBox.Local.":       "mybox.local",
		"[::1]":              "::1",
		"0:0:0:0:0:0:0:1":    "::1",
		"[::ffff:127.0.0.1]": "127.0.0.1",
		"fe80::1%eth0":       "fe80::1",
		"127.0.0.1":          "127.0.0.1",
		"":                   "",
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string][2]string{
		"localhost:35729":   {"localhost", "35729"},
		"[::1]:80":          {"::1", "80"},
		"[::1]":             {"::1", ""},
		"::1":               {"::1", ""},
		"Example.COM.":      {"example.com", ""},
		":35729":            {"", "35729"},
		"example.com.:8080": {"example.com", "8080"},
	} {
		if n, p := Split(in); n != want[0] || p != want[1] {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", in, n, p, want[0], want[1])
		}
	}
}

func TestIsLoopbackName(t *testing.T) {
	for name, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "app.localhost": true, "127.0.0.1": true, "127.1.2.3": true,
		"::1": true, "[::1]": true, "::ffff:127.0.0.1": true,
		"localhost.evil.example": false, "evil-localhost": false, "192.168.1.5": false, "0.0.0.0": false, "": false,
	} {
		if got := IsLoopbackName(name); got != want {
			t.Errorf("IsLoopbackName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestIsExtensionOrigin(t *testing.T) {
	for origin, want := range map[string]bool{
		"chrome-extension://jnihajbhpnppcggbcgedagnkighmdlei":  true,
		"moz-extension://0c9e0f2c-1b0a-4c6e-9d1e-3f3b1d1f1a1a": true,
		"safari-web-extension://ABC":                           true,
		"http://chrome-extension.example":                      false,
		"chrome-extension://":                                  false,
		"null":                                                 false,
		"":                                                     false,
	} {
		if got := IsExtensionOrigin(origin); got != want {
			t.Errorf("IsExtensionOrigin(%q) = %v, want %v", origin, got, want)
		}
	}
}
