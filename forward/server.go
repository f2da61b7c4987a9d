package forward

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/text/unicode/norm"

	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/auto"
)

// Target is what the daemon endpoint drives: the daemon's watcher
// (*auto.Watcher).
type Target interface {
	// Forwardable lists the mounts an agent can serve now.
	Forwardable() []string
	// Attach switches a mount to forward mode for an authenticated agent.
	Attach(mount string, info auto.AgentInfo) (*auto.Link, error)
}

// ServerOptions configure NewServer.
type ServerOptions struct {
	// Target is the daemon's watcher.
	Target Target
	// Token, if set, lets agents that hold it in (-token, RELOADD_TOKEN),
	// for shares the daemon cannot write its cookie into.
	Token string
	// Epoch is the daemon's id, told to agents.
	Epoch string
	// GitIgnore and Visible describe the daemon's filter (whether it
	// honours .gitignore files, and the absolute directories those never
	// hide), so agents ignore no more than the daemon does.
	GitIgnore bool
	Visible   []string
	// Print receives the terminal lines (connect, disconnect, refusals):
	// an event kind, the human text and fields for -log json. Nil prints
	// nothing.
	Print func(kind, msg string, fields map[string]any)
	// Logger receives debug diagnostics. Nil discards them.
	Logger *slog.Logger
}

// Limits of the endpoint.
const (
	// maxHandshakes is how many connections may be in their handshake at
	// once; more are refused with 503 (an agent retries).
	maxHandshakes = 8
	// recordRate and recordBurst cap the records an agent may send: a
	// checkout of 20,000 files goes through at once, beyond that each
	// agent gets 5,000 records a second. Over the rate the daemon stops
	// reading, so TCP slows the agent down: nothing is dropped.
	recordRate  = 5000
	recordBurst = 20000
	// refuseQuiet is how long the same refusal (remote host and reason)
	// stays off the terminal after it was printed once.
	refuseQuiet = 10 * time.Second
)

// Server is the daemon's agent endpoint, an http.Handler for Path. It keeps
// a cookie in every folder an agent can serve, authenticates agents, and
// feeds their records to the Target.
//
// Each connection runs on its handler's goroutine plus one pinger; Close
// closes every connection (http.Server.Shutdown does not close hijacked
// ones), waits for them, and removes the cookies. Its methods are safe for
// concurrent use.
type Server struct {
	opts ServerOptions
	up   websocket.Upgrader
	log  *slog.Logger
	sem  chan struct{}

	mu       sync.Mutex
	closed   bool
	cookies  map[string]*folderCookie // by mount path
	sessions map[*session]struct{}
	byMount  map[string]*session
	refused  map[string]time.Time
	wg       sync.WaitGroup
}

// folderCookie is the cookie of one mount, or why there is none.
type folderCookie struct {
	c   cookie
	err error // writing failed: a read-only share
}

// NewServer writes a cookie into every folder an agent can serve now and
// returns the endpoint.
func NewServer(opts ServerOptions) *Server {
	s := &Server{
		opts:     opts,
		log:      watcher.Options{Logger: opts.Logger}.LoggerOrDiscard(),
		sem:      make(chan struct{}, maxHandshakes),
		cookies:  make(map[string]*folderCookie),
		sessions: make(map[*session]struct{}),
		byMount:  make(map[string]*session),
		refused:  make(map[string]time.Time),
	}
	s.up = websocket.Upgrader{
		HandshakeTimeout: handshakeTimeout,
		// Browsers always send Origin on a WebSocket; agents never do.
		CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "" },
	}
	s.ensureCookies()
	return s
}

