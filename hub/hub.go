// Package hub is reloadd's WebSocket hub: it tells every connected browser
// about builds.
//
// # Concurrency
//
// One goroutine (the owner) holds the set of clients; everyone else talks to
// it over channels. Each client has exactly one reader goroutine (the HTTP
// handler's own, which reads until the connection fails) and one writer
// goroutine (which does every write: messages, pings and the close frame),
// as gorilla/websocket requires. Broadcast encodes a message once
// (websocket.PreparedMessage) and offers it to every client's bounded send
// queue without waiting: a client whose queue is full, or whose write blocks
// past writeWait, is dropped, and will reconnect and resync through hello.
// Close closes every socket with a going-away frame and waits for all of
// these goroutines.
package hub

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Timeouts, named as in gorilla's chat example.
const (
	// writeWait bounds one write. A client that cannot take a small frame
	// within it is too slow to keep; it reconnects and resyncs.
	writeWait = 5 * time.Second
	// pongWait is how long a client may stay silent (no pong, no message)
	// before it is considered gone.
	pongWait = 60 * time.Second
	// pingPeriod must be shorter than pongWait.
	pingPeriod = pongWait * 9 / 10
	// maxMessageSize is the read limit: clients send only tiny JSON.
	maxMessageSize = 4096
	// DefaultSendQueue is the per-client queue of messages not yet written.
	// A build produces at most three messages; 32 leaves room for a burst
	// of builds while a browser tab is briefly busy.
	DefaultSendQueue = 32
)

// ErrClosed is returned by Broadcast after Close.
var ErrClosed = errors.New("hub: closed")

// Options configure a Hub. The zero value means the defaults.
type Options struct {
	// Epoch identifies this reloadd process in hello messages.
	Epoch string
	// CheckOrigin decides whether a WebSocket handshake is accepted. Nil
	// means [OriginChecker]("", nil): loopback names and the
	// request's own host.
	CheckOrigin func(r *http.Request) bool
	// OnReloaded receives the timing reports browsers send after a reload.
	// It is called from client reader goroutines and must not block.
	OnReloaded func(Reloaded)
	// SendQueue is the per-client queue length; 0 means DefaultSendQueue.
	SendQueue int
	// Logger receives debug diagnostics; nil discards them.
	Logger *slog.Logger
}

// Hub is the set of connected browsers. Its methods are safe for concurrent
// use.
type Hub struct {
	opts     Options
	upgrader websocket.Upgrader
	log      *slog.Logger

	register   chan *client
	unregister chan *client
	broadcast  chan broadcastReq
	setBuild   chan int64
	quit       chan struct{}
	ownerDone  chan struct{}

	mu      sync.Mutex // guards closed and the Add side of clientWG
	closed  bool
	clients sync.WaitGroup // every client's reader and writer goroutines

	nclients atomic.Int64
	build    atomic.Int64 // last build announced by SetBuild (for status)
}

type broadcastReq struct {
	msg   *websocket.PreparedMessage
	reply chan int
}

type client struct {
	conn *websocket.Conn
	send chan *websocket.PreparedMessage // closed by the owner only
}

// New starts a hub.
func New(opts Options) *Hub {
	if opts.SendQueue <= 0 {
		opts.SendQueue = DefaultSendQueue
	}
	if opts.CheckOrigin == nil {
		opts.CheckOrigin = OriginChecker("", nil)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		opts:       opts,
		log:        log,
		register:   make(chan *client),
		unregister: make(chan *client),
		broadcast:  make(chan broadcastReq),
		setBuild:   make(chan int64),
		quit:       make(chan struct{}),
		ownerDone:  make(chan struct{}),
	}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
		CheckOrigin:     opts.CheckOrigin,
	}
	go h.own()
	return h
}

