package hub

import (
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/reloadd/reloadd/internal/testenv"
)

func dialDashboard(t *testing.T, h *Hub, srvURL string, origin string) *websocket.Conn {
	t.Helper()
	before := h.Dashboards()
	header := http.Header{}
	if origin != "" {
		header.Set("Origin", origin)
	}
	c, _, err := websocket.DefaultDialer.Dial("ws"+srvURL[len("http"):]+"/?"+DashboardQuery+"=1", header)
	if err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	testenv.Eventually(t, "the dashboard to register", func() bool { return h.Dashboards() == before+1 })
	return c
}

// TestDashboardIsNotAClientToReload: a dashboard gets hello, the client
// count and what the daemon sends it; never a build message, never the
// last failure; it is not counted as a client, not in what Complete
// returns, and its reports are not believed.
func TestDashboardIsNotAClientToReload(t *testing.T) {
	clock := newFakeClock()
	var sink reportSink
	h, srv := newServer(t, Options{OnReloaded: sink.add, now: clock.Now})
	own := "http://" + srv.Listener.Addr().String()

	dash := dialDashboard(t, h, srv.URL, own)
	if m := readJSON(t, dash); m["type"] != "hello" || m["epoch"] != "E1" {
		t.Fatalf("dashboard's first message = %v, want hello", m)
	}
	if h.Clients() != 0 || h.Browsers() != 0 {
		t.Errorf("with only a dashboard: Clients %d, Browsers %d, want 0, 0", h.Clients(), h.Browsers())
	}
	page := dial(t, srv, http.Header{"Origin": {own}})
	readJSON(t, page) // hello
	waitClients(t, h, 1)
	if m := readJSON(t, dash); m["type"] != "clients" || m["clients"] != float64(1) {
		t.Errorf("after a page connected the dashboard got %v, want clients 1", m)
	}

	if n, _ := h.Failed(BuildFailed{Build: 1, ExitCode: 2, Output: "boom"}); n != 1 {
		t.Errorf("Failed reached %d clients, want 1 (the page)", n)
	}
	readJSON(t, page)
	late := dialDashboard(t, h, srv.URL, "") // a local program: the full view too
	if m := readJSON(t, late); m["type"] != "hello" {
		t.Fatalf("late dashboard's first message = %v", m)
	}
	h.Start(2, []string{"/site/index.html"})
	changed := clock.Now().Add(-50 * time.Millisecond).UnixMilli()
	if n, _ := h.Complete(BuildComplete{Build: 2, Paths: []string{"/site/index.html"}, ChangedAt: changed}); n != 1 {
		t.Errorf("Complete reached %d clients, want 1 (the page)", n)
	}
	// A dashboard's report is not a browser's: dropped, and it does not
	// spend the page's budget.
	dash.WriteJSON(Reloaded{Type: TypeReloaded, Build: 2, Received: 10, Load: 20})
	if n, err := h.Dashboard([]byte(`{"type":"save","build":2}`)); err != nil || n != 2 {
		t.Errorf("Dashboard = %d, %v; want 2 dashboards", n, err)
	}
	for name, c := range map[string]*websocket.Conn{"dashboard": dash, "late dashboard": late} {
		if m := readJSON(t, c); m["type"] != "save" || m["build"] != float64(2) {
			t.Errorf("%s got %v, want only the save message (no build_failed, build_start, build_complete)", name, m)
		}
	}
	for _, want := range []string{"build_start", "build_complete"} {
		if m := readJSON(t, page); m["type"] != want {
			t.Errorf("page got %v, want %s", m, want)
		}
	}
	sink.sync(t, page, 2, 30) // the page's report is still believed: the budget was 1
	if r := sink.reports(); len(r) != 1 {
		t.Errorf("reports passed on: %+v, want the page's only", r)
	}
	h.Failed(BuildFailed{Build: 3})
	if m := readJSON(t, page); m["type"] != "build_failed" {
		t.Errorf("page got %v after the dashboard message, want build_failed (it must not get the dashboard's)", m)
	}

	list := h.ClientList()
	kinds := map[string]int{}
	for _, c := range list {
		kinds[c.Protocol]++
		if c.Protocol == "reloadd" && (c.Origin != own || !c.Full) {
			t.Errorf("page listed as %+v", c)
		}
	}
	if kinds["reloadd"] != 1 || kinds["dashboard"] != 2 || len(list) != 3 {
		t.Errorf("ClientList = %+v, want the page and two dashboards", list)
	}

	page.Close()
	waitClients(t, h, 0)
	if m := readJSON(t, dash); m["type"] != "clients" || m["clients"] != float64(0) {
		t.Errorf("after the page left the dashboard got %v, want clients 0", m)
	}
	if h.Dashboards() != 2 {
		t.Errorf("Dashboards = %d, want 2", h.Dashboards())
	}
}

