package hub

import (
	"errors"
	"fmt"
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
	h.Complete(BuildComplete{Build: 7}) // no client yet: only hello shows it
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
	msg := BuildComplete{Build: 1, Paths: []string{"/x/index.html"}, URLs: []string{"/index.html"}, ChangedAt: 123}
	got, err := h.Complete(msg)
	if err != nil || got != n {
		t.Fatalf("Complete = %d, %v; want %d", got, err, n)
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
		if _, err := h.Start(int64(i+1), nil); err != nil {
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
		if _, err := h.Start(int64(i), []string{big}); err != nil {
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

// fakeClock is the hub's clock in tests of timing reports: time moves only
// when the test says.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// reportSink collects the reports the hub passes on.
type reportSink struct {
	mu  sync.Mutex
	got []Reloaded
}

func (s *reportSink) add(r Reloaded) {
	s.mu.Lock()
	s.got = append(s.got, r)
	s.mu.Unlock()
}

func (s *reportSink) reports() []Reloaded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Reloaded(nil), s.got...)
}

// sync sends a believable report for build on c, last in line behind
// anything sent before it, and waits until it is passed on: afterwards the
// reader has dealt with everything c sent earlier.
func (s *reportSink) sync(t *testing.T, c *websocket.Conn, build int64, load float64) {
	t.Helper()
	n := len(s.reports())
	if err := c.WriteJSON(Reloaded{Type: TypeReloaded, Build: build, Load: load}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the marker report", func() bool {
		r := s.reports()
		return len(r) > n && r[len(r)-1].Load == load
	})
}

func TestGarbageFromClientIsIgnored(t *testing.T) {
	clock := newFakeClock()
	var sink reportSink
	h, srv := newServer(t, Options{OnReloaded: sink.add, now: clock.Now})
	c := dial(t, srv, nil)
	readJSON(t, c)
	waitClients(t, h, 1)
	h.Complete(BuildComplete{Build: 3, ChangedAt: clock.Now().Add(-100 * time.Millisecond).UnixMilli()})
	readJSON(t, c)
	for _, junk := range []string{"", "{", "null", "[]", `{"type":1}`, `{"type":"nope"}`, "\x00\xff",
		`{"type":"reloaded","build":"x"}`, `{"type":"reloaded","build":77,"load":1}`} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(junk)); err != nil {
			t.Fatal(err)
		}
	}
	c.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3})
	sink.sync(t, c, 3, 42)
	if r := sink.reports(); len(r) != 1 || r[0].Build != 3 || r[0].Load != 42 {
		t.Errorf("reports = %+v", r)
	}
	// Still serving.
	if _, err := h.Start(4, nil); err != nil {
		t.Fatal(err)
	}
	if m := readJSON(t, c); m["type"] != "build_start" {
		t.Errorf("got %v", m)
	}
}

func TestReloadedReportIsRebasedOnServerClock(t *testing.T) {
	clock := newFakeClock()
	var sink reportSink
	h, srv := newServer(t, Options{OnReloaded: sink.add, now: clock.Now})
	c := dial(t, srv, nil)
	readJSON(t, c)
	waitClients(t, h, 1)
	// The change was seen a second before the build_complete went out.
	h.Complete(BuildComplete{Build: 9, ChangedAt: clock.Now().Add(-time.Second).UnixMilli()})
	readJSON(t, c)
	clock.Add(100 * time.Millisecond) // the page takes 100 ms to reload and report
	// A browser whose clock is 4 s ahead: it thinks the message arrived
	// 5000 ms after the change, and the page loaded 60 ms later.
	c.WriteJSON(Reloaded{Type: TypeReloaded, Build: 9, Received: 5000, DOMContentLoaded: 5040, Load: 5060})
	testenv.Eventually(t, "the report", func() bool { return len(sink.reports()) == 1 })
	if r := sink.reports()[0]; r.Received != 1000 || r.DOMContentLoaded != 1040 || r.Load != 1060 {
		t.Errorf("report %+v, want received 1000 (the server's), dom_content_loaded 1040, load 1060", r)
	}
}

