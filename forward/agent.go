package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/gorilla/websocket"
	"golang.org/x/text/unicode/norm"

	"github.com/reloadd/reloadd/debounce"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/auto"
)

// DefaultURL is where an agent looks for the daemon: LiveReload's port on
// loopback, which a container publishes.
const DefaultURL = "http://127.0.0.1:35729"

// Agent timing; the reasons are in the design notes of doc.go.
const (
	// DefaultSettle is the agent's settle window: short, because the
	// daemon settles again (10 ms) and folds what the agent split.
	DefaultSettle = 2 * time.Millisecond
	// retryMin and retryMax bound the pause between connection attempts.
	retryMin = 100 * time.Millisecond
	retryMax = time.Second
	// cookieGrace is how long an agent keeps retrying when the daemon does
	// not know its cookie: a new daemon's cookie may take a moment to
	// show on the host side (a share's cache). authGrace is the same for a
	// proof that does not verify.
	cookieGrace = 5 * time.Second
	authGrace   = 10 * time.Second
)

// AgentOptions configure RunAgent.
type AgentOptions struct {
	// URL is the daemon's address; "" means DefaultURL.
	URL string
	// Dir is the host side of the shared folder; "" means ".".
	Dir string
	// Token authenticates where the daemon cannot write its cookie.
	Token string
	// Settle is the watcher's settle window; 0 means DefaultSettle.
	Settle time.Duration
	// Print receives the terminal lines: an event kind, the text and
	// fields for -log json. Nil prints nothing.
	Print func(kind, msg string, fields map[string]any)
	// Logger receives debug diagnostics. Nil discards them.
	Logger *slog.Logger
}

// ErrFatal matches (errors.Is) the errors after which RunAgent stops:
// retrying cannot help (a wrong DIR, another protocol version).
var ErrFatal = errors.New("forward: fatal")

type fatalError struct{ msg string }

func (e *fatalError) Error() string        { return e.msg }
func (e *fatalError) Is(target error) bool { return target == ErrFatal }

func fatalf(format string, args ...any) error {
	return &fatalError{fmt.Sprintf(format, args...)}
}

// agent is one RunAgent: one directory, one connection at a time.
type agent struct {
	opts AgentOptions
	root string
	ws   string // the endpoint's ws:// URL
	log  *slog.Logger
	host string
	seq  atomic.Int64

	// The watch pipeline, started after the first welcome; owned by
	// RunAgent's goroutine.
	pipe     *pipeline
	settings string // the welcome's filter settings the pipeline runs with

	mu   sync.Mutex // held while sending; guards conn
	conn *websocket.Conn
	sent int64 // records sent on conn
}

// RunAgent forwards the changes under opts.Dir to the daemon at opts.URL
// until ctx is cancelled (then it returns nil) or a fatal error (wrapping
// ErrFatal). It reconnects by itself, however often the daemon goes away.
func RunAgent(ctx context.Context, opts AgentOptions) error {
	if opts.URL == "" {
		opts.URL = DefaultURL
	}
	if opts.Dir == "" {
		opts.Dir = "."
	}
	if opts.Settle == 0 {
		opts.Settle = DefaultSettle
	}
	ws, err := endpoint(opts.URL)
	if err != nil {
		return fatalf("%v", err)
	}
	abs, err := watcher.RootDir(opts.Dir)
	if err != nil {
		return fatalf("%s: %v", opts.Dir, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	host, _ := os.Hostname()
	a := &agent{opts: opts, root: abs, ws: ws, log: watcher.Options{Logger: opts.Logger}.LoggerOrDiscard(), host: host}
	defer a.stopPipe()
	return a.run(ctx)
}

// endpoint turns the daemon's http(s) URL into the agent endpoint's
// ws(s) URL.
func endpoint(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("-to %q: want a URL like %s", raw, DefaultURL)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("-to %q: want an http:// or https:// URL", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + Path
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

func (a *agent) print(kind, msg string, fields map[string]any) {
	if a.opts.Print != nil {
		a.opts.Print(kind, msg, fields)
	}
}

func (a *agent) run(ctx context.Context) error {
	pause := retryMin
	waiting := false
	var cookieSince, authSince time.Time
	for {
		if ctx.Err() != nil {
			return nil
		}
		conn, err := a.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !waiting {
				waiting = true
				a.print("forward_waiting", fmt.Sprintf("reloadd forward: waiting for reloadd at %s (%v)", a.opts.URL, err),
					map[string]any{"url": a.opts.URL, "error": err.Error()})
			}
			if !sleep(ctx, jitter(pause)) {
				return nil
			}
			pause = min(2*pause, retryMax)
			continue
		}
		waiting = false
		welcome, err := a.handshake(conn)
		if err != nil {
			conn.Close()
			var e *Error
			if errors.As(err, &e) {
				now := time.Now()
				switch {
				case e.Code == CodeNoCookie:
					if cookieSince.IsZero() {
						cookieSince = now
					}
					if now.Sub(cookieSince) >= cookieGrace {
						return fatalf("%s%s", e.Message, a.cookieHint())
					}
				case e.Code == CodeAuth:
					if authSince.IsZero() {
						authSince = now
					}
					if now.Sub(authSince) >= authGrace {
						return fatalf("%s", e.Message)
					}
				case Fatal(e.Code):
					return fatalf("%s", e.Message)
				}
			}
			a.log.Debug("forward: handshake failed", "err", err)
			if !sleep(ctx, jitter(pause)) {
				return nil
			}
			pause = min(2*pause, retryMax)
			continue
		}
		cookieSince, authSince = time.Time{}, time.Time{}
		pause = retryMin
		reason, err := a.serve(ctx, conn, welcome)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		a.print("forward_disconnected", fmt.Sprintf("reloadd forward: disconnected from %s (%s); reconnecting", a.opts.URL, reason),
			map[string]any{"url": a.opts.URL, "dir": a.root, "reason": reason})
	}
}

func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (a *agent) dial(ctx context.Context) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: handshakeTimeout, Proxy: http.ProxyFromEnvironment}
	conn, resp, err := d.DialContext(ctx, a.ws, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%s: %s", a.ws, resp.Status)
		}
		return nil, unwrapOp(err)
	}
	return conn, nil
}

