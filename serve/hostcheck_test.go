package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHostAllowed(t *testing.T) {
	allowed := map[string]bool{"devbox.lan": true}
	tests := []struct {
		host, listen string
		want         bool
	}{
		{"127.0.0.1:35729", "127.0.0.1", true},
		{"localhost:35729", "127.0.0.1", true},
		{"LOCALHOST", "127.0.0.1", true},
		{"localhost.:35729", "127.0.0.1", true},
		{"app.localhost:35729", "127.0.0.1", true},
		{"127.0.0.2", "127.0.0.1", true},
		{"[::1]:35729", "127.0.0.1", true},
		{"devbox.lan:35729", "127.0.0.1", true},
		{"DevBox.LAN.", "127.0.0.1", true},
		{"", "127.0.0.1", true},
		// DNS rebinding: a name the attacker controls, pointing at us.
		{"evil.example:35729", "127.0.0.1", false},
		{"localhost.evil.example", "127.0.0.1", false},
		{"127.0.0.1.nip.io", "127.0.0.1", false},
		{"devbox.lan.evil.example", "127.0.0.1", false},
		// Another address of this machine, not the one we listen on.
		{"192.168.1.5:35729", "127.0.0.1", false},
		// Listening on a LAN address.
		{"192.168.1.5:35729", "192.168.1.5", true},
		{"192.168.1.6:35729", "192.168.1.5", false},
		{"evil.example", "192.168.1.5", false},
		// Listening on a name.
		{"devbox:35729", "devbox", true},
		{"other:35729", "devbox", false},
		// Listening everywhere: any IP literal, still no foreign names.
		{"192.168.1.5:35729", "0.0.0.0", true},
		{"[fe80::1]:35729", "::", true},
		{"10.0.0.7", "", true},
		{"evil.example:35729", "0.0.0.0", false},
		{"evil.example", "", false},
		{":35729", "0.0.0.0", false},
	}
	for _, tc := range tests {
		if got := HostAllowed(tc.host, tc.listen, allowed); got != tc.want {
			t.Errorf("HostAllowed(%q, %q) = %v, want %v", tc.host, tc.listen, got, tc.want)
		}
	}
}

func TestHostCheckRefusesForeignHosts(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "site") })
	h := HostCheck(ok, "127.0.0.1:35729", []string{"DevBox.lan"})
	for host, want := range map[string]int{
		"localhost:35729":    http.StatusOK,
		"devbox.lan:35729":   http.StatusOK,
		"evil.example:35729": http.StatusForbidden,
		"attacker.test":      http.StatusForbidden,
	} {
		for _, path := range []string{"/", "/_reloadd/status", "/_reloadd/ws", "/livereload"} {
			r := httptest.NewRequest("GET", path, nil)
			r.Host = host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != want {
				t.Errorf("Host %s %s: %d, want %d", host, path, rec.Code, want)
			}
			if want == http.StatusForbidden {
				body := rec.Body.String()
				if strings.Contains(body, "site") || !strings.Contains(body, "-allow-host attacker.test") && !strings.Contains(body, "-allow-host evil.example") {
					t.Errorf("Host %s: body %q", host, body)
				}
				if rec.Header().Get("Access-Control-Allow-Origin") != "" {
					t.Error("refusal carries a CORS header")
				}
			}
		}
	}
}
