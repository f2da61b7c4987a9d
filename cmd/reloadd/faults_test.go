package main

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
)

func TestDisplayPathQuotesWhatWouldNotPrint(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/site/index.html", "/site/index.html"},
		{"/site/my page.html", "/site/my page.html"},
		{"/site/héllo.html", "/site/héllo.html"},
		{"/site/a\nb.html", `"/site/a\nb.html"`},
		{"/site/\x1b[31mred.html", `"/site/\x1b[31mred.html"`},
		{"/site/\xff.html", `"/site/\xff.html"`},
	}
	for _, tc := range tests {
		if got := displayPath(tc.in); got != tc.want {
			t.Errorf("displayPath(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	p := newPrinter(io.Discard, false, "/site")
	if got := p.short([]string{"/site/a\nb.html", "/site/c.html"}); got != `"a\nb.html", c.html` {
		t.Errorf("short = %s", got)
	}
}

func TestCountWording(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 directories"}, {1, "1 directory"}, {2, "2 directories"}} {
		if got := count(tc.n, "directory", "directories"); got != tc.want {
			t.Errorf("count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestCappedListenerHoldsAtMostCap: with a cap of 2, a third connection is
// accepted only once one of the first two is closed.
func TestCappedListenerHoldsAtMostCap(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	ln := newCappedListener(raw, 2, nil)
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", raw.Addr().String())
		must(t, err)
		defer c.Close()
		clients = append(clients, c)
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted while two were open")
	case <-time.After(100 * time.Millisecond):
		// Not a synchronisation: the assertion is that nothing arrives;
		// the positive case below proves the acceptor is alive.
	}
	first.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(testenv.WaitLimit):
		t.Fatal("the third connection was not accepted after one closed")
	}
	second.Close()
	first.Close() // a second Close must not free a second slot
	// Only the acceptor's own slot, taken for the next connection, is left.
	testenv.Eventually(t, "one slot in use", func() bool { return len(ln.slots) == 1 })
	second.Close()
	if got := len(ln.slots); got != 1 {
		t.Errorf("slots in use after closing everything twice = %d, want 1", got)
	}
}

// TestIdleKeepAliveConnectionsAreClosed: a browser's idle keep-alive
// connection is closed by reloadd after the idle timeout.
func TestIdleKeepAliveConnectionsAreClosed(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), site)
	c, err := net.Dial("tcp", d.addr)
	must(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+d.addr+"\r\n\r\n")
	must(t, err)
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	must(t, err)
	if !strings.Contains(line, "200") {
		t.Fatalf("status line %q", line)
	}
	// The server must close the idle connection by itself: reading to EOF
	// ends within the idle timeout plus the wait limit.
	c.SetReadDeadline(time.Now().Add(idleTimeout + testenv.WaitLimit))
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatalf("the idle connection was not closed by reloadd: %v", err)
	}
}

