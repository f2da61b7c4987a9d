package hub

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newServer starts a hub behind a real HTTP server: reloadd's protocol at
// /, LiveReload at /livereload.
func newServer(t testing.TB, opts Options) (*Hub, *httptest.Server) {
	t.Helper()
	if opts.Epoch == "" {
		opts.Epoch = "E1"
	}
	h := New(opts)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle(LiveReloadPath, h.LiveReload())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return h, srv
}

func wsURL(srv *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + path
}

func dialPath(t testing.TB, srv *httptest.Server, path string, header http.Header) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(wsURL(srv, path), header)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func dial(t testing.TB, srv *httptest.Server, header http.Header) *websocket.Conn {
	t.Helper()
	return dialPath(t, srv, "/", header)
}

func readJSON(t testing.TB, conn *websocket.Conn) map[string]any {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
	var m map[string]any
	if err := conn.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// waitClients waits until the hub has registered n clients.
func waitClients(t testing.TB, h *Hub, n int) {
	t.Helper()
	testenv.Eventually(t, "the hub to count the clients", func() bool { return h.Clients() == n })
}

func TestHelloOnConnect(t *testing.T) {
	h, srv := newServer(t, Options{Epoch: "abc"})
	h.SetBuild(7)
	conn := dial(t, srv, nil)
	m := readJSON(t, conn)
	if m["type"] != "hello" || m["epoch"] != "abc" || m["build"] != float64(7) {
		t.Errorf("hello = %v", m)
	}
	if h.Build() != 7 || h.Epoch() != "abc" {
		t.Errorf("Build, Epoch = %d, %q", h.Build(), h.Epoch())
	}
}

func TestBuildCompleteReachesEveryClient(t *testing.T) {
	h, srv := newServer(t, Options{})
	const n = 20
	conns := make([]*websocket.Conn, n)
	for i := range conns {
		conns[i] = dial(t, srv, nil)
		readJSON(t, conns[i]) // hello
	}
	waitClients(t, h, n)
	msg := BuildComplete{Type: TypeBuildComplete, Build: 1, Paths: []string{"/x/index.html"}, URLs: []string{"/index.html"}, ChangedAt: 123}
	got, err := h.Broadcast(msg)
	if err != nil || got != n {
		t.Fatalf("Broadcast = %d, %v; want %d", got, err, n)
	}
	for _, c := range conns {
		m := readJSON(t, c)
		if m["type"] != "build_complete" || m["build"] != float64(1) || m["css_only"] != false || m["changed_at"] != float64(123) {
			t.Errorf("got %v", m)
		}
	}
}

func TestClientLeavingMidBroadcastDoesNotDisturbOthers(t *testing.T) {
	h, srv := newServer(t, Options{})
	var stay []*websocket.Conn
	for range 5 {
		c := dial(t, srv, nil)
		readJSON(t, c)
		stay = append(stay, c)
	}
	var leave []*websocket.Conn
	for range 5 {
		c := dial(t, srv, nil)
		readJSON(t, c)
		leave = append(leave, c)
	}
	waitClients(t, h, 10)
	var wg sync.WaitGroup
	for _, c := range leave {
		wg.Go(func() { c.Close() })
	}
	// Fewer messages than the send queue holds: nobody is too slow.
	const msgs = DefaultSendQueue - 2
	for i := range msgs {
		if _, err := h.Broadcast(BuildStart{Type: TypeBuildStart, Build: int64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for _, c := range stay {
		for i := range msgs {
			m := readJSON(t, c)
			if m["build"] != float64(i+1) {
				t.Fatalf("message %d = %v", i, m)
			}
		}
	}
	waitClients(t, h, 5)
}

func TestSlowClientIsDroppedNotWaitedFor(t *testing.T) {
	// A write timeout of an hour: if the hub waited for the slow client,
	// the test would hang.
	h, srv := newServer(t, Options{SendQueue: 2, WriteTimeout: time.Hour})
	fast := dial(t, srv, nil)
	readJSON(t, fast)
	slow := dial(t, srv, nil) // never reads again
	readJSON(t, slow)
	waitClients(t, h, 2)
	// Large messages fill the slow client's socket buffers, then its queue.
	big := strings.Repeat("x", 256<<10)
	for i := range 40 {
		if _, err := h.Broadcast(BuildStart{Type: TypeBuildStart, Build: int64(i), Paths: []string{big}}); err != nil {
			t.Fatal(err)
		}
		readJSON(t, fast)
	}
	waitClients(t, h, 1)
	// The dropped client's connection was closed, not left hanging.
	slow.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
	for {
		if _, _, err := slow.ReadMessage(); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the slow client's connection stayed open")
			}
			break
		}
	}
}

func TestGarbageFromClientIsIgnored(t *testing.T) {
	var mu sync.Mutex
	var reports []Reloaded
	h, srv := newServer(t, Options{OnReloaded: func(r Reloaded) {
		mu.Lock()
		reports = append(reports, r)
		mu.Unlock()
	}})
	c := dial(t, srv, nil)
	readJSON(t, c)
	for _, junk := range []string{"", "{", "null", "[]", `{"type":1}`, `{"type":"nope"}`, "\x00\xff",
		`{"type":"reloaded","build":"x"}`, `{"type":"reloaded","load":1e300}`} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	c.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	good, _ := json.Marshal(Reloaded{Type: TypeReloaded, Build: 3, Load: 42})
	c.WriteMessage(websocket.TextMessage, good)
	testenv.Eventually(t, "the reloaded report", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(reports) > 0
	})
	mu.Lock()
	if len(reports) != 1 || reports[0].Build != 3 || reports[0].Load != 42 {
		t.Errorf("reports = %+v", reports)
	}
	mu.Unlock()
	// Still serving.
	if _, err := h.Broadcast(BuildStart{Type: TypeBuildStart, Build: 4}); err != nil {
		t.Fatal(err)
	}
	if m := readJSON(t, c); m["type"] != "build_start" {
		t.Errorf("got %v", m)
	}
}

func TestReloadedReportIsRebasedOnServerClock(t *testing.T) {
	got := make(chan Reloaded, 1)
	h, srv := newServer(t, Options{OnReloaded: func(r Reloaded) { got <- r }})
	c := dial(t, srv, nil)
	readJSON(t, c)
	waitClients(t, h, 1)
	changed := time.Now().Add(-time.Second)
	before := time.Now()
	h.Broadcast(BuildComplete{Type: TypeBuildComplete, Build: 9, ChangedAt: changed.UnixMilli()})
	after := time.Now()
	readJSON(t, c)
	// A browser whose clock is 4 s ahead: it thinks the message arrived
	// 5000 ms after the change, and the page loaded 60 ms later.
	c.WriteJSON(Reloaded{Type: TypeReloaded, Build: 9, Received: 5000, DOMContentLoaded: 5040, Load: 5060})
	var r Reloaded
	select {
	case r = <-got:
	case <-time.After(testenv.WaitLimit):
		t.Fatal("no report")
	}
	// The server's figure is sent-at minus changed_at, which is in whole
	// milliseconds (rounded down): up to 1 ms more than the exact span.
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	lo := ms(before.Sub(changed)) - 0.01
	hi := ms(after.Sub(changed)) + 1.01
	if r.Received < lo || r.Received > hi {
		t.Errorf("received = %.3f, want the server's %.3f..%.3f", r.Received, lo, hi)
	}
	if d := r.Load - r.Received; d < 59.9 || d > 60.1 {
		t.Errorf("load - received = %.2f, want 60 (load %.1f)", d, r.Load)
	}
	if d := r.DOMContentLoaded - r.Received; d < 39.9 || d > 40.1 {
		t.Errorf("dom_content_loaded - received = %.2f, want 40", d)
	}

	// An unknown build is passed on as measured.
	c.WriteJSON(Reloaded{Type: TypeReloaded, Build: 77, Received: 5000, Load: 5060})
	select {
	case r = <-got:
	case <-time.After(testenv.WaitLimit):
		t.Fatal("no report")
	}
	if r.Load != 5060 || r.Received != 5000 {
		t.Errorf("unknown build rebased: %+v", r)
	}
}

func TestOversizedFrameClosesOnlyThatClient(t *testing.T) {
	h, srv := newServer(t, Options{})
	good := dial(t, srv, nil)
	readJSON(t, good)
	bad := dial(t, srv, nil)
	readJSON(t, bad)
	waitClients(t, h, 2)
	bad.WriteMessage(websocket.TextMessage, make([]byte, 1<<20))
	waitClients(t, h, 1)
	bad.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
	if _, _, err := bad.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Errorf("oversized frame: %v, want close 1009", err)
	}
	h.Broadcast(BuildStart{Type: TypeBuildStart, Build: 1})
	if m := readJSON(t, good); m["type"] != "build_start" {
		t.Errorf("got %v", m)
	}
}