// TestTimingReportsMustBeBelievable: issue 13's forged reports — for builds
// never sent, repeated, with absurd times, or in a flood — are dropped;
// what is passed on is one report per tab and build, in bounds.
func TestTimingReportsMustBeBelievable(t *testing.T) {
	clock := newFakeClock()
	var sink reportSink
	h, srv := newServer(t, Options{OnReloaded: sink.add, now: clock.Now})
	send := func(c *websocket.Conn, r Reloaded) {
		t.Helper()
		r.Type = TypeReloaded
		if err := c.WriteJSON(r); err != nil {
			t.Fatal(err)
		}
	}
	const tabs = 10
	conns := make([]*websocket.Conn, tabs)
	for i := range conns {
		conns[i] = dial(t, srv, nil)
		readJSON(t, conns[i])
	}
	waitClients(t, h, tabs)
	h.Complete(BuildComplete{Build: 1, ChangedAt: clock.Now().Add(-50 * time.Millisecond).UnixMilli()})
	for _, c := range conns {
		readJSON(t, c)
	}
	clock.Add(50 * time.Millisecond) // 100 ms since the change
	c := conns[0]

	dropped := func(n int64) {
		t.Helper()
		testenv.Eventually(t, fmt.Sprintf("%d reports to be dropped", n), func() bool { return h.dropped.Load() == n })
	}
	send(c, Reloaded{Build: 2, Load: 60})         // a build that does not exist
	send(c, Reloaded{Build: 1, Load: 86_400_000}) // a day: issue 13's p50
	dropped(2)
	sink.sync(t, conns[1], 1, 70)                               // a believable one
	send(conns[1], Reloaded{Build: 1, Load: 71})                // the same tab again
	send(conns[2], Reloaded{Build: 1, Load: 110.5})             // later than now (100 ms + slack)
	send(conns[3], Reloaded{Build: 1, Load: -5})                // before the change
	send(conns[4], Reloaded{Build: 1, Received: 10, Load: 1e9}) // re-based, still too late
	dropped(6)
	if r := sink.reports(); len(r) != 1 || r[0].Load != 70 {
		t.Fatalf("reports %+v, want only the believable one", r)
	}
	sink.sync(t, conns[5], 1, 80)

	// A flood of fresh connections, each told about build 1 in its hello:
	// no more reports for build 1 than the tabs it was sent to, whoever
	// sends them.
	const flood = 3 * tabs
	for range flood {
		f := dial(t, srv, nil)
		readJSON(t, f)
		send(f, Reloaded{Build: 1, Load: 90})
	}
	for _, x := range conns[6:] {
		send(x, Reloaded{Build: 1, Load: 95})
	}
	passed := tabs - 2 // 70 and 80 spent two of the budget
	dropped(6 + flood + int64(len(conns[6:])) - int64(passed))
	if n := len(sink.reports()); n != tabs {
		t.Errorf("%d reports passed on for build 1, want one per tab it was sent to (%d)", n, tabs)
	}
}

