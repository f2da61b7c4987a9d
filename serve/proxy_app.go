package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// The app's health, as the proxy sees it: connecting to the app (waiting
// for it while it starts), what the daemon says of it (SetAppState), the
// answers reloadd gives for an app that cannot answer (the waiting page,
// plain-text 503/502), and the probe the waiting page polls.

// Design notes: the constants of connecting to the app.
const (
	// DefaultWait is how long a request waits for an app that does not
	// accept connections (restarting under -run, or down) before it gets
	// the waiting page. Long enough to cover a typical restart of a Go or
	// Node app (0.1–2 s), so that a reload during a restart just takes a
	// little longer; short enough that a browser shows reloadd's page, not
	// a spinner, when the app is really down. The page takes over the
	// waiting from there. An app the daemon reports down (AppDown) is not
	// waited for at all.
	DefaultWait = 3 * time.Second

	// dialRetry is the pause between connection attempts while waiting. A
	// refused connect on loopback costs microseconds, so polling this often
	// is cheap, and the request goes through at most this long after the
	// app starts listening.
	dialRetry = 50 * time.Millisecond

	// dialTimeout bounds one connection attempt, for a remote app that
	// does not refuse but never answers either.
	dialTimeout = 10 * time.Second
)

// UpstreamPath answers whether the proxied app accepts connections. The
// waiting page polls it to reload itself when the app is back: GET waits
// like a request would (up to the proxy's Wait; not at all while the app is
// reported down) and answers 200 {"up":true,"state":S} or 503
// {"up":false,"state":S,"error":"..."}, where S is the [AppState] the
// daemon last reported ("starting", "up" or "down").
const UpstreamPath = "/_reloadd/upstream"

// AppState is what the daemon knows of the app behind the proxy; see
// [Proxy.SetAppState].
type AppState int

const (
	// AppStarting: the app is starting, or nothing is known of it (the
	// default, as for -proxy without -run). A request waits up to
	// ProxyOptions.Wait for it to accept a connection.
	AppStarting AppState = iota
	// AppUp: the app is running and was ready. Requests go through; one
	// that finds the app not accepting connections waits as with
	// AppStarting (the app may have just exited, and the daemon is about
	// to say so).
	AppUp
	// AppDown: the app is not running: it exited, or the build it needs
	// failed. Requests are answered at once without connecting to the app:
	// pages get the waiting page with the reason, the rest a plain-text
	// 503, and UpstreamPath answers down.
	AppDown
)

// String returns "starting", "up" or "down".
func (s AppState) String() string {
	switch s {
	case AppStarting:
		return "starting"
	case AppUp:
		return "up"
	case AppDown:
		return "down"
	}
	return fmt.Sprintf("AppState(%d)", int(s))
}

// appStatus is one state the daemon reported. It is replaced, never
// modified; changed is closed when it is replaced, which wakes the
// requests waiting for the app.
type appStatus struct {
	state   AppState
	reason  string
	changed chan struct{}
}

// SetAppState tells the proxy what the daemon knows of the app, with a
// one-line reason shown on the waiting page while it is AppDown ("exited
// with status 1", "the start-up build failed"). Requests waiting for the
// app see a change at once: AppDown answers them with the waiting page
// without waiting out the rest of ProxyOptions.Wait.
//
// The proxy reports on its Logger only what it alone observes: an app
// that stops accepting connections while it is not reported down, and its
// return. Reporting AppUp ends such an episode without a line of the
// proxy's (the daemon says the app is ready); reporting AppDown closes the
// idle connections to the app.
//
// SetAppState is safe for concurrent use with everything else.
func (p *Proxy) SetAppState(state AppState, reason string) {
	p.mu.Lock()
	old := p.app.Load()
	if old.state == state && old.reason == reason {
		p.mu.Unlock()
		return
	}
	p.app.Store(&appStatus{state: state, reason: reason, changed: make(chan struct{})})
	close(old.changed)
	p.mu.Unlock()
	switch state {
	case AppUp:
		p.down.Store(false)
	case AppDown:
		p.tr.CloseIdleConnections()
	}
}