func TestCloseSendsGoingAway(t *testing.T) {
	h := New(Options{Epoch: "e"})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := dial(t, srv, nil)
	readJSON(t, c)
	waitClients(t, h, 1)
	h.Close()
	c.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("read after Close: %v, want going-away close", err)
	}
	if _, err := h.Broadcast(BuildStart{}); err != ErrClosed {
		t.Errorf("Broadcast after Close: %v", err)
	}
	h.SetBuild(3) // returns at once after Close
	h.Close()     // idempotent
	_, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, "/"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("dial after Close: %v, %v; want 503", err, resp)
	}
}

// A client that stopped reading with a write in flight cannot hold Close up
// for the write timeout.
func TestCloseDoesNotWaitForStalledClient(t *testing.T) {
	h := New(Options{Epoch: "e", WriteTimeout: time.Hour})
	srv := httptest.NewServer(h)
	defer srv.Close()
	stalled := newStalledClient(t, srv.URL)
	waitClients(t, h, 1)
	stalled.fill(t, h)
	closed := make(chan struct{})
	go func() {
		h.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(testenv.WaitLimit):
		t.Fatal("Close waits for a stalled client")
	}
}

func TestLastFailureIsReplayedUntilSuccess(t *testing.T) {
	// The smallest queue still takes hello and the replayed failure.
	h, srv := newServer(t, Options{SendQueue: 1})
	h.Broadcast(BuildFailed{Type: TypeBuildFailed, Build: 1, ExitCode: 2, Output: "syntax error"})
	c := dial(t, srv, nil)
	if m := readJSON(t, c); m["type"] != "hello" {
		t.Fatalf("first message %v", m)
	}
	if m := readJSON(t, c); m["type"] != "build_failed" || m["output"] != "syntax error" {
		t.Errorf("second message %v, want the last build_failed", m)
	}
	h.Broadcast(BuildComplete{Type: TypeBuildComplete, Build: 2})
	readJSON(t, c)
	c.Close()
	waitClients(t, h, 0)
	// A new client gets hello only: prove it by what arrives next.
	c2 := dial(t, srv, nil)
	readJSON(t, c2)
	waitClients(t, h, 1)
	h.Broadcast(BuildStart{Type: TypeBuildStart, Build: 3})
	if m := readJSON(t, c2); m["type"] != "build_start" {
		t.Errorf("after a success, a new client got %v", m)
	}

	// SetBuild forgets the failure too.
	h.Broadcast(BuildFailed{Type: TypeBuildFailed, Build: 4})
	h.SetBuild(5)
	c3 := dial(t, srv, nil)
	readJSON(t, c3)
	waitClients(t, h, 2)
	h.Broadcast(BuildStart{Type: TypeBuildStart, Build: 6})
	if m := readJSON(t, c3); m["type"] != "build_start" {
		t.Errorf("after SetBuild, a new client got %v", m)
	}
}

