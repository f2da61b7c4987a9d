package forward

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/auto"
	"github.com/reloadd/reloadd/watcher/watchertest"
)

// conformance runs the watcher conformance suite through a share: the
// steps write on the host side, the agent forwards, the daemon's watcher
// reports what it confirms through the mount.
func conformance(t *testing.T, sshfs bool, keep func(name string) bool) {
	var cases []watchertest.Case
	for _, c := range watchertest.Cases() {
		switch c.Name {
		case "ignore patterns": // its patterns are anchored at the host side, the daemon's filter at the mount
			continue
		case "watched root deleted and recreated": // the share's own directory: a mount cannot survive that
			continue
		}
		if keep == nil || keep(c.Name) {
			cases = append(cases, c)
		}
	}
	watchertest.RunCases(t, func(t *testing.T, root string, opts watcher.Options) watcher.Watcher {
		s := newShare(t, shareOpts{src: root, sshfs: sshfs})
		a := startAgent(t, s.url(), root, AgentOptions{})
		a.connected(t, 1)
		s.waitMode(t, auto.Forward)
		// The suite's contract: a file rewritten with the same bytes is
		// known unchanged once the factory returns.
		if !s.w.WaitHashed(testenv.WaitLimit) {
			t.Fatal("the daemon's poller never hashed its baseline")
		}
		return translate(s.w, s.mnt, root)
	}, cases)
}

func TestConformanceBindfs(t *testing.T) { conformance(t, false, nil) }

func TestConformanceSSHFS(t *testing.T) {
	conformance(t, true, func(name string) bool {
		switch name {
		case "write file", "create file", "remove file", "rename file", "vim save, backupcopy=no", "JetBrains safe write",
			"directory renamed within the tree", "directory deleted", "checkout-like bulk change":
			return true
		}
		return false
	})
}

// TestForwardModeFollowsTheAgent: "forward" while, and only while, an
// authenticated agent serves the mount; one line on each side for connect
// and disconnect.
func TestForwardModeFollowsTheAgent(t *testing.T) {
	s := newShare(t, shareOpts{files: map[string]string{"index.html": "one"}})
	a := startAgent(t, s.url(), s.src, AgentOptions{})
	a.connected(t, 1)
	st := s.waitMode(t, auto.Forward)
	if st.Agent == nil || st.Agent.Dir != s.src || st.Agent.Addr == "" || st.Agent.Since.IsZero() {
		t.Fatalf("agent status = %+v", st.Agent)
	}
	rec := watchertest.Record(t, s.w, s.mnt, watchertest.Settle)
	writeFile(t, filepath.Join(s.src, "index.html"), "two")
	rec.Wait(t, []watchertest.Change{{Path: "index.html", Op: watcher.Write}})
	testenv.Eventually(t, "records counted", func() bool { return s.status(t).Agent.Records >= 1 })
	if n := s.lines.count("agent_connected"); n != 1 {
		t.Errorf("daemon printed %d connect lines:\n%s", n, s.lines)
	}
	a.stop(t)
	st = s.waitMode(t, auto.Poll)
	if st.Agent != nil {
		t.Errorf("agent status after the agent left: %+v", st.Agent)
	}
	testenv.Eventually(t, "the daemon's disconnect line", func() bool { return s.lines.count("agent_disconnected") == 1 })
	if !s.lines.find("agent_disconnected", "the agent stopped") {
		t.Errorf("disconnect line without the reason:\n%s", s.lines)
	}
	// Polling again: a change on the host side is still seen.
	rec.Reset()
	writeFile(t, filepath.Join(s.src, "index.html"), "three")
	rec.Wait(t, []watchertest.Change{{Path: "index.html", Op: watcher.Write}})
}