// ensureCookies writes a cookie into each forwardable folder that has none
// yet (a hybrid mount may have switched to polling since).
func (s *Server) ensureCookies() {
	for _, m := range s.opts.Target.Forwardable() {
		s.mu.Lock()
		_, done := s.cookies[m]
		closed := s.closed
		s.mu.Unlock()
		if done || closed {
			continue
		}
		c := newCookie()
		fc := &folderCookie{c: c}
		if err := writeCookie(m, c); err != nil {
			fc.err = err
			s.log.Debug("forward: cannot write the cookie", "mount", m, "err", err)
		}
		s.mu.Lock()
		if _, dup := s.cookies[m]; !dup && !s.closed {
			s.cookies[m] = fc
		} else if fc.err == nil {
			removeCookie(m, c)
		}
		s.mu.Unlock()
	}
}

// Close ends every agent connection, waits for them, and removes the
// cookies. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	var all []*session
	for ss := range s.sessions {
		all = append(all, ss)
	}
	cookies := s.cookies
	s.mu.Unlock()
	for _, ss := range all {
		ss.kill(Error{Type: TypeError, Code: "shutdown", Message: "reloadd is shutting down"})
	}
	s.wg.Wait()
	for m, fc := range cookies {
		if fc.err == nil {
			removeCookie(m, fc.c)
		}
	}
	return nil
}

func (s *Server) print(kind, msg string, fields map[string]any) {
	if s.opts.Print != nil {
		s.opts.Print(kind, msg, fields)
	}
}

// refuse prints a refusal, at most once per remote host and reason within
// refuseQuiet: a misconfigured agent retries, a hostile one may hammer.
func (s *Server) refuse(remote, code, msg string) {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	key := host + "\x00" + code
	now := time.Now()
	s.mu.Lock()
	last, seen := s.refused[key]
	quiet := seen && now.Sub(last) < refuseQuiet
	if !quiet {
		if len(s.refused) >= 1024 {
			clear(s.refused)
		}
		s.refused[key] = now
	}
	s.mu.Unlock()
	if quiet {
		return
	}
	s.print("agent_refused", fmt.Sprintf("reloadd: agent %s refused: %s", remote, msg),
		map[string]any{"remote": remote, "code": code, "reason": msg})
}

// ServeHTTP implements http.Handler: it refuses browsers (any Origin),
// upgrades, and runs the connection until it ends.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" {
		s.refuse(r.RemoteAddr, "origin", fmt.Sprintf("a browser (Origin %q) may not act as an agent", o))
		http.Error(w, "reloadd: the agent endpoint refuses browsers", http.StatusForbidden)
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		http.Error(w, "reloadd: the agent endpoint speaks WebSocket (reloadd forward)", http.StatusBadRequest)
		return
	}
	select {
	case s.sem <- struct{}{}:
	default:
		http.Error(w, "reloadd: too many agents connecting at once", http.StatusServiceUnavailable)
		return
	}
	held := true
	release := func() {
		if held {
			held = false
			<-s.sem
		}
	}
	defer release()
	conn, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has replied
	}
	ss := &session{s: s, conn: conn, remote: r.RemoteAddr, done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.sessions[ss] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, ss)
		if s.byMount[ss.mount] == ss {
			delete(s.byMount, ss.mount)
		}
		s.mu.Unlock()
	}()
	ss.run(release)
}

// session is one agent connection on the daemon.
type session struct {
	s      *Server
	conn   *websocket.Conn
	remote string
	done   chan struct{} // closed when run returns

	wmu sync.Mutex // one writer at a time (gorilla's rule)

	mount string
	link  *auto.Link
	root  *os.Root // the mount, for resolving non-NFC names
	last  int64    // last record number
	// the rate limit's bucket
	tokens float64
	refill time.Time

	killMu sync.Mutex
	killed *Error // why another goroutine ended the connection
}

func (ss *session) write(v any) error {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	ss.conn.SetWriteDeadline(time.Now().Add(writeWait))
	return ss.conn.WriteJSON(v)
}