// own is the owner goroutine: the only one that touches the client set.
func (h *Hub) own() {
	defer close(h.ownerDone)
	clients := make(map[*client]struct{})
	var build int64
	drop := func(c *client) {
		if _, ok := clients[c]; ok {
			delete(clients, c)
			close(c.send)
			h.nclients.Add(-1)
		}
	}
	for {
		select {
		case c := <-h.register:
			hello, err := prepare(Hello{Type: TypeHello, Epoch: h.opts.Epoch, Build: build})
			if err != nil {
				panic(err) // Hello always encodes
			}
			c.send <- hello // the queue is empty: never blocks
			clients[c] = struct{}{}
			h.nclients.Add(1)
		case c := <-h.unregister:
			drop(c)
		case n := <-h.setBuild:
			build = n
		case req := <-h.broadcast:
			n := 0
			for c := range clients {
				select {
				case c.send <- req.msg:
					n++
				default:
					h.log.Debug("hub: dropping slow client", "remote", c.conn.RemoteAddr())
					drop(c)
				}
			}
			req.reply <- n
		case <-h.quit:
			for c := range clients {
				drop(c)
			}
			return
		}
	}
}

func prepare(v any) (*websocket.PreparedMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("hub: encode %T: %w", v, err)
	}
	return websocket.NewPreparedMessage(websocket.TextMessage, b)
}

// Broadcast encodes v as JSON once and queues it to every client. It returns
// the number of clients it was queued to; clients too slow to take it are
// dropped and not counted.
func (h *Hub) Broadcast(v any) (int, error) {
	msg, err := prepare(v)
	if err != nil {
		return 0, err
	}
	req := broadcastReq{msg: msg, reply: make(chan int, 1)}
	select {
	case h.broadcast <- req:
		return <-req.reply, nil
	case <-h.quit:
		return 0, ErrClosed
	}
}

// SetBuild records the id of the last completed build, which clients that
// connect afterwards receive in hello. Call it before broadcasting that
// build's build_complete, so that no client can miss both.
func (h *Hub) SetBuild(n int64) {
	select {
	case h.setBuild <- n:
		h.build.Store(n)
	case <-h.quit:
	}
}

// Build returns the id last passed to SetBuild.
func (h *Hub) Build() int64 { return h.build.Load() }

// Epoch returns the epoch sent in hello.
func (h *Hub) Epoch() string { return h.opts.Epoch }

// Clients returns the number of connected clients.
func (h *Hub) Clients() int { return int(h.nclients.Load()) }

// ServeHTTP upgrades the request to a WebSocket and serves the client until
// it goes away or the hub closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		http.Error(w, "reloadd is shutting down", http.StatusServiceUnavailable)
		return
	}
	h.clients.Add(1) // this goroutine, the reader
	h.mu.Unlock()
	defer h.clients.Done()

	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		h.log.Debug("hub: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // the upgrader has replied
	}
	c := &client{conn: conn, send: make(chan *websocket.PreparedMessage, h.opts.SendQueue)}
	select {
	case h.register <- c:
	case <-h.quit:
		conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseGoingAway, "reloadd is shutting down"),
			time.Now().Add(writeWait))
		conn.Close()
		return
	}
	h.clients.Add(1) // the writer; safe: this goroutine's count is held
	go h.write(c)
	h.read(c)
}

// read is the client's reader: it processes control frames and timing
// reports until the connection fails.
func (h *Hub) read(c *client) {
	defer func() {
		select {
		case h.unregister <- c:
		case <-h.ownerDone:
		}
		c.conn.Close()
	}()
	c.conn.SetReadLimit(maxMessageSize)
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
		if typ != websocket.TextMessage {
			continue
		}
		h.handleClientMessage(data)
	}
}

// handleClientMessage interprets one client frame. Anything malformed or
// unknown is ignored.
func (h *Hub) handleClientMessage(data []byte) {
	var m Reloaded
	if err := json.Unmarshal(data, &m); err != nil || m.Type != TypeReloaded {
		return
	}
	if h.opts.OnReloaded != nil {
		h.opts.OnReloaded(m)
	}
}

// write is the client's writer: every write to the connection happens here.
func (h *Hub) write(c *client) {
	defer h.clients.Done()
	ticker := time.NewTicker(pingPeriod)
	defer ticker.Stop()
	defer c.conn.Close()
	for {
		select {
		case msg, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				// Dropped or shutting down.
				c.conn.WriteMessage(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
				return
			}
			if err := c.conn.WritePreparedMessage(msg); err != nil {
				return
			}
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

// Close closes every client with a going-away frame and waits for all client
// goroutines. It is idempotent.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.clients.Wait()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	close(h.quit)
	<-h.ownerDone
	h.clients.Wait()
	return nil
}