// AppState returns the state last given to SetAppState, and its reason.
func (p *Proxy) AppState() (AppState, string) {
	a := p.app.Load()
	return a.state, a.reason
}

// dial connects to the app, retrying for up to p.wait while it does not
// accept connections. It does not try while the app is reported down, and
// stops waiting when it is reported down meanwhile.
func (p *Proxy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	start := time.Now()
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	for {
		app := p.app.Load()
		if app.state == AppDown {
			return nil, &appDownError{app: p.target.Redacted(), known: true, reason: app.reason}
		}
		p.dials.Add(1)
		conn, err := d.DialContext(ctx, network, addr)
		if err == nil {
			p.setUp()
			return conn, nil
		}
		if ctx.Err() != nil || p.ctx.Err() != nil {
			return nil, err
		}
		left := p.wait - time.Since(start)
		if left <= 0 {
			return nil, &appDownError{app: p.target.Redacted(), waited: time.Since(start), err: err}
		}
		t := time.NewTimer(min(dialRetry, left))
		select {
		case <-t.C:
		case <-app.changed:
			t.Stop() // look at the new state now
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-p.ctx.Done():
			t.Stop()
			return nil, err
		}
	}
}

// appDownError is a dial that kept failing for the whole wait, or that was
// not tried because the app is reported down (known).
type appDownError struct {
	app    string
	known  bool   // reported down by SetAppState
	reason string // SetAppState's reason, when known
	waited time.Duration
	err    error
}

func (e *appDownError) Error() string {
	if e.known {
		if e.reason == "" {
			return fmt.Sprintf("the app at %s is not running", e.app)
		}
		return fmt.Sprintf("the app at %s is not running: %s", e.app, e.reason)
	}
	return fmt.Sprintf("the app at %s is not answering (waited %v): %v", e.app, e.waited.Round(time.Millisecond), e.err)
}

func (e *appDownError) Unwrap() error { return e.err }

func (p *Proxy) setUp() {
	if p.down.Swap(false) {
		p.log.Info("the app is answering again", "upstream", p.target.Redacted())
	}
}

func (p *Proxy) setDown(err error) {
	if !p.down.Swap(true) {
		p.log.Warn("the app is not answering; browsers get the waiting page", "upstream", p.target.Redacted(), "error", err.Error())
	}
}

// fail answers a request the app could not: the waiting page for
// documents, plain text for the rest. r is the request to the app.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		if p.ctx.Err() != nil {
			http.Error(w, "reloadd: shutting down", http.StatusServiceUnavailable)
		}
		return // the browser left
	}
	status := http.StatusBadGateway
	var down *appDownError
	switch {
	case errors.As(err, &down):
		status = http.StatusServiceUnavailable
		if !down.known {
			// A daemon that reports the app down says so itself.
			p.setDown(err)
		}
	default:
		p.log.Warn("the app did not answer properly", "method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	if !wantsPage(r.Header) {
		http.Error(w, "reloadd: "+err.Error(), status)
		return
	}
	var tag []byte
	if p.tag != nil {
		tag = p.tag()
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(waitingPage(waiting{
			status: status, app: p.target.Redacted(), reason: err.Error(), method: r.Method,
			notRunning: down != nil && down.known, tag: tag,
		}))
	}
}

// ServeProbe serves UpstreamPath.
func (p *Proxy) ServeProbe(w http.ResponseWriter, r *http.Request) {
	p.track(w, r, func(ctx context.Context) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		conn, err := p.dial(ctx, "tcp", p.addr)
		state, _ := p.AppState()
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]any{"up": false, "state": state.String(), "error": err.Error()})
			return
		}
		conn.Close()
		json.NewEncoder(w).Encode(map[string]any{"up": true, "state": state.String()})
	})
}