// kill ends the connection from another goroutine with e. The message is
// sent only if no other write is under way (one stuck on a peer that does
// not read must not hold up a shutdown).
func (ss *session) kill(e Error) {
	ss.killMu.Lock()
	if ss.killed == nil {
		ss.killed = &e
	}
	ss.killMu.Unlock()
	if ss.wmu.TryLock() {
		ss.conn.SetWriteDeadline(time.Now().Add(time.Second))
		ss.conn.WriteJSON(e)
		ss.wmu.Unlock()
	}
	ss.conn.Close()
}

func (ss *session) killedBy() *Error {
	ss.killMu.Lock()
	defer ss.killMu.Unlock()
	return ss.killed
}

// fail sends an error and returns it.
func (ss *session) fail(code, format string, args ...any) error {
	e := Error{Type: TypeError, Code: code, Message: fmt.Sprintf(format, args...)}
	ss.write(e)
	ss.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, ""), time.Now().Add(time.Second))
	return &e
}

func (e *Error) Error() string { return e.Message }

func (ss *session) read(want string, v any) error {
	_, data, err := ss.conn.ReadMessage()
	if err != nil {
		return err
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil || env.Type != want {
		return ss.fail(CodeProtocol, "expected a %s message", want)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return ss.fail(CodeProtocol, "bad %s message: %v", want, err)
	}
	return nil
}

func (ss *session) run(release func()) {
	defer close(ss.done)
	defer ss.conn.Close()
	s := ss.s
	c := ss.conn
	c.SetReadLimit(MaxMessage)
	c.SetReadDeadline(time.Now().Add(handshakeTimeout))
	info, err := ss.handshake()
	release()
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			s.refuse(ss.remote, pe.Code, pe.Message)
		}
		return
	}
	defer ss.root.Close()

	link, err := s.opts.Target.Attach(ss.mount, info)
	if err != nil {
		ss.fail(CodeNoMounts, "%s can no longer be served: %v", ss.mount, err)
		return
	}
	ss.link = link
	defer link.Detach()
	s.mu.Lock()
	old := s.byMount[ss.mount]
	s.byMount[ss.mount] = ss
	s.mu.Unlock()
	if old != nil {
		old.kill(Error{Type: TypeError, Code: CodeReplaced, Message: "another agent now serves " + ss.mount})
	}
	visible := []string{}
	for _, v := range s.opts.Visible {
		if rel, err := filepath.Rel(ss.mount, v); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			if rel == "." {
				rel = ""
			}
			visible = append(visible, filepath.ToSlash(rel))
		}
	}
	if err := ss.write(Welcome{Type: TypeWelcome, Mount: ss.mount, Epoch: s.opts.Epoch, GitIgnore: s.opts.GitIgnore, Visible: visible}); err != nil {
		return
	}
	from := info.Dir
	if info.Host != "" {
		from = info.Host + ":" + info.Dir
	}
	s.print("agent_connected", fmt.Sprintf("reloadd: agent %s connected: %s follows %s (no more polling)", ss.remote, ss.mount, from),
		map[string]any{"remote": ss.remote, "mount": ss.mount, "host": info.Host, "dir": info.Dir})

	// The pinger stops, and is waited for, before the reason is read.
	loopEnded, pingerDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(pingerDone); ss.ping(loopEnded) }()
	reason := ss.loop()
	close(loopEnded)
	ss.conn.Close()
	<-pingerDone
	if k := ss.killedBy(); k != nil {
		reason = k.Message
	}
	link.Detach()
	s.print("agent_disconnected", fmt.Sprintf("reloadd: agent %s disconnected (%s): polling %s again", ss.remote, reason, ss.mount),
		map[string]any{"remote": ss.remote, "mount": ss.mount, "reason": reason})
}

