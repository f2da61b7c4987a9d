// Package hub is reloadd's WebSocket hub: it tells every connected browser
// about builds.
//
// It speaks two protocols. reloadd's own (at /_reloadd/ws, [Hub.ServeHTTP])
// sends the JSON messages of docs/DESIGN.md — hello, build_start, build_complete,
// build_failed — and receives the browsers' timing reports. The LiveReload
// protocol v7 (at /livereload, [Hub.LiveReload]) lets pages that include
// livereload.js and the LiveReload browser extensions work unchanged: after
// the hello handshake they receive reload commands for successful builds and
// an alert for failed ones.
//
// # Concurrency
//
// One goroutine (the owner) holds the set of clients; everyone else talks to
// it over channels. Each client has exactly one reader goroutine (which also
// does the LiveReload handshake and the registration) and one writer
// goroutine (which does every write: messages, pings and the close frame),
// as gorilla/websocket requires; the HTTP handler returns as soon as the
// connection is upgraded, so no HTTP server state stays alive per client.
// Broadcast encodes a message once per protocol (websocket.PreparedMessage)
// and offers it to every client's bounded send queue without waiting: a
// client whose queue is full is dropped at once, and a client whose write
// blocks past the write timeout is dropped by its writer. Dropped clients
// reconnect and resync through hello.
//
// All methods of [Hub] are safe for concurrent use. [Hub.Close] sends every
// client a going-away close frame, waits for all goroutines the hub started,
// and closes the connections that do not finish within a short grace period.
//
// # Design notes
//
// The constants below carry their reasons. Memory per idle client is kept
// small (the target is 16 KiB) by: a 512-byte read buffer (clients send
// only tiny JSON), no write buffer at all (prepared messages and control
// frames are written straight to the socket; the pool only serves
// gorilla's rare buffered writes), and returning from the HTTP handler so
// that net/http's per-connection buffers and goroutine are freed.
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

// Timeouts and limits, named as in gorilla's chat example.
const (
	// DefaultWriteTimeout bounds one write. A client that cannot take a
	// frame within it is too slow to keep; it reconnects and resyncs.
	DefaultWriteTimeout = 5 * time.Second
	// pongWait is how long a client may stay silent (no pong, no message)
	// before it is considered gone. A minute: browsers answer pings at
	// once, but a laptop that wakes from sleep needs a moment.
	pongWait = 60 * time.Second
	// pingPeriod must be shorter than pongWait.
	pingPeriod = pongWait * 9 / 10
	// maxMessageSize is the read limit: clients send only tiny JSON (a
	// timing report, a LiveReload hello or info). Anything larger is
	// refused with a close frame before it is read.
	maxMessageSize = 4096
	// handshakeWait bounds the LiveReload hello: livereload.js sends it as
	// soon as the socket opens and gives up itself after 5 s.
	handshakeWait = 10 * time.Second
	// closeGrace is how long Close lets writers flush their queue and the
	// going-away frame before it closes the remaining connections.
	closeGrace = time.Second
	// DefaultSendQueue is the per-client queue of messages not yet written.
	// A build produces at most three messages; 32 leaves room for a burst
	// of builds while a browser tab is briefly busy.
	DefaultSendQueue = 32
	// minSendQueue: a new client is queued hello and the last failure
	// before anything can drain its queue.
	minSendQueue = 2
	// readBufferSize is the read buffer per connection; see Design notes.
	readBufferSize = 512
)

// ErrClosed is returned by Broadcast after Close.
var ErrClosed = errors.New("hub: closed")

