package hub

import (
	"cmp"
	"slices"
	"time"

	"github.com/gorilla/websocket"
)

// The dashboard: reloadd's own page at /_reloadd/ watches builds; it is not
// a page to reload. It connects to reloadd's WebSocket with ?dashboard=1
// and, unlike every other client:
//
//   - it is accepted only from a page reloadd serves or a local program (the
//     full view; any other origin gets 403), because it is sent absolute
//     paths and build output;
//   - it is sent hello (epoch and build, so that it notices a restart), the
//     messages the daemon sends it with [Hub.Dashboard], and
//     {"type":"clients","clients":N} a second after the number of other
//     clients changed (once for every change meanwhile) — never build_start,
//     build_complete or build_failed, and never the last failure on
//     connect;
//   - it does not count: not in [Hub.Clients], not in the count Complete and
//     Failed return, not in the number of reports a build may bring;
//   - what it sends is ignored.

// DashboardQuery is the query parameter that makes a connection to
// reloadd's WebSocket a dashboard: /_reloadd/ws?dashboard=1.
const DashboardQuery = "dashboard"

// clipLen bounds the Origin and User-Agent kept per client for ClientList.
const clipLen = 256

// clientsNotifyDelay: a tab that reloads leaves and connects again in well
// under a second, right when build_complete arrives. Telling dashboards a
// second later, once, keeps their tabs from waking up while the browsers
// reload, and from waking up twice.
const clientsNotifyDelay = time.Second

func clip(s string) string {
	if len(s) > clipLen {
		return s[:clipLen]
	}
	return s
}

// Dashboard sends data, one JSON object with a "type" field that the caller
// encoded, to every dashboard and to nobody else. It returns the number of
// dashboards it was queued to (a dashboard too slow to take it is dropped;
// it reconnects), 0 at once when none is connected, or ErrClosed after
// Close.
func (h *Hub) Dashboard(data []byte) (int, error) {
	select {
	case <-h.quit:
		return 0, ErrClosed
	default:
	}
	if h.ndash.Load() == 0 {
		return 0, nil
	}
	m, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
	if err != nil {
		return 0, err
	}
	var out outgoing
	out[protoDashboard][viewFull] = []*websocket.PreparedMessage{m}
	return h.do(sendReq{out: out})
}

// Dashboards returns the number of connected dashboards.
func (h *Hub) Dashboards() int { return int(h.ndash.Load()) }

// clientsMessage tells dashboards how many clients there are now.
type clientsMessage struct {
	Type    string `json:"type"` // "clients"
	Clients int    `json:"clients"`
}

// notifyDashboards offers the client count to every dashboard. Called by
// the owner clientsNotifyDelay after a client came or went. A dashboard
// whose queue is full misses it, and is not dropped for it: the count is a
// hint to look again, and the next one brings it up to date.
func notifyDashboards(dashboards map[*client]struct{}, n int) {
	var m *websocket.PreparedMessage
	for c := range dashboards {
		if m == nil {
			m = mustPrepare(clientsMessage{Type: "clients", Clients: n})
		}
		select {
		case c.send <- m:
		default:
		}
	}
}

// ClientInfo describes one connected client, for reloadd's status.
type ClientInfo struct {
	// Protocol is "reloadd", "livereload" or "dashboard".
	Protocol string `json:"protocol"`
	// Full: the client gets the full messages (a page reloadd serves, or a
	// local program); otherwise the reduced view of other origins.
	Full bool `json:"full"`
	// Origin and UserAgent are the handshake's headers ("" when absent),
	// at most 256 bytes each.
	Origin    string `json:"origin,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	Remote    string `json:"remote"`
	// Since is when the connection was accepted.
	Since time.Time `json:"since"`
}

// ClientList describes every connected client, dashboards included (see
// Protocol), oldest first. It returns nil after Close.
func (h *Hub) ClientList() []ClientInfo {
	reply := make(chan []ClientInfo, 1)
	select {
	case h.list <- reply:
		return <-reply
	case <-h.quit:
		return nil
	}
}

// clientList is ClientList's answer, made by the owner.
func clientList(clients map[*client]struct{}) []ClientInfo {
	out := make([]ClientInfo, 0, len(clients))
	for c := range clients {
		out = append(out, ClientInfo{Protocol: c.proto.String(), Full: c.view == viewFull,
			Origin: c.origin, UserAgent: c.userAgent, Remote: c.remote, Since: c.since})
	}
	slices.SortFunc(out, func(a, b ClientInfo) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return cmp.Compare(a.Remote, b.Remote)
	})
	return out
}