// TestStoppedAgentIsNeverAResync: an agent that stops says so, every
// time. Detaching the mount once closed the link's Lost channel, which the
// pinger took for an overflow: in a race it reported "could not keep up"
// instead of the agent's own reason (1–3 disconnects in 100 here).
func TestStoppedAgentIsNeverAResync(t *testing.T) {
	s := newShare(t, shareOpts{files: map[string]string{"index.html": "one"}})
	const cycles = 100
	for i := 1; i <= cycles; i++ {
		a := startAgent(t, s.url(), s.src, AgentOptions{})
		a.connected(t, 1)
		a.stop(t)
		testenv.Eventually(t, fmt.Sprintf("disconnect line %d", i), func() bool { return s.lines.count("agent_disconnected") >= i })
	}
	if n := strings.Count(s.lines.String(), "the agent stopped"); n != cycles {
		t.Errorf("%d of %d disconnect lines say the agent stopped:\n%s", n, cycles, s.lines)
	}
}

// TestReplacedAgentIsToldSo: an agent that another agent replaces is
// told so, every time, never that the daemon could not keep up: only an
// overflow of the mount's poller is a resync.
func TestReplacedAgentIsToldSo(t *testing.T) {
	s := newShare(t, shareOpts{files: map[string]string{"index.html": "one"}})
	const cycles = 30
	for i := 1; i <= cycles; i++ {
		before := s.lines.count("agent_disconnected")
		a := startAgent(t, s.url(), s.src, AgentOptions{})
		a.connected(t, 1)
		b := startAgent(t, s.url(), s.src, AgentOptions{})
		b.connected(t, 1)
		testenv.Eventually(t, fmt.Sprintf("the replaced agent's disconnect line, cycle %d", i), func() bool { return s.lines.count("agent_disconnected") > before })
		a.stop(t)
		b.stop(t)
	}
	if n := strings.Count(s.lines.String(), "another agent now serves"); n < cycles {
		t.Errorf("%d of %d replaced agents were told so:\n%s", n, cycles, s.lines)
	}
	if strings.Contains(s.lines.String(), "could not keep up") {
		t.Errorf("a replaced or stopped agent was told the daemon could not keep up:\n%s", s.lines)
	}
}