// Options configure a Hub. The zero value means the defaults.
type Options struct {
	// Epoch identifies this reloadd process in hello messages.
	Epoch string
	// CheckOrigin decides whether a WebSocket handshake is accepted. Nil
	// means [OriginChecker]("", nil): no Origin, loopback names and the
	// request's own host. The LiveReload endpoint also accepts
	// browser-extension origins (see [IsExtensionOrigin]).
	CheckOrigin func(r *http.Request) bool
	// OnReloaded receives the timing reports browsers send after a reload
	// or a stylesheet swap, re-based on the server's clock (see
	// [Reloaded]). It is called from client reader goroutines and must not
	// block.
	OnReloaded func(Reloaded)
	// SendQueue is the per-client queue length; 0 means DefaultSendQueue,
	// and less than 2 means 2.
	SendQueue int
	// WriteTimeout bounds one write to a client; 0 means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Logger receives debug diagnostics; nil discards them.
	Logger *slog.Logger
}

// Hub is the set of connected browsers. Its methods are safe for concurrent
// use.
type Hub struct {
	opts     Options
	upgrader websocket.Upgrader
	lrUp     websocket.Upgrader // the LiveReload endpoint's
	log      *slog.Logger

	register   chan *client
	unregister chan *client
	broadcast  chan broadcastReq
	setBuild   chan int64
	quit       chan struct{} // closed by Close
	ownerDone  chan struct{} // closed by the owner when it returns

	mu     sync.Mutex // guards closed, conns, and the Add side of wg
	closed bool
	conns  map[*websocket.Conn]struct{} // every upgraded connection not yet finished
	wg     sync.WaitGroup               // every client's reader and writer goroutines

	nclients atomic.Int64
	build    atomic.Int64 // last build announced by SetBuild (for status)
	sent     sentLog      // when recent build_completes went out, for timing reports
}

// protocol is what a client speaks.
type protocol uint8

const (
	protoReloadd protocol = iota
	protoLiveReload
)

// outgoing is one broadcast, encoded once per protocol.
type outgoing struct {
	native []*websocket.PreparedMessage // for reloadd clients
	lr     []*websocket.PreparedMessage // for LiveReload clients
	failed bool                         // a build_failed: replay native[0] to clients that connect later
	ok     bool                         // a build_complete: forget the last failure
}

type broadcastReq struct {
	out   outgoing
	reply chan int
}

// New starts a hub. Close it to stop its goroutine.
func New(opts Options) *Hub {
	switch {
	case opts.SendQueue <= 0:
		opts.SendQueue = DefaultSendQueue
	case opts.SendQueue < minSendQueue:
		opts.SendQueue = minSendQueue
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
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
		conns:      make(map[*websocket.Conn]struct{}),
	}
	pool := &sync.Pool{}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  readBufferSize,
		WriteBufferPool: pool,
		CheckOrigin:     opts.CheckOrigin,
	}
	h.lrUp = h.upgrader
	h.lrUp.CheckOrigin = func(r *http.Request) bool {
		return IsExtensionOrigin(r.Header.Get("Origin")) || opts.CheckOrigin(r)
	}
	go h.own()
	return h
}

// own is the owner goroutine: the only one that touches the client set.
func (h *Hub) own() {
	defer close(h.ownerDone)
	clients := make(map[*client]struct{})
	var build int64
	var lastFailed *websocket.PreparedMessage // replayed to new reloadd clients until a build succeeds
	drop := func(c *client, slow bool) {
		if _, ok := clients[c]; !ok {
			return
		}
		delete(clients, c)
		close(c.send)
		h.nclients.Add(-1)
		if slow {
			// Its writer is probably blocked; closing the connection
			// frees it now rather than after the write timeout.
			h.log.Debug("hub: dropping slow client", "remote", c.conn.RemoteAddr())
			c.conn.Close()
		}
	}
	for {
		select {
		case c := <-h.register:
			// The queue holds at most the LiveReload hello: these never block.
			if c.proto == protoReloadd {
				c.send <- mustPrepare(Hello{Type: TypeHello, Epoch: h.opts.Epoch, Build: build})
				if lastFailed != nil {
					c.send <- lastFailed
				}
			}
			clients[c] = struct{}{}
			h.nclients.Add(1)
		case c := <-h.unregister:
			drop(c, false)
		case n := <-h.setBuild:
			build = n
			lastFailed = nil
		case req := <-h.broadcast:
			switch {
			case req.out.failed:
				lastFailed = req.out.native[0]
			case req.out.ok:
				lastFailed = nil
			}
			n := 0
			for c := range clients {
				msgs := req.out.native
				if c.proto == protoLiveReload {
					msgs = req.out.lr
				}
				if offer(c, msgs) {
					n++
				} else {
					drop(c, true)
				}
			}
			req.reply <- n
		case <-h.quit:
			for c := range clients {
				drop(c, false)
			}
			return
		}
	}
}

