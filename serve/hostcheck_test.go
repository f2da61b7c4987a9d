package serve

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The rule itself is table-tested in internal/hostpolicy, together with
// the WebSocket Origin check.

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