// TestCookieIsNeverAChange: the cookie directory shows neither in git
// status nor as a change to either watcher, and is gone after Close.
func TestCookieIsNeverAChange(t *testing.T) {
	git := testenv.Need(t, "git")
	s := newShare(t, shareOpts{files: map[string]string{"index.html": "x"}})
	run := func(args ...string) string {
		cmd := exec.Command(git, args...)
		cmd.Dir = s.src
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("init", "-q", ".")
	if _, err := os.Stat(filepath.Join(s.src, CookieDir, CookieFile)); err != nil {
		t.Fatalf("no cookie on the host side: %v", err)
	}
	if out := run("status", "--porcelain", "--untracked-files=all"); out != "?? index.html\n" {
		t.Errorf("git status lists:\n%s", out)
	}
	rec := watchertest.Record(t, s.w, s.mnt, watchertest.Settle)
	a := startAgent(t, s.url(), s.src, AgentOptions{})
	a.connected(t, 1)
	rec.Sync(t)
	if got := rec.Changes(); len(got) != 0 {
		t.Errorf("changes after the cookie was written: %v", got)
	}
	a.stop(t)
	s.srv.Close()
	if _, err := os.Stat(filepath.Join(s.src, CookieDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cookie directory outlived the daemon: %v", err)
	}
}

// TestBrowserIsRefused: any Origin header is refused before the upgrade,
// and the mount stays polled.
func TestBrowserIsRefused(t *testing.T) {
	s := newShare(t, shareOpts{})
	for _, origin := range []string{"http://evil.example", "http://127.0.0.1:35729", "null"} {
		_, resp, err := dialRaw(t, s.url(), http.Header{"Origin": {origin}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %s: err %v, resp %v; want 403", origin, err, resp)
		}
	}
	if st := s.status(t); st.Mode != auto.Poll {
		t.Errorf("mode %s after browsers knocked", st.Mode)
	}
	if !s.lines.find("agent_refused", "browser") {
		t.Errorf("no refusal line:\n%s", s.lines)
	}
	resp, err := http.Get(s.url() + Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET: %s", resp.Status)
	}
}

// TestForgedAgents: nothing unauthenticated switches the mount to forward
// mode, whatever it sends.
func TestForgedAgents(t *testing.T) {
	s := newShare(t, shareOpts{})
	c, err := readCookie(s.src)
	if err != nil {
		t.Fatal(err)
	}
	try := func(name string, steps func(r *rawAgent) string, wantCode string) {
		t.Run(name, func(t *testing.T) {
			r, _, err := dialRaw(t, s.url(), nil)
			if err != nil {
				t.Fatal(err)
			}
			got := steps(r)
			if !strings.HasPrefix(got, wantCode+":") {
				t.Errorf("closed with %q, want code %s", got, wantCode)
			}
			if st := s.status(t); st.Mode != auto.Poll {
				t.Errorf("mode %s", st.Mode)
			}
		})
	}
	hello := func(cookie string) Hello {
		return Hello{Type: TypeHello, Version: Version, Nonce: newNonce(), Cookie: cookie, Dir: "/forged"}
	}
	try("public id, no secret", func(r *rawAgent) string {
		h := hello(c.id)
		r.send(t, h)
		var ch Challenge
		if err := r.recv(t, TypeChallenge, &ch); err != nil {
			t.Fatal(err)
		}
		// A proof made with a guessed key; and records right away.
		r.send(t, Auth{Type: TypeAuth, Proof: proof([]byte("guess"), "agent", h.Nonce, ch.Nonce, c.id)})
		r.send(t, Changes{Type: TypeChanges, Records: []Record{{N: 1, P: "index.html", Op: OpWrite}}})
		return r.closed(t)
	}, CodeAuth)
	try("replayed daemon proof", func(r *rawAgent) string {
		h := hello(c.id)
		r.send(t, h)
		var ch Challenge
		if err := r.recv(t, TypeChallenge, &ch); err != nil {
			t.Fatal(err)
		}
		r.send(t, Auth{Type: TypeAuth, Proof: ch.Proof}) // reflect the daemon's own proof
		return r.closed(t)
	}, CodeAuth)
	try("unknown cookie", func(r *rawAgent) string {
		r.send(t, hello("0123456789abcdef"))
		return r.closed(t)
	}, CodeNoCookie)
	try("token claimed, daemon has none", func(r *rawAgent) string {
		h := hello("")
		h.Token = true
		r.send(t, h)
		return r.closed(t)
	}, CodeNoCookie)
	try("records instead of hello", func(r *rawAgent) string {
		r.send(t, Changes{Type: TypeChanges, Records: []Record{{N: 1, P: "index.html", Op: OpWrite}}})
		return r.closed(t)
	}, CodeProtocol)
	try("another version", func(r *rawAgent) string {
		h := hello(c.id)
		h.Version = 99
		r.send(t, h)
		return r.closed(t)
	}, CodeVersion)
	if !s.lines.find("agent_refused", "authentication failed") {
		t.Errorf("no refusal line for the failed proof:\n%s", s.lines)
	}
}

// TestAgentRefusesAnImpostor: a server that cannot prove it holds the
// cookie gets no proof from the agent and no manifest.
func TestAgentRefusesAnImpostor(t *testing.T) {
	dir := tempDir(t)
	c := newCookie()
	if err := writeCookie(dir, c); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc(Path, func(w http.ResponseWriter, r *http.Request) {
		up := websocketUpgrader()
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		var h Hello
		if readAs(conn, TypeHello, &h) != nil {
			return
		}
		conn.WriteJSON(Challenge{Type: TypeChallenge, Nonce: newNonce(), Key: "cookie", Proof: "bogus"})
		_, data, err := conn.ReadMessage()
		if err == nil {
			got <- string(data)
		}
	})
	srv := newHTTP(t, mux)
	a := startAgent(t, srv, dir, AgentOptions{})
	deadline := time.After(3 * time.Second) // several attempts
	select {
	case m := <-got:
		t.Fatalf("the agent answered an impostor: %s", m)
	case err := <-a.done:
		t.Fatalf("agent ended: %v", err)
	case <-deadline:
	}
}

// TestWrongDir: an agent on a directory the daemon does not watch gets a
// clear error (and stops); the daemon says so once.
func TestWrongDir(t *testing.T) {
	s := newShare(t, shareOpts{})
	parent := filepath.Dir(s.src)
	for _, tc := range []struct {
		dir, want string
	}{
		{tempDir(t), "is not a folder this reloadd watches"},
		{parent, "the shared folder seems to be " + parent + "/"}, // src, or the mount next to it
	} {
		start := time.Now()
		a := startAgent(t, s.url(), tc.dir, AgentOptions{})
		var err error
		select {
		case err = <-a.done:
			a.cancel = nil
		case <-time.After(testenv.WaitLimit):
			t.Fatal("the agent on a wrong directory never gave up")
		}
		if !errors.Is(err, ErrFatal) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("agent on %s: %v; want a fatal error saying %q", tc.dir, err, tc.want)
		}
		if d := time.Since(start); d < cookieGrace {
			t.Errorf("gave up after %v, before the cookie grace of %v", d, cookieGrace)
		}
	}
	if n := s.lines.count("agent_refused"); n < 1 {
		t.Errorf("the daemon said nothing:\n%s", s.lines)
	}
	if st := s.status(t); st.Mode != auto.Poll {
		t.Errorf("mode %s", st.Mode)
	}
}

// TestTokenOnAReadOnlyShare: where the daemon cannot write its cookie, the
// token authenticates and the names map the folder; a wrong directory or
// a wrong token is refused.
func TestTokenOnAReadOnlyShare(t *testing.T) {
	base := tempDir(t)
	src := filepath.Join(base, "src")
	for _, f := range []string{"index.html", "css/site.css", "js/app.js", "README.md"} {
		writeFile(t, filepath.Join(src, f), f)
	}
	s := newShare(t, shareOpts{src: src, readOnly: true, token: "s3cret"})
	if _, err := os.Stat(filepath.Join(src, CookieDir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a cookie on a read-only share? %v", err)
	}
	// No token: the error says to use one.
	a := startAgent(t, s.url(), src, AgentOptions{})
	err := <-a.done
	a.cancel = nil
	if !errors.Is(err, ErrFatal) || !strings.Contains(err.Error(), "-token") {
		t.Errorf("agent without a token: %v", err)
	}
	// A wrong token: refused.
	r, _, err := dialRaw(t, s.url(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := Hello{Type: TypeHello, Version: Version, Nonce: newNonce(), Token: true}
	r.send(t, h)
	var ch Challenge
	if err := r.recv(t, TypeChallenge, &ch); err != nil || ch.Key != "token" {
		t.Fatalf("challenge %+v, %v", ch, err)
	}
	r.send(t, Auth{Type: TypeAuth, Proof: proof(tokenKey("wrong"), "agent", h.Nonce, ch.Nonce, "")})
	if got := r.closed(t); !strings.HasPrefix(got, CodeAuth) {
		t.Errorf("wrong token: %q", got)
	}
	// The right token, the wrong directory.
	other := filepath.Join(base, "other")
	writeFile(t, filepath.Join(other, "main.go"), "package main")
	a = startAgent(t, s.url(), other, AgentOptions{Token: "s3cret"})
	err = <-a.done
	a.cancel = nil
	if !errors.Is(err, ErrFatal) || !strings.Contains(err.Error(), "does not look like") {
		t.Errorf("token agent on the wrong directory: %v", err)
	}
	// The right token and directory.
	a = startAgent(t, s.url(), src, AgentOptions{Token: "s3cret"})
	a.connected(t, 1)
	s.waitMode(t, auto.Forward)
	rec := watchertest.Record(t, s.w, s.mnt, watchertest.Settle)
	writeFile(t, filepath.Join(src, "index.html"), "changed")
	rec.Wait(t, []watchertest.Change{{Path: "index.html", Op: watcher.Write}})
}

// TestContentLag: a record whose bytes reach the mount only later is
// built once, when they do.
func TestContentLag(t *testing.T) {
	s := newShare(t, shareOpts{files: map[string]string{"page.html": "old"}})
	f := filepath.Join(s.src, "page.html")
	rec := watchertest.Record(t, s.w, s.mnt, watchertest.Settle)
	r, _, err := dialRaw(t, s.url(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.login(t, s.src)
	r.pump(t)
	s.waitMode(t, auto.Forward)
	const lag = 400 * time.Millisecond
	r.send(t, Changes{Type: TypeChanges, Records: []Record{{N: 1, P: "page.html", Op: OpWrite, S: 3, H: formatHash(xxhash.Sum64String("new"))}}})
	time.Sleep(lag) // the share's cache: the bytes land after the record
	writeFile(t, f, "new")
	rec.Wait(t, []watchertest.Change{{Path: "page.html", Op: watcher.Write}})
	// A later change, forwarded too: by the time it is built, a second
	// build of page.html would have been.
	writeFile(t, filepath.Join(s.src, "later.html"), "later")
	r.send(t, Changes{Type: TypeChanges, Records: []Record{{N: 2, P: "later.html", Op: OpWrite, S: 5, H: formatHash(xxhash.Sum64String("later"))}}})
	rec.Wait(t, []watchertest.Change{{Path: "later.html", Op: watcher.Create}, {Path: "page.html", Op: watcher.Write}})
	if b := rec.Batches(); len(b) != 2 {
		t.Errorf("builds = %v, want two", b)
	}
	// The poller waited for the bytes the record named, and says how long.
	st := s.status(t)
	if st.Agent == nil || st.Agent.LagMaxMS < float64(lag.Milliseconds())*0.9 || st.Agent.Unconfirmed != 0 {
		t.Errorf("agent status %+v: want a measured lag of at least %v, nothing unconfirmed", st.Agent, lag)
	}
}

// TestChangesWhileApartAreBuiltOnce: the agent goes away, files change,
// the agent comes back: each change is built once, nothing else.
func TestChangesWhileApartAreBuiltOnce(t *testing.T) {
	files := map[string]string{}
	for i := range 50 {
		files[fmt.Sprintf("d%d/f%d.txt", i%5, i)] = "same"
	}
	s := newShare(t, shareOpts{files: files})
	a := startAgent(t, s.url(), s.src, AgentOptions{})
	a.connected(t, 1)
	rec := watchertest.Record(t, s.w, s.mnt, watchertest.Settle)
	a.stop(t)
	s.waitMode(t, auto.Poll)
	writeAtomic(t, filepath.Join(s.src, "d1/new.txt"), "new")
	writeFile(t, filepath.Join(s.src, "d2/f2.txt"), "changed in place")
	os.Remove(filepath.Join(s.src, "d3/f3.txt"))
	a = startAgent(t, s.url(), s.src, AgentOptions{})
	a.connected(t, 1)
	want := []watchertest.Change{{Path: "d1/new.txt", Op: watcher.Create}, {Path: "d2/f2.txt", Op: watcher.Write}, {Path: "d3/f3.txt", Op: watcher.Remove}}
	rec.Wait(t, want)
	rec.Sync(t)
	if got := rec.Changes(); !slices.Equal(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
	for p, n := range rec.BuiltTwice() {
		t.Errorf("%s built %d times", p, n)
	}
}

// proxy is a TCP relay between an agent and the daemon that a test can cut.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(u, c); u.Close() }()
			go func() { defer p.wg.Done(); io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

// cut drops every connection in flight, without a close frame.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestConnectionCutMidStream: the connection drops while files are being
// written; every change is built exactly once.
func TestConnectionCutMidStream(t *testing.T) {
	s := newShare(t, shareOpts{})
	p := newProxy(t, strings.TrimPrefix(s.url(), "http://"))
	a := startAgent(t, "http://"+p.ln.Addr().String(), s.src, AgentOptions{})
	a.connected(t, 1)
	rec := watchertest.Record(t, s.w, s.mnt, watchertest.Settle)
	var want []watchertest.Change
	for i := range 300 {
		rel := fmt.Sprintf("d%d/f%03d.txt", i%7, i)
		writeAtomic(t, filepath.Join(s.src, rel), "x")
		want = append(want, watchertest.Change{Path: rel, Op: watcher.Create})
		if i == 150 {
			p.cut()
		}
	}
	a.connected(t, 2)
	rec.Wait(t, want)
	rec.Sync(t)
	for p, n := range rec.BuiltTwice() {
		t.Errorf("%s built %d times", p, n)
	}
	if !a.lines.find("forward_disconnected", "") || !s.lines.find("agent_disconnected", "") {
		t.Errorf("no disconnect lines:\nagent:\n%s\ndaemon:\n%s", a.lines, s.lines)
	}
}

// TestRecordsAreConfined: paths that leave the mount close the connection;
// a path through a symlink to outside is never built.
func TestRecordsAreConfined(t *testing.T) {
	base := tempDir(t)
	outside, src := filepath.Join(base, "outside"), filepath.Join(base, "src")
	writeFile(t, filepath.Join(outside, "secret.txt"), "secret")
	writeFile(t, filepath.Join(src, "index.html"), "x")
	if err := os.Symlink(outside, filepath.Join(src, "out")); err != nil {
		t.Fatal(err)
	}
	s := newShare(t, shareOpts{src: src})
	rec := watchertest.Record(t, s.w, s.mnt, watchertest.Settle)
	for _, bad := range []string{"../x", "/etc/passwd", "a/../../x", "a//b", "./a", ""} {
		r, _, err := dialRaw(t, s.url(), nil)
		if err != nil {
			t.Fatal(err)
		}
		r.login(t, s.src)
		r.send(t, Changes{Type: TypeChanges, Records: []Record{{N: 1, P: bad, Op: OpWrite}}})
		if got := r.closed(t); !strings.HasPrefix(got, CodeProtocol) {
			t.Errorf("path %q: closed with %q", bad, got)
		}
	}
	r, _, err := dialRaw(t, s.url(), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.login(t, s.src)
	r.pump(t)
	r.send(t, Changes{Type: TypeChanges, Records: []Record{{N: 1, P: "out/secret.txt", Op: OpWrite, S: 6, H: formatHash(xxhash.Sum64String("secret"))}}})
	// The poller looks for the path through its index (which holds "out"
	// as a symlink, never followed) until its wait ends, then gives up.
	testenv.Eventually(t, "the record to end unconfirmed", func() bool {
		st := s.status(t)
		return st.Agent != nil && st.Agent.Unconfirmed >= 1
	})
	if got := rec.Changes(); len(got) != 0 {
		t.Errorf("a record through a symlink was built: %v", got)
	}
}

// TestLimits: oversized messages, too many records, numbers that go back.
func TestLimits(t *testing.T) {
	s := newShare(t, shareOpts{})
	for _, tc := range []struct {
		name string
		msg  any
		want string
	}{
		{"too many records", Changes{Type: TypeChanges, Records: make([]Record, MaxRecords+1)}, CodeProtocol},
		{"numbers go back", Changes{Type: TypeChanges, Records: []Record{{N: 5, P: "a", Op: OpWrite}, {N: 5, P: "b", Op: OpWrite}}}, CodeProtocol},
		{"unknown op", Changes{Type: TypeChanges, Records: []Record{{N: 1, P: "a", Op: "chmod"}}}, CodeProtocol},
		{"bad hash", Changes{Type: TypeChanges, Records: []Record{{N: 1, P: "a", Op: OpWrite, H: "xyz"}}}, CodeProtocol},
		{"unknown type", map[string]string{"type": "gimme"}, CodeProtocol},
		{"too large", map[string]string{"type": TypeChanges, "pad": strings.Repeat("x", MaxMessage)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _, err := dialRaw(t, s.url(), nil)
			if err != nil {
				t.Fatal(err)
			}
			r.login(t, s.src)
			r.send(t, tc.msg)
			if got := r.closed(t); !strings.HasPrefix(got, tc.want) {
				t.Errorf("closed with %q, want %q", got, tc.want)
			}
		})
	}
	s.waitMode(t, auto.Poll)
}

func TestCheckPath(t *testing.T) {
	for _, tc := range []struct {
		p  string
		ok bool
	}{
		{"a", true}, {"a/b.html", true}, {".env", true}, {"a/.b/c", true}, {"é/ü.txt", true}, {`a\b`, true},
		{"", false}, {"/a", false}, {"a/", false}, {"a//b", false}, {"./a", false}, {"a/..", false}, {"..", false},
		{"a\x00b", false}, {"\xff", false}, {strings.Repeat("a", 256), false}, {strings.Repeat("a/", MaxPath), false},
	} {
		if err := CheckPath(tc.p); (err == nil) != tc.ok {
			t.Errorf("CheckPath(%q) = %v, want ok=%v", tc.p, err, tc.ok)
		}
	}
}

// FuzzCheckPath: whatever a peer sends, a path CheckPath accepts names
// something strictly inside the folder it is joined to, and is already
// clean (the daemon indexes it as it comes).
func FuzzCheckPath(f *testing.F) {
	for _, p := range []string{"a", "a/b.html", "..", "a/../..", "./a", "a//b", "/etc/passwd", "a/\x00", `..\..\x`, "é/ü", ".../a"} {
		f.Add(p)
	}
	const root = "/srv/site"
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) != nil {
			return
		}
		joined := filepath.Join(root, filepath.FromSlash(p))
		rel, err := filepath.Rel(root, joined)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			t.Fatalf("CheckPath accepted %q, which leaves %s: %s", p, root, joined)
		}
		if path.Clean(p) != p {
			t.Fatalf("CheckPath accepted %q, which is not clean (%q)", p, path.Clean(p))
		}
	})
}

// TestNamesInAnotherNormalisation: a record's NFC path finds the name the
// mount stores in NFD (macOS's HFS+), and the agent sends NFC.
func TestNamesInAnotherNormalisation(t *testing.T) {
	dir := tempDir(t)
	nfd, nfc := "cafe\u0301/re\u0301sume\u0301.txt", "caf\u00e9/r\u00e9sum\u00e9.txt"
	writeFile(t, filepath.Join(dir, nfd), "x")
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ss := &session{mount: dir, root: root}
	if got, err := ss.resolveRel(nfc); err != nil || got != nfd {
		t.Errorf("resolveRel(NFC) = %q, %v; want the NFD name", got, err)
	}
	if got, _ := ss.resolveRel("caf\u00e9/new.txt"); got != "cafe\u0301/new.txt" {
		t.Errorf("a new file in an NFD directory: %q", got)
	}
	a := &agent{root: dir}
	if got, ok := a.rel(filepath.Join(dir, nfd)); !ok || got != nfc {
		t.Errorf("agent rel = %q, want NFC", got)
	}
}

func TestCookieFormat(t *testing.T) {
	c := newCookie()
	got, err := parseCookie(c.text())
	if err != nil || got.id != c.id || string(got.secret) != string(c.secret) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "reloadd-cookie 2 0123456789abcdef AAAA", "reloadd-cookie 1 xyz AAAA", "hello world"} {
		if _, err := parseCookie([]byte(bad)); err == nil {
			t.Errorf("parseCookie(%q) accepted", bad)
		}
	}
}

func TestEndpointURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:35729":     "ws://127.0.0.1:35729/_reloadd/agent",
		"https://dev.example/":       "wss://dev.example/_reloadd/agent",
		"http://localhost:8080/sub/": "ws://localhost:8080/sub/_reloadd/agent",
	} {
		if got, err := endpoint(in); err != nil || got != want {
			t.Errorf("endpoint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:35729", "ftp://x", "http://"} {
		if _, err := endpoint(bad); err == nil {
			t.Errorf("endpoint(%q) accepted", bad)
		}
	}
}
