// Package hub is reloadd's WebSocket hub: it tells every connected browser
// about builds.
//
// It speaks two protocols. reloadd's own (at /_reloadd/ws, [Hub.ServeHTTP])
// sends the JSON messages of docs/DESIGN.md — hello, build_start,
// build_complete, build_failed — and receives the browsers' timing reports.
// The LiveReload protocol v7 (at /livereload, [Hub.LiveReload]) lets pages
// that include livereload.js and the LiveReload browser extensions work
// unchanged: after the hello handshake they receive reload commands for
// successful builds and an alert for failed ones.
//
// A third kind of client, the dashboard (reloadd's page at /_reloadd/,
// connecting to /_reloadd/ws?dashboard=1), is a watcher, not a browser to
// reload: it gets hello, what the daemon sends it ([Hub.Dashboard]) and the
// client count, and nothing else (see dashboard.go).
//
// The build side calls [Hub.Start], [Hub.Complete] and [Hub.Failed]; each
// sets the message's type itself, and Complete records the build id inside
// the hub's owner goroutine in the same step as the broadcast, so that a
// client connecting at that moment gets either the new id in its hello or
// the build_complete, never neither.
//
// # Who gets what
//
// Which WebSocket handshakes are accepted is the host policy's business
// ([Options.CheckOrigin], internal/hostpolicy). Of the accepted clients, a
// page reloadd serves itself (its Origin is the request's own Host: reloadd's
// address, which with -proxy also serves the app's pages) and a client with
// no Origin (a local program: bench/, an editor integration) get the full
// messages. A browser client from any other allowed origin — a page on
// another localhost port, an -allow-host name on another port, a browser
// extension on /livereload — gets no build output (a short notice instead)
// and no absolute paths (file names only); urls, build ids and exit codes
// are the same for everyone.
//
// Timing reports (reloaded) are believed only when they could be true: for
// a build that connection was told about (its hello's, or a build_complete
// it was sent), once per connection and build, no more per build than the
// clients it was sent to, arriving within a minute of it, with times that fit
// between the change and now on the server's clock; and at most 64 at once
// and 16 a second overall (see reports.go for the reasons). Anything else
// is dropped without a word.
//
// # Concurrency
//
// One goroutine (the owner) holds the set of clients and the last build id;
// everyone else talks to it over channels. Each client has exactly one
// reader goroutine (which also does the LiveReload handshake, the
// registration and the timing reports) and one writer goroutine (which does
// every write: messages, pings and the close frame), as gorilla/websocket
// requires; the HTTP handler returns as soon as the connection is upgraded,
// so no HTTP server state stays alive per client. A broadcast is encoded
// once per protocol and view (websocket.PreparedMessage) and offered to
// every client's bounded send queue without waiting: a client whose queue
// is full is dropped at once, and a client whose write blocks past the
// write timeout is dropped by its writer. Dropped clients reconnect and
// resync through hello.
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

	"github.com/reloadd/reloadd/internal/hostpolicy"
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

// ErrClosed is returned by the sending methods after Close.
var ErrClosed = errors.New("hub: closed")

// Options configure a Hub. The zero value means the defaults.
type Options struct {
	// Epoch identifies this reloadd process in hello messages.
	Epoch string
	// CheckOrigin decides whether a WebSocket handshake is accepted. Nil
	// means hostpolicy.New("", nil).CheckOrigin: no Origin, loopback names
	// and the request's own host. The LiveReload endpoint also accepts
	// browser-extension origins.
	CheckOrigin func(r *http.Request) bool
	// OnReloaded receives the timing reports browsers send after a reload
	// or a stylesheet swap, re-based on the server's clock (see
	// [Reloaded]), once the hub believes them (see the package comment:
	// a report must be for a build that connection was told about, once,
	// within bounds, and within the rate limit). It is called from client
	// reader goroutines and must not block.
	OnReloaded func(Reloaded)
	// SendQueue is the per-client queue length; 0 means DefaultSendQueue,
	// and less than 2 means 2.
	SendQueue int
	// WriteTimeout bounds one write to a client; 0 means
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// Logger receives debug diagnostics; nil discards them.
	Logger *slog.Logger

	now         func() time.Time // the clock, for tests; nil means time.Now
	notifyDelay time.Duration    // for tests; 0 means clientsNotifyDelay
}

// Hub is the set of connected browsers. Its methods are safe for concurrent
// use.
type Hub struct {
	opts     Options
	now      func() time.Time
	upgrader websocket.Upgrader
	lrUp     websocket.Upgrader // the LiveReload endpoint's
	log      *slog.Logger

	register   chan *client
	unregister chan *client
	send       chan sendReq
	quit       chan struct{} // closed by Close
	ownerDone  chan struct{} // closed by the owner when it returns

	mu     sync.Mutex // guards closed, conns, and the Add side of wg
	closed bool
	conns  map[*websocket.Conn]struct{} // every upgraded connection not yet finished
	wg     sync.WaitGroup               // every client's reader and writer goroutines

	nclients  atomic.Int64 // reloadd and LiveReload clients: what Clients counts
	nbrowsers atomic.Int64 // reloadd clients with an Origin: pages that report
	ndash     atomic.Int64 // dashboards
	list      chan chan []ClientInfo
	build     atomic.Int64 // the owner's build id, mirrored for Build
	sent      sentLog      // recent build_completes, for timing reports
	limit     bucket       // timing reports passed on, overall
	dropped   atomic.Int64 // timing reports not believed or over the limit
}