// offer queues msgs to c without waiting; false means c's queue is full.
func offer(c *client, msgs []*websocket.PreparedMessage) bool {
	for _, m := range msgs {
		select {
		case c.send <- m:
		default:
			return false
		}
	}
	return true
}

func prepare(v any) (*websocket.PreparedMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("hub: encode %T: %w", v, err)
	}
	return websocket.NewPreparedMessage(websocket.TextMessage, b)
}

// mustPrepare prepares a message whose encoding cannot fail (our own
// structs of strings and numbers).
func mustPrepare(v any) *websocket.PreparedMessage {
	m, err := prepare(v)
	if err != nil {
		panic(err)
	}
	return m
}

// Broadcast encodes v as JSON once and queues it to every reloadd client
// without waiting. BuildComplete and BuildFailed (values or pointers) are
// also translated for LiveReload clients (reload commands and an alert);
// other values reach reloadd clients only. A BuildFailed is remembered and
// sent after hello to reloadd clients that connect before the next
// BuildComplete or SetBuild, so that a page opened while the build is broken
// shows why.
//
// Broadcast returns the number of clients the message was queued to; clients
// too slow to take it are dropped and not counted. It returns ErrClosed after
// Close.
func (h *Hub) Broadcast(v any) (int, error) {
	out, err := h.encode(v)
	if err != nil {
		return 0, err
	}
	req := broadcastReq{out: out, reply: make(chan int, 1)}
	select {
	case h.broadcast <- req:
		return <-req.reply, nil
	case <-h.quit:
		return 0, ErrClosed
	}
}

// encode prepares v for both protocols.
func (h *Hub) encode(v any) (outgoing, error) {
	switch m := v.(type) {
	case *BuildComplete:
		if m != nil {
			v = *m
		}
	case *BuildFailed:
		if m != nil {
			v = *m
		}
	}
	native, err := prepare(v)
	if err != nil {
		return outgoing{}, err
	}
	out := outgoing{native: []*websocket.PreparedMessage{native}}
	switch m := v.(type) {
	case BuildComplete:
		out.ok = true
		h.sent.record(m.Build, m.ChangedAt, time.Now())
		for _, cmd := range liveReloadCommands(m) {
			out.lr = append(out.lr, mustPrepare(cmd))
		}
	case BuildFailed:
		out.failed = true
		out.lr = []*websocket.PreparedMessage{mustPrepare(liveReloadAlert(m))}
	}
	return out, nil
}

// SetBuild records the id of the last completed build, which clients that
// connect afterwards receive in hello, and forgets the last failure. Call it
// before broadcasting that build's build_complete, so that no client can
// miss both.
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

// Clients returns the number of connected clients (both protocols).
func (h *Hub) Clients() int { return int(h.nclients.Load()) }

// Close sends every client a going-away close frame and waits for all client
// goroutines; connections that have not finished after a short grace period
// (a client that stopped reading, a LiveReload handshake in progress) are
// closed. Broadcast returns ErrClosed afterwards, and new WebSocket requests
// are refused with 503. Close is idempotent and always returns nil.
func (h *Hub) Close() error {
	h.mu.Lock()
	first := !h.closed
	h.closed = true
	h.mu.Unlock()
	if first {
		close(h.quit)
	}
	<-h.ownerDone

	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	}
	h.mu.Lock()
	for c := range h.conns {
		c.Close()
	}
	h.mu.Unlock()
	<-done
	return nil
}
