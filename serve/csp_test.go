package serve

import (
	"net/http"
	"strings"
	"testing"
)

func TestCSPNonce(t *testing.T) {
	tests := []struct {
		policies []string
		want     string
	}{
		{nil, ""},
		{[]string{"default-src 'self'"}, ""},
		{[]string{"script-src 'self' 'nonce-r4nd0m'; style-src 'self'"}, "r4nd0m"},
		{[]string{"default-src 'nonce-d3f'"}, "d3f"},
		{[]string{"default-src 'nonce-d3f'; script-src 'self'"}, ""}, // script-src wins and lists no nonce
		{[]string{"SCRIPT-SRC 'NONCE-Abc+/='"}, "Abc+/="},
		{[]string{"img-src *", "script-src 'strict-dynamic' 'nonce-two'"}, "two"},
		{[]string{"script-src 'nonce-'"}, ""},
		{[]string{"script-src-elem 'nonce-elem'"}, "elem"},
	}
	for _, tc := range tests {
		h := http.Header{"Content-Security-Policy": tc.policies}
		if got := cspNonce(h); got != tc.want {
			t.Errorf("cspNonce(%q) = %q, want %q", tc.policies, got, tc.want)
		}
	}
}

func TestWithNonce(t *testing.T) {
	tag := ScriptTag("e", 1)
	if got := withNonce(tag, ""); string(got) != string(tag) {
		t.Errorf("no nonce changed the tag: %s", got)
	}
	got := string(withNonce(tag, `a"b`))
	if !strings.HasPrefix(got, `<script nonce="a&#34;b" src="/_reloadd/client.js?v=`) {
		t.Errorf("withNonce = %s", got)
	}
	if strings.Contains(string(tag), "nonce") {
		t.Error("withNonce modified its argument")
	}
}

// TestProxyGivesTheClientThePagesNonce: an app whose Content-Security-
// Policy admits scripts by nonce would block the injected client; it gets
// the page's nonce.
func TestProxyGivesTheClientThePagesNonce(t *testing.T) {
	up := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Header().Set("Content-Security-Policy", "script-src 'nonce-Zm9v'; object-src 'none'")
		w.Write([]byte(`<html><head><script nonce="Zm9v">1</script></head><body></body></html>`))
	}))
	e := newProxyEnv(t, up.URL, ProxyOptions{})
	_, body := e.do(t, "GET", "/", navigation, nil)
	if !strings.Contains(body, `<script nonce="Zm9v" src="/_reloadd/client.js?v=`) {
		t.Errorf("the client was injected without the page's nonce:\n%s", body)
	}
}