// TestOwnLogInTheWatchedTreeDoesNotLoop: reloadd's stdout redirected to a
// file inside the watched directory must not trigger builds.
func TestOwnLogInTheWatchedTreeDoesNotLoop(t *testing.T) {
	site := newSite(t)
	logPath := filepath.Join(site, "reloadd.log")
	logf, err := os.Create(logPath)
	must(t, err)
	defer logf.Close()
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(testBinary(t), "-addr", addr, "-build", "true", site)
	cmd.Env = append(os.Environ(), roleEnv+"=reloadd")
	cmd.Stdout, cmd.Stderr = logf, logf
	must(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	read := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	testenv.Eventually(t, "the start-up build", func() bool { return strings.Contains(read(), "build 1  start-up build") })

	writeFile(t, filepath.Join(site, "index.html"), "<h1>two</h1>")
	testenv.Eventually(t, "build 2", func() bool { return strings.Contains(read(), "build 2  ") })
	writeFile(t, filepath.Join(site, "css", "site.css"), "h1 { color: red }")
	testenv.Eventually(t, "build 3", func() bool { return strings.Contains(read(), "build 3  ") })
	for _, line := range strings.Split(read(), "\n") {
		if strings.HasPrefix(line, "build ") && strings.Contains(line, "reloadd.log") {
			t.Errorf("reloadd's own log was taken for a change: %s", line)
		}
	}
	for n, want := range map[string]string{"2": "index.html", "3": "site.css"} {
		m := regexp.MustCompile(`build ` + n + `  (\S+)`).FindStringSubmatch(read())
		if m == nil || !strings.Contains(m[1], want) {
			t.Errorf("build %s built %v, want %s (reloadd's own log must not be a change):\n%s", n, m, want, read())
		}
	}
}

// TestRestartedStartupBuildVerifiesItsChanges: with -on-busy restart, a
// change during the start-up build restarts it; that change counts as
// built, so a touch of the same file afterwards builds nothing and the
// next build names only the next change.
func TestRestartedStartupBuildVerifiesItsChanges(t *testing.T) {
	site := newSite(t)
	gate := filepath.Join(t.TempDir(), "gate")
	// The first build waits for the gate; the re-run does not.
	buildCmd := `if [ ! -e ` + shq(gate+".done") + ` ]; then touch ` + shq(gate+".done") + `; while [ ! -e ` + shq(gate) + ` ]; do sleep 0.01; done; fi`
	d := startDaemon(t, testenv.FreeAddr(t), "-on-busy", "restart", "-build", buildCmd, site)
	testenv.Eventually(t, "the start-up build to run", func() bool { _, err := os.Stat(gate + ".done"); return err == nil })
	index := filepath.Join(site, "index.html")
	writeFile(t, index, "<h1>during start-up</h1>")
	testenv.Eventually(t, "the restarted start-up build", func() bool {
		return regexp.MustCompile(`build \d+  start-up build \+ \S*index\.html  `).MatchString(d.out.String())
	})
	must(t, os.WriteFile(gate, nil, 0o644))
	now := time.Now().Add(time.Minute)
	must(t, os.Chtimes(index, now, now)) // same content: no build
	writeFile(t, filepath.Join(site, "css", "site.css"), "h1 { color: red }")
	testenv.Eventually(t, "the build of site.css", func() bool { return strings.Contains(d.out.String(), "site.css") })
	if strings.Count(d.out.String(), "index.html") != 1 {
		t.Errorf("index.html was built again after the restarted start-up build had built it:\n%s", d.out)
	}
}

// TestSaveLineWithoutClients: with no browser to wait for, the save line
// is printed at once, its breakdown ending when build_complete was sent
// (without -build the build phase is only the verification).
func TestSaveLineWithoutClients(t *testing.T) {
	site := newSite(t)
	d := startDaemon(t, testenv.FreeAddr(t), site)
	if !strings.Contains(d.out.String(), "(2 directories)") {
		t.Errorf("start-up line: %s", d.out)
	}
	writeFile(t, filepath.Join(site, "index.html"), "<h1>two</h1>")
	testenv.Eventually(t, "build 1", func() bool { return strings.Contains(d.out.String(), "build 1  ") })
	if m := regexp.MustCompile(`build 1  \S*index\.html  settle [\d.]+ · build [\d.]+ · send [\d.]+ = [\d.]+ ms  \(0 clients\)\n`).FindString(d.out.String()); m == "" {
		t.Errorf("want `build 1  index.html  settle S · build B · send X = T ms  (0 clients)`, got:\n%s", d.out)
	}
}

func TestFlagsAfterDirs(t *testing.T) {
	tests := []struct {
		args  []string
		dirs  []string
		build string
	}{
		{[]string{".", "-build", "echo hi"}, []string{"."}, "echo hi"},
		{[]string{"-build", "x", "a", "b"}, []string{"a", "b"}, "x"},
		{[]string{"a", "-build", "x", "b"}, []string{"a", "b"}, "x"},
		{[]string{"a", "--", "-build", "b"}, []string{"a", "-build", "b"}, ""},
		{[]string{"--", "-odd"}, []string{"-odd"}, ""},
		{nil, []string{"."}, ""},
	}
	for _, tc := range tests {
		c, err := parseFlags(tc.args, io.Discard)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if !slices.Equal(c.dirs, tc.dirs) || c.build != tc.build {
			t.Errorf("%q: dirs %q build %q, want %q %q", tc.args, c.dirs, c.build, tc.dirs, tc.build)
		}
	}
}

func TestNetworkURLsOnlyWhenListeningOnAllInterfaces(t *testing.T) {
	if got := networkURLs("127.0.0.1:35729", "127.0.0.1:35729"); got != nil {
		t.Errorf("loopback: %v", got)
	}
	if got := networkURLs("mybox.local:35729", "10.0.0.2:35729"); got != nil {
		t.Errorf("a named host: %v", got)
	}
	got := networkURLs("0.0.0.0:0", "0.0.0.0:41234")
	addrs, _ := net.InterfaceAddrs()
	want := 0
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			want++
		}
	}
	if len(got) != want {
		t.Errorf("0.0.0.0: %v, want %d IPv4 URLs", got, want)
	}
	for _, u := range got {
		if !strings.HasSuffix(u, ":41234/") || strings.Contains(u, "127.0.0.1") {
			t.Errorf("URL %s", u)
		}
	}
}

// TestRootInsideNodeModulesIsWatched: reloadd watching a directory inside
// node_modules (a linked package) sees its changes.
func TestRootInsideNodeModulesIsWatched(t *testing.T) {
	root := filepath.Join(newSite(t), "node_modules", "pkg")
	must(t, os.MkdirAll(filepath.Join(root, "node_modules", "dep"), 0o755))
	writeFile(t, filepath.Join(root, "index.html"), "<p>one</p>")
	d := startDaemon(t, testenv.FreeAddr(t), root)
	writeFile(t, filepath.Join(root, "node_modules", "dep", "x.js"), "ignored")
	writeFile(t, filepath.Join(root, "index.html"), "<p>two</p>")
	testenv.Eventually(t, "build 1", func() bool { return strings.Contains(d.out.String(), "build 1  ") })
	if strings.Contains(d.out.String(), "x.js") {
		t.Errorf("node_modules below the watched directory was not ignored:\n%s", d.out)
	}
}