// handshake runs hello → challenge → auth and picks the mount.
func (ss *session) handshake() (auto.AgentInfo, error) {
	s := ss.s
	var h Hello
	if err := ss.read(TypeHello, &h); err != nil {
		return auto.AgentInfo{}, err
	}
	info := auto.AgentInfo{Addr: ss.remote, Host: clip(h.Host, 255), Dir: clip(h.Dir, MaxPath)}
	if h.Version != Version {
		return info, ss.fail(CodeVersion, "protocol version %d; this reloadd speaks %d (use the same reloadd version on both sides)", h.Version, Version)
	}
	if _, err := decodeNonce(h.Nonce); err != nil {
		return info, ss.fail(CodeProtocol, "bad nonce")
	}
	if len(h.Names) > MaxNames {
		return info, ss.fail(CodeProtocol, "more than %d names", MaxNames)
	}
	s.ensureCookies()
	mounts := s.opts.Target.Forwardable()
	if len(mounts) == 0 {
		return info, ss.fail(CodeNoMounts, "reloadd watches no folder that needs an agent (every folder it watches delivers its own events)")
	}
	var key []byte
	kind := ""
	s.mu.Lock()
	var readOnly []string
	for _, m := range mounts {
		fc := s.cookies[m]
		switch {
		case fc == nil:
		case fc.err != nil:
			readOnly = append(readOnly, m)
		case h.Cookie != "" && fc.c.id == h.Cookie:
			key, kind, ss.mount = fc.c.secret, "cookie", m
		}
	}
	s.mu.Unlock()
	if key == nil && h.Token && s.opts.Token != "" {
		key, kind = tokenKey(s.opts.Token), "token"
	}
	if key == nil {
		msg := fmt.Sprintf("%s is not a folder this reloadd watches: it found no cookie of %s there", orUnknown(h.Dir), strings.Join(mounts, ", "))
		if h.Cookie != "" {
			msg = fmt.Sprintf("the cookie in %s/%s is not one of this reloadd's (a cookie of an earlier run, of another reloadd, or %s is not a folder this reloadd watches: %s)",
				orUnknown(h.Dir), CookieDir, orUnknown(h.Dir), strings.Join(mounts, ", "))
		}
		if len(readOnly) > 0 {
			msg += fmt.Sprintf("; reloadd could not write its cookie into %s (read-only?): give both sides the same -token", strings.Join(readOnly, ", "))
		} else if h.Token && s.opts.Token == "" {
			msg += "; the agent has a -token but this reloadd has none"
		}
		return info, ss.fail(CodeNoCookie, "%s", msg)
	}
	nd := newNonce()
	if err := ss.write(Challenge{Type: TypeChallenge, Nonce: nd, Key: kind, Proof: proof(key, "daemon", h.Nonce, nd, h.Cookie)}); err != nil {
		return info, err
	}
	var a Auth
	if err := ss.read(TypeAuth, &a); err != nil {
		return info, err
	}
	if !proofOK(proof(key, "agent", h.Nonce, nd, h.Cookie), a.Proof) {
		if kind == "token" {
			return info, ss.fail(CodeAuth, "authentication failed: the agent's -token differs from reloadd's")
		}
		return info, ss.fail(CodeAuth, "authentication failed: the agent's cookie does not match (stale?)")
	}
	if ss.mount == "" {
		m, err := matchNames(mounts, h.Names)
		if err != nil {
			return info, ss.fail(CodeWrongDir, "%s does not look like %s: %v", orUnknown(h.Dir), strings.Join(mounts, " or "), err)
		}
		ss.mount = m
	}
	root, err := os.OpenRoot(ss.mount)
	if err != nil {
		return info, ss.fail(CodeNoMounts, "%s: %v", ss.mount, err)
	}
	ss.root = root
	return info, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "the agent's directory"
	}
	return s
}

func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "?")
}

