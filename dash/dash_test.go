package dash

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPageWeight: the page stays within its budget, uncompressed.
func TestPageWeight(t *testing.T) {
	if len(Page) > MaxPageSize {
		t.Errorf("the dashboard is %d bytes, over its %d-byte budget", len(Page), MaxPageSize)
	}
}

// TestPageIsSelfContained: nothing is loaded from elsewhere (it works
// offline), and the policy allows its own inline script and style only.
func TestPageIsSelfContained(t *testing.T) {
	page := string(Page)
	for _, bad := range []string{"http://", "https://", "<script src", "<link rel=\"stylesheet\"", "@import", "//cdn"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q", bad)
		}
	}
	if strings.Count(page, "<script>") != 1 || strings.Count(page, "<style>") != 1 {
		t.Error("the page must have exactly one inline <script> and one <style> (their hashes are the CSP)")
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/_reloadd/", nil))
	h := rec.Header()
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", h)
	}
	pol := h.Get("Content-Security-Policy")
	if !strings.Contains(pol, "script-src 'sha256-") || !strings.Contains(pol, "connect-src 'self'") || strings.Contains(pol, "unsafe") {
		t.Errorf("CSP %q", pol)
	}
	if rec.Body.Len() != len(Page) {
		t.Errorf("served %d bytes, the page is %d", rec.Body.Len(), len(Page))
	}
}
