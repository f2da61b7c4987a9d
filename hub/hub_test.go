package hub

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const waitLimit = 10 * time.Second

// newServer starts a hub behind a real HTTP server.
func newServer(t *testing.T, opts Options) (*Hub, *httptest.Server) {
	t.Helper()
	if opts.Epoch == "" {
		opts.Epoch = "E1"
	}
	h := New(opts)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return h, srv
}

func dial(t *testing.T, srv *httptest.Server, header http.Header) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	conn, _, err := websocket.DefaultDialer.Dial(url, header)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readJSON(t *testing.T, conn *websocket.Conn) map[string]any {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(waitLimit))
	var m map[string]any
	if err := conn.ReadJSON(&m); err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// waitClients waits until the hub has registered n clients.
func waitClients(t *testing.T, h *Hub, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for h.Clients() != n {
		if time.Now().After(deadline) {
			t.Fatalf("clients = %d, want %d", h.Clients(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHelloOnConnect(t *testing.T) {
	h, srv := newServer(t, Options{Epoch: "abc"})
	h.SetBuild(7)
	conn := dial(t, srv, nil)
	m := readJSON(t, conn)
	if m["type"] != "hello" || m["epoch"] != "abc" || m["build"] != float64(7) {
		t.Errorf("hello = %v", m)
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
	for i := range 50 {
		if _, err := h.Broadcast(BuildComplete{Type: TypeBuildComplete, Build: int64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for _, c := range stay {
		for i := range 50 {
			m := readJSON(t, c)
			if m["build"] != float64(i+1) {
				t.Fatalf("message %d = %v", i, m)
			}
		}
	}
	waitClients(t, h, 5)
}

func TestSlowClientIsDroppedNotWaitedFor(t *testing.T) {
	h, srv := newServer(t, Options{SendQueue: 2})
	fast := dial(t, srv, nil)
	readJSON(t, fast)
	slow := dial(t, srv, nil) // never reads again
	readJSON(t, slow)
	waitClients(t, h, 2)
	// Large messages fill the slow client's socket buffers, then its queue.
	big := strings.Repeat("x", 256<<10)
	for i := range 40 {
		if _, err := h.Broadcast(BuildFailed{Type: TypeBuildFailed, Build: int64(i), Output: big}); err != nil {
			t.Fatal(err)
		}
		readJSON(t, fast)
	}
	waitClients(t, h, 1)
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
	for _, junk := range []string{"", "{", "null", `{"type":1}`, `{"type":"nope"}`, "\x00\xff"} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	c.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	good, _ := json.Marshal(Reloaded{Type: TypeReloaded, Build: 3, Load: 42})
	c.WriteMessage(websocket.TextMessage, good)
	deadline := time.Now().Add(waitLimit)
	for {
		mu.Lock()
		n := len(reports)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no reloaded report")
		}
		time.Sleep(time.Millisecond)
	}
	if len(reports) != 1 || reports[0].Build != 3 || reports[0].Load != 42 {
		t.Errorf("reports = %+v", reports)
	}
	// Still serving.
	if _, err := h.Broadcast(BuildStart{Type: TypeBuildStart, Build: 4}); err != nil {
		t.Fatal(err)
	}
	if m := readJSON(t, c); m["type"] != "build_start" {
		t.Errorf("got %v", m)
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
	c.SetReadDeadline(time.Now().Add(waitLimit))
	_, _, err := c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("read after Close: %v, want going-away close", err)
	}
	if _, err := h.Broadcast(BuildStart{}); err != ErrClosed {
		t.Errorf("Broadcast after Close: %v", err)
	}
	h.Close() // idempotent
}

func TestCrossOriginRefused(t *testing.T) {
	_, srv := newServer(t, Options{})
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	_, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {"http://evil.example"}})
	if err == nil {
		t.Fatal("cross-origin handshake accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("response = %v", resp)
	}
	dial(t, srv, http.Header{"Origin": {"http://localhost:1313"}})
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
		{"http://evil.example", "127.0.0.1", false},
		{"http://localhost.evil.example", "127.0.0.1", false},
		{"null", "127.0.0.1", false},
		{"file://", "127.0.0.1", false},
		{"chrome-extension://abc", "127.0.0.1", false},
		{"::garbage", "127.0.0.1", false},
	}
	for _, tc := range tests {
		if got := OriginAllowed(tc.origin, tc.host, allowed); got != tc.want {
			t.Errorf("OriginAllowed(%q, %q) = %v, want %v", tc.origin, tc.host, got, tc.want)
		}
	}
}
