package forward

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/auto"
	"github.com/reloadd/reloadd/watcher/watchertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// share is a deaf mount with the daemon's side running on it: src is the
// host side (where the agent runs and the tests write), mnt the mount the
// daemon's watcher polls, srv the agent endpoint on a real loopback HTTP
// server.
type share struct {
	src, mnt string
	mount    *testenv.Mount
	w        *auto.Watcher
	srv      *Server
	http     *httptest.Server
	lines    *lines
}

// lines collects terminal lines (Print) for assertions.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) print(kind, msg string, fields map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, kind+" "+msg)
}

func (l *lines) count(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.l {
		if strings.HasPrefix(s, kind+" ") {
			n++
		}
	}
	return n
}

func (l *lines) find(kind, sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.l {
		if strings.HasPrefix(s, kind+" ") && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.l, "\n")
}

// shareOpts tune newShare.
type shareOpts struct {
	sshfs    bool
	readOnly bool   // bindfs -r: the daemon cannot write its cookie
	token    string // the daemon's -token
	src      string // use this host directory instead of a new one
	// files are written into the host directory before anything starts
	// (relative path → content; modified an hour ago).
	files map[string]string
}

func tempDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newShare mounts src (a new directory unless o.src) and starts the
// daemon's side: the auto watcher on the mount (which polls it: deaf) and
// the endpoint.
func newShare(t *testing.T, o shareOpts) *share {
	t.Helper()
	base := tempDir(t)
	s := &share{src: o.src, mnt: filepath.Join(base, "mnt"), lines: &lines{}}
	if s.src == "" {
		s.src = filepath.Join(base, "src")
		if err := os.Mkdir(s.src, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(s.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	watchertest.MakeTree(t, s.src, o.files)
	switch {
	case o.sshfs:
		s.mount = testenv.SSHFS(t, s.src, s.mnt, "dir_cache=no")
	case o.readOnly:
		bindfsRO(t, s.src, s.mnt)
	default:
		s.mount = testenv.Bindfs(t, s.src, s.mnt)
	}
	return s.start(t, o)
}

// bindfsRO mounts src read-only at mnt (bindfs -r), unmounted at cleanup.
func bindfsRO(t *testing.T, src, mnt string) {
	t.Helper()
	bin := testenv.Need(t, "bindfs")
	testenv.Need(t, "fusermount")
	cmd := exec.Command(bin, "-f", "-r", src, mnt)
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		testenv.Eventually(t, "fusermount -u "+mnt, func() bool { return exec.Command("fusermount", "-u", mnt).Run() == nil })
		<-done
	})
	testenv.Eventually(t, "bindfs -r to mount "+mnt, func() bool {
		select {
		case <-done:
			t.Fatalf("bindfs exited: %s", out.String())
		default:
		}
		return testenv.IsMountPoint(mnt)
	})
}

func (s *share) start(t *testing.T, o shareOpts) *share {
	t.Helper()
	w, err := auto.New([]string{s.mnt}, auto.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ms := w.Mounts(); len(ms) != 1 || ms[0].Mode != auto.Poll {
		w.Close()
		t.Fatalf("the mount is not polled: %+v", ms)
	}
	s.w = w
	return s.serve(t, o)
}

// serve starts the endpoint for s.w.
func (s *share) serve(t *testing.T, o shareOpts) *share {
	t.Helper()
	w := s.w
	s.srv = NewServer(ServerOptions{Target: w, Token: o.token, Epoch: "test", GitIgnore: true, Print: s.lines.print})
	mux := http.NewServeMux()
	mux.Handle(Path, s.srv)
	s.http = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.http.Close()
		s.srv.Close()
		// w is closed by its recorder, or here.
		w.Close()
	})
	return s
}

func (s *share) url() string { return s.http.URL }

// mode returns the mount's status entry.
func (s *share) status(t testing.TB) auto.MountStatus {
	t.Helper()
	ms := s.w.Mounts()
	if len(ms) != 1 {
		t.Fatalf("mounts: %+v", ms)
	}
	return ms[0]
}

func (s *share) waitMode(t testing.TB, m auto.Mode) auto.MountStatus {
	t.Helper()
	var st auto.MountStatus
	testenv.Eventually(t, "the mount in mode "+string(m), func() bool {
		st = s.status(t)
		return st.Mode == m
	})
	return st
}

// runAgent runs RunAgent on dir in the background until the test ends (or
// stop is called); done receives its result.
type agentRun struct {
	cancel context.CancelFunc
	done   chan error
	lines  *lines
}

func startAgent(t *testing.T, url, dir string, opts AgentOptions) *agentRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &agentRun{cancel: cancel, done: make(chan error, 1), lines: &lines{}}
	opts.URL, opts.Dir, opts.Print = url, dir, a.lines.print
	go func() { a.done <- RunAgent(ctx, opts) }()
	t.Cleanup(func() { a.stop(t) })
	return a
}

func (a *agentRun) stop(t testing.TB) {
	t.Helper()
	if a.cancel == nil {
		return
	}
	a.cancel()
	a.cancel = nil
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("agent: %v", err)
		}
	case <-time.After(testenv.WaitLimit):
		t.Fatal("the agent did not stop")
	}
}