func unwrapOp(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// handshake sends hello, checks the daemon's proof, proves the agent's, and
// returns the welcome.
func (a *agent) handshake(conn *websocket.Conn) (Welcome, error) {
	conn.SetReadLimit(MaxMessage)
	conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	defer conn.SetReadDeadline(time.Time{})
	c, cerr := readCookie(a.root)
	h := Hello{Type: TypeHello, Version: Version, Nonce: newNonce(), Token: a.opts.Token != "",
		Host: a.host, Dir: a.root, OS: runtime.GOOS}
	if cerr == nil {
		h.Cookie = c.id
	} else if !errors.Is(cerr, fs.ErrNotExist) {
		a.log.Debug("forward: cookie unreadable", "err", cerr)
	}
	if a.opts.Token != "" {
		h.Names, _ = TopNames(a.root)
	}
	if err := a.write(conn, h); err != nil {
		return Welcome{}, err
	}
	var ch Challenge
	if err := readAs(conn, TypeChallenge, &ch); err != nil {
		return Welcome{}, err
	}
	if _, err := decodeNonce(ch.Nonce); err != nil {
		return Welcome{}, errors.New("the daemon sent a bad nonce")
	}
	var key []byte
	switch {
	case ch.Key == "cookie" && cerr == nil:
		key = c.secret
	case ch.Key == "token" && a.opts.Token != "":
		key = tokenKey(a.opts.Token)
	default:
		return Welcome{}, fmt.Errorf("the daemon asked for a %q proof, which this agent cannot give", ch.Key)
	}
	if !proofOK(proof(key, "daemon", h.Nonce, ch.Nonce, h.Cookie), ch.Proof) {
		return Welcome{}, &Error{Code: CodeAuth, Message: fmt.Sprintf("the server at %s could not prove it holds the %s: not the reloadd that wrote it", a.opts.URL, ch.Key)}
	}
	if err := a.write(conn, Auth{Type: TypeAuth, Proof: proof(key, "agent", h.Nonce, ch.Nonce, h.Cookie)}); err != nil {
		return Welcome{}, err
	}
	var w Welcome
	if err := readAs(conn, TypeWelcome, &w); err != nil {
		return Welcome{}, err
	}
	for _, v := range w.Visible {
		if v != "" && CheckPath(v) != nil {
			return Welcome{}, fmt.Errorf("the daemon sent a bad visible directory %q", v)
		}
	}
	return w, nil
}

// readAs reads one message of type want; an error message comes back as
// *Error.
func readAs(conn *websocket.Conn, want string, v any) error {
	_, data, err := conn.ReadMessage()
	if err != nil {
		return err
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("bad message from the daemon: %v", err)
	}
	if env.Type == TypeError {
		var e Error
		json.Unmarshal(data, &e)
		return &e
	}
	if env.Type != want {
		return fmt.Errorf("expected %s from the daemon, got %q", want, env.Type)
	}
	return json.Unmarshal(data, v)
}

func (a *agent) write(conn *websocket.Conn, v any) error {
	conn.SetWriteDeadline(time.Now().Add(writeWait))
	return conn.WriteJSON(v)
}

// serve runs one authenticated connection: the watcher (started, or
// restarted for new filter settings), the manifest, then records until the
// connection ends. It returns why it ended.
func (a *agent) serve(ctx context.Context, conn *websocket.Conn, w Welcome) (string, error) {
	defer conn.Close()
	settings := fmt.Sprint(w.GitIgnore, w.Visible)
	if a.pipe == nil || settings != a.settings {
		a.stopPipe()
		p, err := a.startPipe(w)
		if err != nil {
			a.write(conn, Error{Type: TypeError, Code: "agent", Message: err.Error()})
			return "", fatalf("%v", err)
		}
		a.pipe, a.settings = p, settings
	}
	// The reader handles pings and notices the end of the connection.
	ended := make(chan string, 1)
	go func() { ended <- readUntilEnd(conn) }()

	a.mu.Lock()
	a.conn, a.sent = conn, 0
	files, err := a.sendManifest(conn)
	a.mu.Unlock()
	if err != nil {
		a.dropConn(conn)
		return fmt.Sprintf("sending the manifest: %v", unwrapOp(err)), nil
	}
	a.print("forward_connected", fmt.Sprintf("reloadd forward: forwarding %s to %s (%s there, %d files)", a.root, a.opts.URL, w.Mount, files),
		map[string]any{"url": a.opts.URL, "dir": a.root, "mount": w.Mount, "files": files})
	var reason string
	select {
	case reason = <-ended:
	case <-ctx.Done():
		a.mu.Lock()
		a.conn = nil
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "agent stopped"), time.Now().Add(time.Second))
		a.mu.Unlock()
		conn.Close()
		<-ended
		return "stopped", nil
	}
	a.dropConn(conn)
	return reason, nil
}