func TestCrossOriginRefused(t *testing.T) {
	_, srv := newServer(t, Options{})
	for _, path := range []string{"/", LiveReloadPath} {
		for _, origin := range []string{"http://evil.example", "null", "http://localhost.evil.example"} {
			_, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, path), http.Header{"Origin": {origin}})
			if err == nil {
				t.Errorf("%s: handshake from %s accepted", path, origin)
				continue
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s from %s: response = %v", path, origin, resp)
			}
		}
	}
	dial(t, srv, http.Header{"Origin": {"http://localhost:1313"}})
	dial(t, srv, nil)

	// Extension origins: LiveReload only.
	ext := http.Header{"Origin": {"chrome-extension://jnihajbhpnppcggbcgedagnkighmdlei"}}
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, "/"), ext); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("extension origin accepted on reloadd's endpoint: %v", err)
	}
	dialPath(t, srv, LiveReloadPath, ext)
}

func TestOriginAllowed(t *testing.T) {
	allowed := map[string]bool{"devbox.lan": true}
	tests := []struct {
		origin, host string
		want         bool
	}{
		{"http://127.0.0.1:35729", "127.0.0.1", true},
		{"http://localhost:3000", "127.0.0.1", true},
		{"http://[::1]:8080", "127.0.0.1", true},
		{"http://app.localhost", "127.0.0.1", true},
		{"https://127.0.0.5", "127.0.0.1", true},
		{"http://192.168.1.5:35729", "192.168.1.5", true},
		{"http://192.168.1.6:35729", "192.168.1.5", false},
		{"http://devbox.lan:1313", "127.0.0.1", true},
		{"http://DEVBOX.LAN:1313", "127.0.0.1", true},
		{"http://evil.example", "127.0.0.1", false},
		{"http://localhost.evil.example", "127.0.0.1", false},
		{"http://127.0.0.1.nip.io", "127.0.0.1", false},
		{"null", "127.0.0.1", false},
		{"file://", "127.0.0.1", false},
		{"chrome-extension://abc", "127.0.0.1", false},
		{"::garbage", "127.0.0.1", false},
		{"", "127.0.0.1", false},
	}
	for _, tc := range tests {
		if got := OriginAllowed(tc.origin, tc.host, allowed); got != tc.want {
			t.Errorf("OriginAllowed(%q, %q) = %v, want %v", tc.origin, tc.host, got, tc.want)
		}
	}
}

func TestOriginCheckerUnspecifiedListenUsesRequestHost(t *testing.T) {
	check := OriginChecker("0.0.0.0:35729", nil)
	tests := []struct {
		host, origin string
		want         bool
	}{
		{"192.168.1.5:35729", "http://192.168.1.5:35729", true},
		{"192.168.1.5:35729", "http://192.168.1.5:8080", true},
		{"192.168.1.5:35729", "http://192.168.1.9", false},
		{"192.168.1.5:35729", "", true},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "http://"+tc.host+"/_reloadd/ws", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := check(r); got != tc.want {
			t.Errorf("Host %s Origin %q: %v, want %v", tc.host, tc.origin, got, tc.want)
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

// connsSnapshot lists the connections the hub has not finished with.
func (h *Hub) connsSnapshot() []*websocket.Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*websocket.Conn
	for c := range h.conns {
		out = append(out, c)
	}
	return out
}
