package hub

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/reloadd/reloadd/internal/hostpolicy"
)

// client is one WebSocket connection.
type client struct {
	conn  *websocket.Conn
	proto protocol
	view  view // fixed at the handshake
	// send is the bounded queue the writer drains. Before registration the
	// reader goroutine owns it (and closes it when the client never
	// registers); afterwards only the owner goroutine sends on or closes it.
	send chan *websocket.PreparedMessage
	// reports: the builds this connection may still report on (the owner
	// adds, the reader takes).
	reports reportable
	// For ClientList, set at the handshake.
	origin, userAgent, remote string
	since                     time.Time
}

// ServeHTTP upgrades the request to a WebSocket speaking reloadd's protocol
// and hands the connection to the hub; it returns at once. With
// ?dashboard=1 the client is a dashboard (see [Hub.Dashboard]): only pages
// reloadd serves and local programs may be one; others get 403.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get(DashboardQuery) == "1" {
		if viewOf(r) != viewFull {
			http.Error(w, "reloadd: the dashboard is for reloadd's own page only", http.StatusForbidden)
			return
		}
		h.accept(w, r, &h.upgrader, protoDashboard)
		return
	}
	h.accept(w, r, &h.upgrader, protoReloadd)
}

// LiveReload returns the handler for /livereload: the LiveReload protocol v7
// (hello handshake with official-7, then reload and alert commands), for
// livereload.js and the LiveReload browser extensions. Besides the origins
// CheckOrigin accepts, it accepts browser-extension origins, which are sent
// what other origins are (no build output, file names only).
func (h *Hub) LiveReload() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.accept(w, r, &h.lrUp, protoLiveReload)
	})
}

// viewOf decides, at the handshake, how much a client may be told: the full
// messages when it has no Origin (a local program) or its Origin is the
// request's own Host (a page reloadd served); otherwise the view for other
// origins.
func viewOf(r *http.Request) view {
	origin := r.Header.Get("Origin")
	if origin == "" || hostpolicy.SameOrigin(origin, r.Host) {
		return viewFull
	}
	return viewOthers
}

// accept upgrades the connection and starts the client's reader and writer.
func (h *Hub) accept(w http.ResponseWriter, r *http.Request, up *websocket.Upgrader, proto protocol) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		http.Error(w, "reloadd is shutting down", http.StatusServiceUnavailable)
		return
	}
	v := viewOf(r)
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		h.log.Debug("hub: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // the upgrader has replied
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		goingAway(conn, h.opts.WriteTimeout)
		conn.Close()
		return
	}
	h.conns[conn] = struct{}{}
	h.wg.Add(2)
	h.mu.Unlock()

	c := &client{conn: conn, proto: proto, view: v, send: make(chan *websocket.PreparedMessage, h.opts.SendQueue),
		origin: clip(r.Header.Get("Origin")), userAgent: clip(r.UserAgent()), remote: r.RemoteAddr, since: h.now()}
	go h.write(c)
	go h.read(c)
}

// goingAway sends the close frame reloadd ends connections with.
func goingAway(conn *websocket.Conn, timeout time.Duration) {
	conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseGoingAway, ""),
		time.Now().Add(timeout))
}

// read is the client's reader: it does the LiveReload handshake, registers
// the client, then processes control frames and client messages until the
// connection fails.
func (h *Hub) read(c *client) {
	defer h.wg.Done()
	defer func() {
		c.conn.Close()
		h.mu.Lock()
		delete(h.conns, c.conn)
		h.mu.Unlock()
	}()
	c.conn.SetReadLimit(maxMessageSize)
	if c.proto == protoLiveReload {
		if !h.liveReloadHandshake(c) {
			close(c.send) // never registered: still ours
			return
		}
	}
	select {
	case h.register <- c:
	case <-h.quit:
		close(c.send) // never registered: still ours; the writer says going-away
		return
	}
	defer func() {
		select {
		case h.unregister <- c:
		case <-h.ownerDone: // the owner dropped every client on its way out
		}
	}()

	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(pongWait))
	})
	for {
		typ, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		if typ == websocket.TextMessage && c.proto == protoReloadd {
			h.handleClientMessage(c, data)
		}
		// LiveReload clients send info and url commands: nothing to do.
	}
}

// handleClientMessage interprets one reloadd client frame: a timing report
// is passed on when it is believable (see the package comment). Anything
// malformed, unknown or unbelievable is ignored.
func (h *Hub) handleClientMessage(c *client, data []byte) {
	var m Reloaded
	if err := json.Unmarshal(data, &m); err != nil || m.Type != TypeReloaded {
		return
	}
	now := h.now()
	if !c.reports.take(m.Build) || !h.sent.accept(&m, now) || !h.limit.allow(now) {
		if n := h.dropped.Add(1); n&(n-1) == 0 { // 1, 2, 4, 8…: never a flood of lines
			h.log.Debug("hub: timing report not believed or over the limit", "remote", c.conn.RemoteAddr(), "dropped", n)
		}
		return
	}
	if h.opts.OnReloaded != nil {
		h.opts.OnReloaded(m)
	}
}

// write is the client's writer: every write to the connection happens here.
// It ends when the queue is closed (after the going-away frame) or a write
// fails, and closes the connection, which ends the reader too.
func (h *Hub) write(c *client) {
	defer h.wg.Done()
	defer c.conn.Close()
	ticker := time.NewTicker(pingPeriod)
	defer ticker.Stop()
	for {
		select {
		case msg, ok := <-c.send:
			if !ok {
				goingAway(c.conn, h.opts.WriteTimeout)
				return
			}
			c.conn.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
			if err := c.conn.WritePreparedMessage(msg); err != nil {
				return
			}
		case <-ticker.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.opts.WriteTimeout)); err != nil {
				return
			}
		}
	}
}