func (a *agent) dropConn(conn *websocket.Conn) {
	a.mu.Lock()
	if a.conn == conn {
		a.conn = nil
	}
	a.mu.Unlock()
	conn.Close()
}

// readUntilEnd reads until the connection ends and says why: the daemon's
// error message, or the connection's failure. Pings are answered (by
// gorilla's default handler) and keep the connection alive.
func readUntilEnd(conn *websocket.Conn) string {
	conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPingHandler(func(data string) error {
		conn.SetReadDeadline(time.Now().Add(pongWait))
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
		if err == websocket.ErrCloseSent {
			return nil
		}
		return err
	})
	reason := ""
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if reason != "" {
				return reason
			}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return fmt.Sprintf("closed by reloadd: %d %s", ce.Code, ce.Text)
			}
			return "connection lost"
		}
		conn.SetReadDeadline(time.Now().Add(pongWait))
		var e Error
		if json.Unmarshal(data, &e) == nil && e.Type == TypeError {
			reason = e.Message
		}
	}
}

// sendManifest walks the tree and sends every file it watches (called with
// a.mu held, so no record goes out before the manifest is complete).
func (a *agent) sendManifest(conn *websocket.Conn) (int, error) {
	f := a.pipe.filter
	batch := make([]Entry, 0, MaxEntries)
	n := 0
	flush := func(done bool) error {
		err := a.write(conn, Manifest{Type: TypeManifest, Entries: batch, Done: done})
		batch = batch[:0]
		return err
	}
	err := filepath.WalkDir(a.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == a.root {
				return err
			}
			return nil // vanished or unreadable: the watcher reports what happens
		}
		if p == a.root {
			return nil
		}
		if f.Match(p, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		rel, ok := a.rel(p)
		if !ok {
			return nil
		}
		e := Entry{P: rel, D: d.IsDir()}
		if !e.D {
			e.S, e.M = fi.Size(), fi.ModTime().UnixNano()
		}
		batch = append(batch, e)
		if !e.D {
			n++
		}
		if len(batch) == MaxEntries {
			return flush(false)
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush(true)
}

// rel returns p relative to the root as it goes on the wire: slash-
// separated, Unicode NFC.
func (a *agent) rel(p string) (string, bool) {
	r, err := filepath.Rel(a.root, p)
	if err != nil || r == "." || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", false
	}
	r = norm.NFC.String(filepath.ToSlash(r))
	return r, CheckPath(r) == nil
}

// send sends records if connected (dropping them otherwise: the manifest
// at the next connection covers them).
func (a *agent) send(recs []Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.conn == nil {
		return
	}
	for len(recs) > 0 {
		n := min(len(recs), MaxRecords)
		now := time.Now()
		for i := range recs[:n] {
			if !recs[i].seen.IsZero() {
				recs[i].A = max(now.Sub(recs[i].seen).Microseconds(), 1)
			}
		}
		if err := a.write(a.conn, Changes{Type: TypeChanges, Records: recs[:n]}); err != nil {
			a.conn.Close() // the reader sees it and the run loop reconnects
			a.conn = nil
			return
		}
		a.sent += int64(n)
		recs = recs[n:]
	}
}

// records turns verified events into records: each write with the host's
// size, mtime and content hash, and each with when the watcher saw it
// (sent as its age, A).
func (a *agent) records(evs []watcher.Event) []Record {
	out := make([]Record, 0, len(evs))
	for _, ev := range evs {
		rel, ok := a.rel(ev.Path)
		if !ok {
			continue
		}
		r := Record{P: rel, Op: OpRemove, seen: ev.Time}
		if !ev.Op.Has(watcher.Remove) {
			if fi, err := os.Lstat(ev.Path); err == nil && !fi.IsDir() {
				r.Op, r.S, r.M = OpWrite, fi.Size(), fi.ModTime().UnixNano()
				if h, ok := hashOf(ev.Path, fi); ok {
					r.H = formatHash(h)
				}
			} else if err == nil {
				continue // a directory: its files are reported on their own
			}
		}
		r.N = a.seq.Add(1)
		out = append(out, r)
	}
	return out
}

// hashOf hashes a file the way the daemon's poller does: the content of a
// regular file, the target text of a symlink.
func hashOf(p string, fi fs.FileInfo) (uint64, bool) {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(p)
		if err != nil {
			return 0, false
		}
		return xxhash.Sum64String(t), true
	case fi.Mode().IsRegular():
		sum, _, ok, err := watcher.HashFile(p, 0)
		return sum, ok && err == nil
	}
	return 0, false
}