// matchNames picks the mount whose top-level names are the agent's (token
// mode): Jaccard similarity of the two sets at least minSimilar, and
// clearly the best.
func matchNames(mounts []string, names []string) (string, error) {
	const minSimilar = 0.8
	agent := map[string]bool{}
	for _, n := range names {
		agent[n] = true
	}
	best, bestScore, second := "", -1.0, -1.0
	for _, m := range mounts {
		mine, err := TopNames(m)
		if err != nil {
			continue
		}
		inter := 0
		for _, n := range mine {
			if agent[n] {
				inter++
			}
		}
		union := len(agent) + len(mine) - inter
		score := 1.0
		if union > 0 {
			score = float64(inter) / float64(union)
		}
		if score > bestScore {
			second, best, bestScore = bestScore, m, score
		} else if score > second {
			second = score
		}
	}
	switch {
	case bestScore < minSimilar:
		return "", fmt.Errorf("the top-level names differ (%.0f%% alike)", 100*max(bestScore, 0))
	case second >= minSimilar && second == bestScore:
		return "", errors.New("several folders look alike; give the agent the folder's cookie instead (let reloadd write into the share)")
	}
	return best, nil
}

// TopNames lists dir's top-level names the way the token mode's mapping
// check compares them: directories with a trailing "/", sorted, without
// reloadd's default ignores, editor noise and the cookie directory, at most
// MaxNames.
func TopNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if n == CookieDir || slices.Contains(watcher.DefaultIgnores, n) || (!e.IsDir() && watcher.IsNoise(n)) {
			continue
		}
		n = norm.NFC.String(n)
		if e.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	slices.Sort(out)
	if len(out) > MaxNames {
		out = out[:MaxNames]
	}
	return out, nil
}

// ping keeps the connection checked until stop is closed: a peer that
// stops answering is given up after pongWait, and a link the mount has
// dropped ends the connection.
func (ss *session) ping(stop <-chan struct{}) {
	t := time.NewTicker(pingPeriod)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ss.link.Lost():
			ss.kill(Error{Type: TypeError, Code: CodeResync, Message: "reloadd could not keep up with the changes and polls in full again; reconnect to resynchronise"})
			return
		case <-t.C:
			if ss.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)) != nil {
				return
			}
		}
	}
}

// loop reads manifests and changes until the connection ends, and returns
// why it ended.
func (ss *session) loop() string {
	c := ss.conn
	c.SetReadDeadline(time.Now().Add(pongWait))
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(pongWait)) })
	ss.tokens, ss.refill = recordBurst, time.Now()
	var manifest []auto.ManifestEntry
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			switch {
			case errors.As(err, &ce) && ce.Code == websocket.CloseNormalClosure:
				return "the agent stopped"
			case errors.As(err, &ce):
				return fmt.Sprintf("closed: %d %s", ce.Code, ce.Text)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Sprintf("silent for %v", pongWait)
			}
			return "connection lost"
		}
		c.SetReadDeadline(time.Now().Add(pongWait))
		var env envelope
		if json.Unmarshal(data, &env) != nil {
			return ss.fail(CodeProtocol, "a message that is not JSON").Error()
		}
		switch env.Type {
		case TypeManifest:
			var m Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				return ss.fail(CodeProtocol, "bad manifest: %v", err).Error()
			}
			if len(m.Entries) > MaxEntries || len(manifest)+len(m.Entries) > MaxManifest {
				return ss.fail(CodeProtocol, "manifest too large").Error()
			}
			for _, e := range m.Entries {
				p, err := ss.resolveRel(e.P)
				if err != nil {
					return ss.fail(CodeProtocol, "manifest: %v", err).Error()
				}
				h, ok, err := parseHash(e.H)
				if err != nil {
					return ss.fail(CodeProtocol, "manifest: %v", err).Error()
				}
				manifest = append(manifest, auto.ManifestEntry{Path: p, Dir: e.D, Size: e.S, MTime: e.M, Hash: h, HasHash: ok})
			}
			if m.Done {
				ss.link.Reconcile(manifest)
				manifest = nil
			}
		case TypeChanges:
			var ch Changes
			if err := json.Unmarshal(data, &ch); err != nil {
				return ss.fail(CodeProtocol, "bad changes: %v", err).Error()
			}
			if len(ch.Records) > MaxRecords {
				return ss.fail(CodeProtocol, "more than %d records in one message", MaxRecords).Error()
			}
			hints := make([]auto.Hint, 0, len(ch.Records))
			arrived := time.Now()
			for _, r := range ch.Records {
				if r.N <= ss.last {
					return ss.fail(CodeProtocol, "record %d after %d: sequence numbers must increase", r.N, ss.last).Error()
				}
				ss.last = r.N
				p, err := ss.resolve(r.P)
				if err != nil {
					return ss.fail(CodeProtocol, "record %d: %v", r.N, err).Error()
				}
				h, ok, err := parseHash(r.H)
				if err != nil {
					return ss.fail(CodeProtocol, "record %d: %v", r.N, err).Error()
				}
				switch r.Op {
				case OpWrite, OpRemove:
				default:
					return ss.fail(CodeProtocol, "record %d: unknown op %q", r.N, r.Op).Error()
				}
				hints = append(hints, auto.Hint{Path: p, Remove: r.Op == OpRemove, Size: r.S, MTime: r.M, Hash: h, HasHash: ok,
					Written: writtenBefore(arrived, r.A)})
			}
			if !ss.throttle(len(hints)) {
				return "connection lost"
			}
			ss.link.Hint(hints)
		default:
			return ss.fail(CodeProtocol, "unexpected %q message", env.Type).Error()
		}
	}
}