// protocol is what a client speaks. A client kind that must not count as a
// browser to reload (the dashboard) has its own value: messages meant for
// one protocol leave the others' slots empty.
type protocol uint8

const (
	protoReloadd protocol = iota
	protoLiveReload
	protoDashboard // reloadd's own page at /_reloadd/: never reloaded, never counted
	numProtocols
)

// String names the protocol as ClientInfo does.
func (p protocol) String() string {
	switch p {
	case protoReloadd:
		return "reloadd"
	case protoLiveReload:
		return "livereload"
	case protoDashboard:
		return "dashboard"
	}
	return "unknown"
}

// view is how much a client may be told (see the package comment).
type view uint8

const (
	viewFull   view = iota // a page reloadd serves, or a local program
	viewOthers             // a page of another allowed origin, or an extension
	numViews
)

// outgoing is one broadcast, encoded once per protocol and view. A nil
// slot is not sent to those clients.
type outgoing [numProtocols][numViews][]*websocket.PreparedMessage

func (o *outgoing) to(c *client) []*websocket.PreparedMessage { return o[c.proto][c.view] }

// sendReq asks the owner to broadcast out. complete marks a build_complete
// of build, changed at changedAt (the owner records build as the last
// completed build, forgets the last failure, and logs the sending for
// timing reports); failed marks a build_failed (replayed to clients that
// connect until the next success).
type sendReq struct {
	out       outgoing
	complete  bool
	failed    bool
	build     int64
	changedAt int64
	reply     chan int
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
	if opts.notifyDelay <= 0 {
		opts.notifyDelay = clientsNotifyDelay
	}
	if opts.CheckOrigin == nil {
		opts.CheckOrigin = hostpolicy.New("", nil).CheckOrigin
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.now
	if now == nil {
		now = time.Now
	}
	h := &Hub{
		opts:       opts,
		now:        now,
		log:        log,
		register:   make(chan *client),
		unregister: make(chan *client),
		send:       make(chan sendReq),
		quit:       make(chan struct{}),
		ownerDone:  make(chan struct{}),
		list:       make(chan chan []ClientInfo),
		conns:      make(map[*websocket.Conn]struct{}),
		limit:      bucket{rate: reportRate, burst: reportBurst},
	}
	pool := &sync.Pool{}
	h.upgrader = websocket.Upgrader{
		ReadBufferSize:  readBufferSize,
		WriteBufferPool: pool,
		CheckOrigin:     opts.CheckOrigin,
	}
	h.lrUp = h.upgrader
	h.lrUp.CheckOrigin = func(r *http.Request) bool {
		return hostpolicy.IsExtensionOrigin(r.Header.Get("Origin")) || opts.CheckOrigin(r)
	}
	go h.own()
	return h
}

// own is the owner goroutine: the only one that touches the client set and
// the last build id.
func (h *Hub) own() {
	defer close(h.ownerDone)
	clients := make(map[*client]struct{})
	dashboards := make(map[*client]struct{}) // the dashboards among clients
	// The client count goes to dashboards clientsNotifyDelay after a
	// change, once for all the changes meanwhile.
	var notify *time.Timer
	var notifyC <-chan time.Time
	clientsChanged := func() {
		if len(dashboards) > 0 && notify == nil {
			notify = time.NewTimer(h.opts.notifyDelay)
			notifyC = notify.C
		}
	}
	var build int64
	var lastFailed *outgoing // replayed to new reloadd clients until a build succeeds
	drop := func(c *client, slow bool) {
		if _, ok := clients[c]; !ok {
			return
		}
		delete(clients, c)
		close(c.send)
		h.count(c, -1)
		if c.proto == protoDashboard {
			delete(dashboards, c)
		} else {
			clientsChanged()
		}
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
			switch c.proto {
			case protoReloadd:
				c.reports.add(build) // a reloaded page reports on the build its hello names
				c.send <- mustPrepare(Hello{Epoch: h.opts.Epoch, Build: build})
				if lastFailed != nil {
					for _, m := range lastFailed.to(c) {
						c.send <- m
					}
				}
			case protoDashboard:
				// The epoch and build, to know a restart or a missed build;
				// never the last failure (it is in the daemon's records).
				c.send <- mustPrepare(Hello{Epoch: h.opts.Epoch, Build: build})
			}
			clients[c] = struct{}{}
			h.count(c, 1)
			if c.proto == protoDashboard {
				dashboards[c] = struct{}{}
			} else {
				clientsChanged()
			}
		case reply := <-h.list:
			reply <- clientList(clients)
		case <-notifyC:
			notify, notifyC = nil, nil
			notifyDashboards(dashboards, h.Clients())
		case c := <-h.unregister:
			drop(c, false)
		case req := <-h.send:
			switch {
			case req.complete:
				build = req.build
				h.build.Store(build)
				lastFailed = nil
				// Logged before any client can have the message, with
				// one report per reloadd client as the budget.
				browsers := 0
				for c := range clients {
					if c.proto == protoReloadd {
						browsers++
					}
				}
				h.sent.record(build, req.changedAt, h.now(), browsers)
			case req.failed:
				lastFailed = &req.out
			}
			n := 0
			for c := range clients {
				msgs := req.out.to(c)
				if len(msgs) == 0 {
					continue
				}
				if req.complete {
					c.reports.add(req.build) // before the client can answer
				}
				if offer(c, msgs) {
					n++
				} else {
					drop(c, true)
				}
			}
			req.reply <- n
		case <-h.quit:
			if notify != nil {
				notify.Stop()
			}
			clear(dashboards) // nobody to tell: everyone is going
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

func one(v any) []*websocket.PreparedMessage { return []*websocket.PreparedMessage{mustPrepare(v)} }

// Start announces that build started, for a change of paths (absolute).
// Browsers show a "rebuilding…" indicator if it takes a while; LiveReload
// clients are not told. It returns the number of clients the message was
// queued to, or ErrClosed after Close.
func (h *Hub) Start(build int64, paths []string) (int, error) {
	m := BuildStart{Build: build, Paths: paths}
	var out outgoing
	out[protoReloadd][viewFull] = one(m)
	out[protoReloadd][viewOthers] = one(m.forOthers())
	return h.do(sendReq{out: out})
}

// Complete announces that build m.Build succeeded: browsers reload, or swap
// stylesheets and images in place. It makes m.Build the build id clients
// that connect afterwards get in hello, in the same step as the broadcast,
// and forgets the last failure. LiveReload clients get reload commands.
//
// It returns the number of clients the message was queued to; clients too
// slow to take it are dropped and not counted. It returns ErrClosed after
// Close.
func (h *Hub) Complete(m BuildComplete) (int, error) {
	var out outgoing
	others := m.forOthers()
	out[protoReloadd][viewFull] = one(m)
	out[protoReloadd][viewOthers] = one(others)
	for v, msg := range [numViews]BuildComplete{viewFull: m, viewOthers: others} {
		for _, cmd := range liveReloadCommands(msg) {
			out[protoLiveReload][v] = append(out[protoLiveReload][v], mustPrepare(cmd))
		}
	}
	return h.do(sendReq{out: out, complete: true, build: m.Build, changedAt: m.ChangedAt})
}

// Failed announces that build m.Build failed (or that the app crashed,
// with m.Build the last completed build): browsers show m.Output in an
// overlay, LiveReload clients an alert. The failure is also sent, right
// after hello, to reloadd clients that connect before the next Complete, so
// that a page opened while the build is broken shows why. It returns like
// Complete.
func (h *Hub) Failed(m BuildFailed) (int, error) {
	var out outgoing
	others := m.forOthers()
	out[protoReloadd][viewFull] = one(m)
	out[protoReloadd][viewOthers] = one(others)
	out[protoLiveReload][viewFull] = one(liveReloadAlert(m))
	out[protoLiveReload][viewOthers] = one(liveReloadAlert(others))
	return h.do(sendReq{out: out, failed: true})
}

// do hands req to the owner and waits for the count.
func (h *Hub) do(req sendReq) (int, error) {
	req.reply = make(chan int, 1)
	select {
	case h.send <- req:
		return <-req.reply, nil
	case <-h.quit:
		return 0, ErrClosed
	}
}

// Build returns the id of the last completed build (0 before any).
func (h *Hub) Build() int64 { return h.build.Load() }

// Epoch returns the epoch sent in hello.
func (h *Hub) Epoch() string { return h.opts.Epoch }

// Clients returns the number of connected clients of both protocols, the
// browsers and programs that are told about builds; dashboards do not count.
func (h *Hub) Clients() int { return int(h.nclients.Load()) }

// Browsers returns the number of connected reloadd clients that came with an
// Origin: browser pages, which report how long a reload took. Local programs
// (no Origin) and LiveReload clients never report.
func (h *Hub) Browsers() int { return int(h.nbrowsers.Load()) }

// count adds d to the counters c belongs to.
func (h *Hub) count(c *client, d int64) {
	switch {
	case c.proto == protoDashboard:
		h.ndash.Add(d)
	case c.proto == protoReloadd && c.origin != "":
		h.nbrowsers.Add(d)
		h.nclients.Add(d)
	default:
		h.nclients.Add(d)
	}
}

// Close sends every client a going-away close frame and waits for all client
// goroutines; connections that have not finished after a short grace period
// (a client that stopped reading, a LiveReload handshake in progress) are
// closed. The sending methods return ErrClosed afterwards, and new
// WebSocket requests are refused with 503. Close is idempotent and always
// returns nil.
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
