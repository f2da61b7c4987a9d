package main

import (
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/reloadd/reloadd/internal/testenv"
)

// roleEnv makes the test binary act as something else when a test
// re-executes it: "reloadd" runs main, the real command with its signal
// handling and exit codes; "app" runs testApp, a tiny HTTP app for -run.
const roleEnv = "RELOADD_TEST_ROLE"

func runRole(role string) int {
	switch role {
	case "reloadd":
		main() // exits
	case "app":
		return testApp()
	case "capped":
		return cappedRole()
	}
	fmt.Fprintf(os.Stderr, "unknown %s %q\n", roleEnv, role)
	return 2
}

// testApp is the -run app of the tests. It reads APP_BODY (a file) once at
// start, waits APP_DELAY, then serves the content at APP_ADDR as a page
// whose #title is the content. Some contents change what it does:
// "exit-before-listen" exits 3 before listening, "never-listen" never
// listens. GET /crash makes it exit 4. SIGTERM makes it say bye and exit 0.
func testApp() int {
	body, err := os.ReadFile(os.Getenv("APP_BODY"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		return 1
	}
	content := strings.TrimSpace(string(body))
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Printf("app: starting with %q\n", content)
	switch content {
	case "exit-before-listen":
		fmt.Fprintln(os.Stderr, "app: fatal: <i>config</i> is broken")
		return 3
	case "never-listen":
		fmt.Println("app: not listening today")
		<-term
		return 0
	}
	if d, err := time.ParseDuration(os.Getenv("APP_DELAY")); err == nil {
		select {
		case <-time.After(d): // the app's own start-up work
		case <-term:
			return 0
		}
	}
	ln, err := net.Listen("tcp", os.Getenv("APP_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		return 1
	}
	fmt.Println("app: listening on", ln.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><html><head><title>app</title></head><body><h1 id="title">%s</h1></body></html>`, html.EscapeString(content))
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("app: panic: <b>crashed</b> on request")
		os.Exit(4)
	})
	go http.Serve(ln, mux)
	<-term
	fmt.Println("app: bye")
	return 0
}

// testBinary is this test binary's path, for re-executing it.
func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// appCommand is a -run command that starts testApp.
func appCommand(t *testing.T, addr, bodyFile string, delay time.Duration) string {
	// Under -race, a Go program sleeps a second on exit unless told not to.
	return fmt.Sprintf("GORACE=atexit_sleep_ms=0 %s=app APP_ADDR=%s APP_BODY=%s APP_DELAY=%s exec %s",
		roleEnv, addr, shq(bodyFile), delay, shq(testBinary(t)))
}

// startDaemonProxy is startDaemon with -proxy proxy.
func startDaemonProxy(t *testing.T, addr string, proxy *url.URL, args ...string) *daemonProc {
	t.Helper()
	return startDaemon(t, addr, append([]string{"-proxy", proxy.String()}, args...)...)
}

// wsLog is a WebSocket client that records every message with the time it
// arrived, read by one goroutine.
type wsLog struct {
	t    *testing.T
	mu   sync.Mutex
	msgs []map[string]any
	next int // for expect
	done chan struct{}
}

func dialLog(t *testing.T, addr string) *wsLog {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/_reloadd/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &wsLog{t: t, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			var m map[string]any
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			l.mu.Lock()
			l.msgs = append(l.msgs, m)
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-l.done
	})
	return l
}

// expect waits for the next message (after the last one expect returned)
// for which match is true, and returns it; messages skipped are returned in
// skipped.
func (l *wsLog) expect(what string, match func(m map[string]any) bool) (m map[string]any, skipped []map[string]any) {
	l.t.Helper()
	testenv.Eventually(l.t, what, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for i := l.next; i < len(l.msgs); i++ {
			if match(l.msgs[i]) {
				m, skipped = l.msgs[i], append([]map[string]any(nil), l.msgs[l.next:i]...)
				l.next = i + 1
				return true
			}
		}
		return false
	})
	return m, skipped
}

// all returns every message so far.
func (l *wsLog) all() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]map[string]any(nil), l.msgs...)
}

func isType(typ string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == typ }
}

func isBuild(typ string, id int) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == typ && m["build"] == float64(id) }
}

// reloaddProcess is the real command: this test binary re-executed as
// reloadd.
type reloaddProcess struct {
	cmd  *exec.Cmd
	addr string
	out  *testenv.Buffer
	done chan struct{}
}

func startReloaddProcess(t *testing.T, args ...string) *reloaddProcess {
	t.Helper()
	p := &reloaddProcess{addr: testenv.FreeAddr(t), out: &testenv.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(testBinary(t), append([]string{"-addr", p.addr}, args...)...)
	p.cmd.Env = append(os.Environ(), roleEnv+"=reloadd", "GORACE=atexit_sleep_ms=0")
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	testenv.Eventually(t, "reloadd to answer on "+p.addr, func() bool {
		select {
		case <-p.done:
			t.Fatalf("reloadd exited early: %v\n%s", p.cmd.ProcessState, p.out)
		default:
		}
		resp, err := http.Get("http://" + p.addr + "/_reloadd/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// signal sends sig and waits for the process to exit; it returns the exit
// code.
func (p *reloaddProcess) signal(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(testenv.WaitLimit):
		t.Fatalf("reloadd did not exit after %v:\n%s", sig, p.out)
	}
	return p.cmd.ProcessState.ExitCode()
}