func TestSentLogAccept(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	changed := t0.Add(-time.Second).UnixMilli() // build 5 went out 1 s after the change
	tests := []struct {
		name   string
		r      Reloaded
		after  time.Duration // report arrives this long after sending
		want   bool
		wantR  Reloaded // after re-basing, when accepted
		budget int
	}{
		{"plain", Reloaded{Build: 5, Load: 1050}, 100 * time.Millisecond, true, Reloaded{Build: 5, Load: 1050}, 1},
		{"re-based", Reloaded{Build: 5, Received: 5000, NavigationStart: 5010, DOMContentLoaded: 5040, Load: 5060}, 100 * time.Millisecond, true,
			Reloaded{Build: 5, Received: 1000, NavigationStart: 1010, DOMContentLoaded: 1040, Load: 1060}, 1},
		{"re-based, slow clock", Reloaded{Build: 5, Received: 3, Load: 63}, 100 * time.Millisecond, true, Reloaded{Build: 5, Received: 1000, Load: 1060}, 1},
		{"exactly now", Reloaded{Build: 5, Load: 1100}, 100 * time.Millisecond, true, Reloaded{Build: 5, Load: 1100}, 1},
		{"within the slack", Reloaded{Build: 5, Load: 1109}, 100 * time.Millisecond, true, Reloaded{Build: 5, Load: 1109}, 1},
		{"in the future", Reloaded{Build: 5, Load: 1111}, 100 * time.Millisecond, false, Reloaded{}, 1},
		{"re-based into the future", Reloaded{Build: 5, Received: 5000, Load: 5200}, 100 * time.Millisecond, false, Reloaded{}, 1},
		{"negative", Reloaded{Build: 5, DOMContentLoaded: -1, Load: 1050}, 100 * time.Millisecond, false, Reloaded{}, 1},
		{"a day", Reloaded{Build: 5, Load: 86_400_000}, 100 * time.Millisecond, false, Reloaded{}, 1},
		{"NaN-free infinity", Reloaded{Build: 5, Load: 1e308}, 100 * time.Millisecond, false, Reloaded{}, 1},
		{"unknown build", Reloaded{Build: 6, Load: 1050}, 100 * time.Millisecond, false, Reloaded{}, 1},
		{"budget spent", Reloaded{Build: 5, Load: 1050}, 100 * time.Millisecond, false, Reloaded{}, 0},
		{"after the window", Reloaded{Build: 5, Load: 1050}, reportWindow + time.Millisecond, false, Reloaded{}, 1},
		{"at the window's end", Reloaded{Build: 5, Load: 1050}, reportWindow, true, Reloaded{Build: 5, Load: 1050}, 1},
	}
	for _, tc := range tests {
		var l sentLog
		l.record(4, changed-500, t0.Add(-time.Second), 9)
		l.record(5, changed, t0, tc.budget)
		r := tc.r
		got := l.accept(&r, t0.Add(tc.after))
		if got != tc.want || (got && r != tc.wantR) {
			t.Errorf("%s: accept = %v, %+v; want %v, %+v", tc.name, got, r, tc.want, tc.wantR)
		}
		if got && l.accept(&Reloaded{Build: 5, Load: 1050}, t0.Add(tc.after)) {
			t.Errorf("%s: a budget of 1 took two reports", tc.name)
		}
	}
	// A build sent without a change time (none known) cannot be measured.
	var l sentLog
	l.record(7, 0, t0, 5)
	if l.accept(&Reloaded{Build: 7, Load: 10}, t0) {
		t.Error("a build without changed_at accepted a report")
	}
}