// TestDashboardOnlyForTheFullView: the dashboard is sent absolute paths and
// build output, so a page of another origin may not be one (it may still
// be an ordinary client, with the reduced view).
func TestDashboardOnlyForTheFullView(t *testing.T) {
	h, srv := newServer(t, Options{})
	header := http.Header{"Origin": {"http://localhost:1313"}}
	c, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, "/?"+DashboardQuery+"=1"), header)
	if err == nil {
		c.Close()
		t.Fatal("a dashboard from another origin was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("dashboard from another origin: %v, want 403", err)
	}
	dial(t, srv, header) // as a page, accepted
	waitClients(t, h, 1)
	if h.Dashboards() != 0 || h.Browsers() != 1 {
		t.Errorf("Dashboards %d, Browsers %d; want 0, 1", h.Dashboards(), h.Browsers())
	}
}

// TestBrowsersCountsPagesOnly: a local program (no Origin) and a LiveReload
// client never report; Browsers counts neither.
func TestBrowsersCountsPagesOnly(t *testing.T) {
	h, srv := newServer(t, Options{})
	dial(t, srv, nil)
	waitClients(t, h, 1)
	dialLiveReloadFrom(t, srv.URL, h, "http://"+srv.Listener.Addr().String())
	if h.Browsers() != 0 {
		t.Errorf("Browsers = %d with a program and a LiveReload client, want 0", h.Browsers())
	}
	p := dial(t, srv, http.Header{"Origin": {"http://" + srv.Listener.Addr().String()}})
	waitClients(t, h, 3)
	if h.Browsers() != 1 {
		t.Errorf("Browsers = %d with a page, want 1", h.Browsers())
	}
	p.Close()
	waitClients(t, h, 2)
	if h.Browsers() != 0 {
		t.Errorf("Browsers = %d after the page left, want 0", h.Browsers())
	}
}

// TestDashboardAfterClose: the sending methods say the hub is closed.
func TestDashboardAfterClose(t *testing.T) {
	h := New(Options{})
	h.Close()
	if _, err := h.Dashboard([]byte(`{"type":"x"}`)); err != ErrClosed {
		t.Errorf("Dashboard after Close = %v, want ErrClosed", err)
	}
	if l := h.ClientList(); l != nil {
		t.Errorf("ClientList after Close = %v", l)
	}
}

// TestClientsCountIsCoalesced: a tab that reloads leaves and comes back;
// dashboards hear of it once, after the delay, with the count as it is
// then.
func TestClientsCountIsCoalesced(t *testing.T) {
	h, srv := newServer(t, Options{notifyDelay: 3 * time.Second})
	dash := dialDashboard(t, h, srv.URL, "")
	readJSON(t, dash) // hello
	own := http.Header{"Origin": {"http://" + srv.Listener.Addr().String()}}
	before := dial(t, srv, own) // the tab before its reload
	waitClients(t, h, 1)
	before.Close()
	waitClients(t, h, 0)
	dial(t, srv, own) // and after
	waitClients(t, h, 1)
	if m := readJSON(t, dash); m["type"] != "clients" || m["clients"] != float64(1) {
		t.Errorf("dashboard got %v, want clients 1", m)
	}
	h.Dashboard([]byte(`{"type":"mark"}`))
	if m := readJSON(t, dash); m["type"] != "mark" {
		t.Errorf("dashboard got %v, want no more clients messages", m)
	}
}