// throttle waits until n records fit the rate limit; false if the
// connection ended meanwhile.
func (ss *session) throttle(n int) bool {
	now := time.Now()
	ss.tokens = min(ss.tokens+now.Sub(ss.refill).Seconds()*recordRate, recordBurst)
	ss.refill = now
	ss.tokens -= float64(n)
	if ss.tokens >= 0 {
		return true
	}
	wait := time.Duration(-ss.tokens / recordRate * float64(time.Second))
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ss.done:
		return false
	}
}

// resolve turns a wire path into an absolute path in the mount: it checks
// it lexically (CheckPath) and, for a name that is not ASCII, finds the
// name the mount really has when it is stored in another Unicode form
// than NFC (macOS's HFS+ stores NFD). The lookup goes through os.Root, so
// it never leaves the mount.
func (ss *session) resolve(p string) (string, error) {
	rel, err := ss.resolveRel(p)
	if err != nil {
		return "", err
	}
	return filepath.Join(ss.mount, filepath.FromSlash(rel)), nil
}

// resolveRel is resolve, relative to the mount and slash-separated.
func (ss *session) resolveRel(p string) (string, error) {
	if err := CheckPath(p); err != nil {
		return "", err
	}
	if !isASCII(p) && ss.root != nil {
		p = ss.actualName(p)
	}
	return p, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// actualName maps p, component by component, to the names the mount
// holds, where a name exists only in another normalisation form.
func (ss *session) actualName(p string) string {
	if _, err := ss.root.Lstat(p); err == nil {
		return p
	}
	parts := strings.Split(p, "/")
	dir := "."
	for _, part := range parts {
		cand := path.Join(dir, part)
		if _, err := ss.root.Lstat(cand); err != nil && !isASCII(part) {
			if f, err := ss.root.Open(dir); err == nil {
				names, _ := f.Readdirnames(-1)
				f.Close()
				for _, n := range names {
					if n != part && norm.NFC.String(n) == part {
						cand = path.Join(dir, n)
						break
					}
				}
			}
		}
		dir = cand
	}
	return dir
}

// maxRecordAge bounds a record's age (Record.A) that is believed: an older
// sighting, or a negative one, says more about the agent than about the
// write, and the save then shows no seen phase.
const maxRecordAge = time.Minute

// writtenBefore is when a change was written by a record that arrived at
// arrived and was ageUS µs old when the agent sent it; zero when the age is
// missing or implausible.
func writtenBefore(arrived time.Time, ageUS int64) time.Time {
	// Compared in µs: an agent's number times 1000 could overflow.
	if ageUS <= 0 || ageUS > maxRecordAge.Microseconds() {
		return time.Time{}
	}
	return arrived.Add(-time.Duration(ageUS) * time.Microsecond)
}