// connected waits until the agent has sent its manifest.
func (a *agentRun) connected(t testing.TB, n int) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("connect line %d of the agent", n), func() bool {
		select {
		case err := <-a.done:
			t.Fatalf("the agent stopped: %v\n%s", err, a.lines)
		default:
		}
		return a.lines.count("forward_connected") >= n
	})
}

// rawAgent is a hand-driven agent connection, for forged and malformed
// messages.
type rawAgent struct {
	c *websocket.Conn
}

func dialRaw(t testing.TB, url string, hdr http.Header) (*rawAgent, *http.Response, error) {
	t.Helper()
	ws, err := endpoint(url)
	if err != nil {
		t.Fatal(err)
	}
	c, resp, err := websocket.DefaultDialer.Dial(ws, hdr)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { c.Close() })
	return &rawAgent{c: c}, resp, nil
}

func (r *rawAgent) send(t testing.TB, v any) {
	t.Helper()
	r.c.SetWriteDeadline(time.Now().Add(testenv.WaitLimit))
	if err := r.c.WriteJSON(v); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// recv reads one message; an error message comes back as *Error.
func (r *rawAgent) recv(t testing.TB, want string, v any) error {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
	return readAs(r.c, want, v)
}

// pump reads in the background until the connection ends, so pings are
// answered (a connection that never reads is given up as silent).
func (r *rawAgent) pump(t testing.TB) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.c.SetReadDeadline(time.Time{})
		for {
			if _, _, err := r.c.ReadMessage(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { r.c.Close(); <-done })
}

// closed waits until the daemon closes the connection and returns the
// error message it sent first, if any.
func (r *rawAgent) closed(t testing.TB) string {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
	msg := ""
	for {
		_, data, err := r.c.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the daemon did not close the connection")
			}
			return msg
		}
		var e Error
		if json.Unmarshal(data, &e) == nil && e.Type == TypeError {
			msg = e.Code + ": " + e.Message
		}
	}
}

// login runs the handshake with the cookie in dir, as a real agent would,
// and returns the welcome.
func (r *rawAgent) login(t testing.TB, dir string) Welcome {
	t.Helper()
	c, err := readCookie(dir)
	if err != nil {
		t.Fatal(err)
	}
	h := Hello{Type: TypeHello, Version: Version, Nonce: newNonce(), Cookie: c.id, Dir: dir}
	r.send(t, h)
	var ch Challenge
	if err := r.recv(t, TypeChallenge, &ch); err != nil {
		t.Fatalf("challenge: %v", err)
	}
	r.send(t, Auth{Type: TypeAuth, Proof: proof(c.secret, "agent", h.Nonce, ch.Nonce, c.id)})
	var w Welcome
	if err := r.recv(t, TypeWelcome, &w); err != nil {
		t.Fatalf("welcome: %v", err)
	}
	r.send(t, Manifest{Type: TypeManifest, Done: true})
	return w
}

func writeFile(t testing.TB, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeAtomic makes p appear (or change) with data at once: written to
// p+"~" (editor noise, ignored) and renamed over p. A file created and then
// written in place may be seen, by the agent and the daemon alike, empty
// first and written later: two true changes, two builds when they are
// seen apart.
func writeAtomic(t testing.TB, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p+"~", []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+"~", p); err != nil {
		t.Fatal(err)
	}
}

// eventsOf collects the verified events of w (debounced as reloadd does)
// into builds.
type builds struct {
	mu sync.Mutex
	b  [][]string
}

func (b *builds) paths() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, x := range b.b {
		out = append(out, x...)
	}
	return out
}

func (b *builds) has(p string) bool { return slices.Contains(b.paths(), p) }

// translated shows a watcher of the mount as a watcher of the host side,
// for the conformance suite (whose steps write to the host side and whose
// expectations are relative to it).
type translated struct {
	w        *auto.Watcher
	from, to string
	events   chan watcher.Event
	done     chan struct{}
	once     sync.Once
}

func translate(w *auto.Watcher, from, to string) *translated {
	tw := &translated{w: w, from: from, to: to, events: make(chan watcher.Event, 4096), done: make(chan struct{})}
	go func() {
		defer close(tw.done)
		defer close(tw.events)
		for ev := range w.Events() {
			ev.Path = tw.mapPath(ev.Path, from, to)
			tw.events <- ev
		}
	}()
	return tw
}

func (tw *translated) mapPath(p, from, to string) string {
	if p == from {
		return to
	}
	if rest, ok := strings.CutPrefix(p, from+string(filepath.Separator)); ok {
		return filepath.Join(to, rest)
	}
	return p
}

func (tw *translated) Events() <-chan watcher.Event { return tw.events }
func (tw *translated) Errors() <-chan error         { return tw.w.Errors() }
func (tw *translated) Close() error {
	tw.once.Do(func() {
		tw.w.Close()
		<-tw.done
	})
	return nil
}

func (tw *translated) Verify(batch []watcher.Event) []watcher.Event {
	in := make([]watcher.Event, len(batch))
	for i, ev := range batch {
		ev.Path = tw.mapPath(ev.Path, tw.to, tw.from)
		in[i] = ev
	}
	out := tw.w.Verify(in)
	for i := range out {
		out[i].Path = tw.mapPath(out[i].Path, tw.from, tw.to)
	}
	return out
}

func websocketUpgrader() websocket.Upgrader { return websocket.Upgrader{} }

func newHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