// pipeline is the agent's watcher: auto (native where it can, polling
// where it must), a debounce queue, and one goroutine that verifies each
// batch and sends it.
type pipeline struct {
	filter *watcher.Filter
	w      *auto.Watcher
	q      *debounce.Queue
	done   chan struct{}
	errs   chan struct{}
}

func (a *agent) startPipe(wel Welcome) (*pipeline, error) {
	f := watcher.DefaultFilter()
	f.SetIgnoreFiles(wel.GitIgnore)
	for _, v := range wel.Visible {
		f.KeepVisible(filepath.Join(a.root, filepath.FromSlash(v)))
	}
	w, err := auto.New([]string{a.root}, auto.Options{Options: watcher.Options{Filter: f, Logger: a.opts.Logger}})
	if err != nil {
		return nil, err
	}
	for _, m := range w.Mounts() {
		if m.Mode == auto.Poll {
			a.print("warning", fmt.Sprintf("reloadd forward: warning: %s is on %s, which this machine must poll (%s): run reloadd forward where the files are stored (the host), not through a share",
				m.Path, m.FSType, m.Reason), map[string]any{"path": m.Path, "fstype": m.FSType})
		}
	}
	p := &pipeline{filter: f, w: w, q: debounce.New(w.Events(), debounce.Options{Settle: a.opts.Settle}),
		done: make(chan struct{}), errs: make(chan struct{})}
	go func() {
		defer close(p.done)
		for b := range p.q.Batches() {
			a.send(a.records(w.Verify(b.Events)))
			p.q.Done()
		}
	}()
	go func() {
		defer close(p.errs)
		for err := range w.Errors() {
			a.print("watch_error", "reloadd forward: "+err.Error(), map[string]any{"error": err.Error()})
		}
	}()
	return p, nil
}

func (a *agent) stopPipe() {
	p := a.pipe
	if p == nil {
		return
	}
	a.pipe = nil
	p.w.Close()
	p.q.Close()
	<-p.done
	<-p.errs
}

// cookieHint looks for the cookie above and below the root, for the
// wrong-DIR error.
func (a *agent) cookieHint() string {
	for d := filepath.Dir(a.root); ; d = filepath.Dir(d) {
		if _, err := readCookie(d); err == nil {
			return fmt.Sprintf(" (the shared folder seems to be %s: run reloadd forward there)", d)
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	const maxDepth, maxSeen = 4, 20000
	seen := 0
	found := ""
	filepath.WalkDir(a.root, func(p string, d fs.DirEntry, err error) error {
		seen++
		if err != nil || found != "" || seen > maxSeen {
			return filepath.SkipAll
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(a.root, p)
		if rel != "." && strings.Count(rel, string(filepath.Separator)) >= maxDepth {
			return filepath.SkipDir
		}
		if name := d.Name(); p != a.root && (slices.Contains(watcher.DefaultIgnores, name) || name == CookieDir) {
			return filepath.SkipDir
		}
		if p != a.root {
			if _, err := readCookie(p); err == nil {
				found = p
				return filepath.SkipAll
			}
		}
		return nil
	})
	if found != "" {
		return fmt.Sprintf(" (the shared folder seems to be %s: run reloadd forward there)", found)
	}
	return ""
}