// TestReportFloodIsRateLimited: a flood that passes every other check (many
// tabs at once) reaches OnReloaded at most reportBurst times at once.
func TestReportFloodIsRateLimited(t *testing.T) {
	clock := newFakeClock()
	var sink reportSink
	h, srv := newServer(t, Options{OnReloaded: sink.add, now: clock.Now})
	const tabs = reportBurst + 20
	raiseFDLimit(t, 2*tabs+100)
	conns := make([]*websocket.Conn, tabs)
	for i := range conns {
		conns[i] = dial(t, srv, nil)
		readJSON(t, conns[i])
	}
	waitClients(t, h, tabs)
	h.Complete(BuildComplete{Build: 1, ChangedAt: clock.Now().Add(-50 * time.Millisecond).UnixMilli()})
	for _, c := range conns {
		readJSON(t, c)
		if err := c.WriteJSON(Reloaded{Type: TypeReloaded, Build: 1, Load: 40}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, "every report to be dealt with", func() bool {
		return len(sink.reports())+int(h.dropped.Load()) == tabs
	})
	if n := len(sink.reports()); n != reportBurst {
		t.Errorf("%d reports passed on at once, want the burst %d", n, reportBurst)
	}
}

func TestBucket(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	b := bucket{rate: 2, burst: 3}
	steps := []struct {
		at   time.Duration
		want bool
	}{
		{0, true}, {0, true}, {0, true}, {0, false}, // the burst
		{250 * time.Millisecond, false}, // half a token
		{500 * time.Millisecond, true},  // one
		{500 * time.Millisecond, false},
		{-time.Second, false},    // a clock going back refills nothing
		{10 * time.Second, true}, // full again, never beyond the burst
		{10 * time.Second, true}, {10 * time.Second, true}, {10 * time.Second, false},
	}
	for i, s := range steps {
		if got := b.allow(t0.Add(s.at)); got != s.want {
			t.Errorf("step %d (+%v): %v, want %v", i, s.at, got, s.want)
		}
	}
}

func TestReportable(t *testing.T) {
	var r reportable
	r.add(0) // no build yet: nothing to report on
	if r.take(0) {
		t.Error("took build 0")
	}
	for b := int64(1); b <= reportRing+1; b++ {
		r.add(b)
	}
	r.add(reportRing + 1) // twice: still one report
	if r.take(1) {
		t.Error("the oldest build was not forgotten")
	}
	if !r.take(reportRing+1) || r.take(reportRing+1) {
		t.Error("a build is reported on exactly once")
	}
	if !r.take(2) || r.take(99) {
		t.Error("take")
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
	h.Start(1, nil)
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
	if _, err := h.Start(0, nil); err != ErrClosed {
		t.Errorf("Start after Close: %v", err)
	}
	if _, err := h.Complete(BuildComplete{Build: 3}); err != ErrClosed {
		t.Errorf("Complete after Close: %v", err)
	}
	h.Close() // idempotent
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
	h.Failed(BuildFailed{Build: 1, ExitCode: 2, Output: "syntax error"})
	c := dial(t, srv, nil)
	if m := readJSON(t, c); m["type"] != "hello" {
		t.Fatalf("first message %v", m)
	}
	if m := readJSON(t, c); m["type"] != "build_failed" || m["output"] != "syntax error" {
		t.Errorf("second message %v, want the last build_failed", m)
	}
	h.Complete(BuildComplete{Build: 2})
	readJSON(t, c)
	c.Close()
	waitClients(t, h, 0)
	// A new client gets hello only: prove it by what arrives next.
	c2 := dial(t, srv, nil)
	readJSON(t, c2)
	waitClients(t, h, 1)
	h.Start(3, nil)
	if m := readJSON(t, c2); m["type"] != "build_start" {
		t.Errorf("after a success, a new client got %v", m)
	}

	// The replayed failure is what each client may see: a page of
	// another origin gets the notice, not the output.
	h.Failed(BuildFailed{Build: 4, ExitCode: 1, Output: "secret=hunter2"})
	other := dial(t, srv, http.Header{"Origin": {"http://localhost:1313"}})
	readJSON(t, other)
	if m := readJSON(t, other); m["type"] != "build_failed" || m["output"] != hiddenOutput {
		t.Errorf("replayed to another origin: %v", m)
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

// TestNoClientMissesACompletedBuild: Complete records the build id in the
// same owner step as the broadcast, so a client connecting meanwhile either
// gets the new id in its hello or is sent the build_complete — never
// neither (it would then keep a stale page).
func TestNoClientMissesACompletedBuild(t *testing.T) {
	h, srv := newServer(t, Options{})
	for build := int64(1); build <= 20; build++ {
		var wg sync.WaitGroup
		conns := make([]*websocket.Conn, 5)
		for i := range conns {
			wg.Go(func() {
				c, _, err := websocket.DefaultDialer.Dial(wsURL(srv, "/"), nil)
				if err != nil {
					t.Error(err)
					return
				}
				conns[i] = c
			})
		}
		if _, err := h.Complete(BuildComplete{Build: build}); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		for _, c := range conns {
			if c == nil {
				continue
			}
			hello := readJSON(t, c)
			if hello["build"] != float64(build) {
				if m := readJSON(t, c); m["type"] != TypeBuildComplete || m["build"] != float64(build) {
					t.Fatalf("hello said build %v, then %v; want build_complete %d", hello["build"], m, build)
				}
			}
			c.Close()
		}
		if h.Build() != build {
			t.Fatalf("Build() = %d, want %d", h.Build(), build)
		}
	}
}
