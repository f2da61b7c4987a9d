//go:build linux

package build

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
)

// The test binary re-executed in a role (TestMain dispatches on roleEnv).
const (
	roleEnv = "RELOADD_BUILD_TEST_ROLE"
	// miniApp, miniBuild and miniGrace configure the mini reloadd.
	miniApp   = "RELOADD_BUILD_TEST_APP"
	miniBuild = "RELOADD_BUILD_TEST_BUILD"
	miniGrace = "RELOADD_BUILD_TEST_GRACE"
)

func runRole(role string) int {
	switch role {
	case "mini":
		return runMini()
	case "listen":
		return runListener()
	}
	fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
	return 2
}

// runMini is a mini reloadd: it starts the app and a build from the
// environment, as reloadd does, and stops them when SIGINT, SIGTERM or
// SIGHUP arrives, then exits 0. What SIGKILL leaves behind is the point
// of the tests that kill it.
func runMini() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	grace, err := time.ParseDuration(os.Getenv(miniGrace))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var app *App
	if cmd := os.Getenv(miniApp); cmd != "" {
		app = NewApp(AppOptions{Command: cmd, Grace: grace, Output: os.Stdout})
		if err := app.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	r := New(Options{Command: os.Getenv(miniBuild), Grace: grace, Output: os.Stdout})
	built := make(chan Result, 1)
	go func() { built <- r.Build(ctx, nil) }()
	<-ctx.Done()
	res := <-built
	fmt.Printf("build: %v\n", res.Err)
	if app != nil {
		app.Close()
	}
	r.Close()
	return 0
}

// runListener listens on a loopback port, prints its address, and stays
// until its stdin closes.
func runListener() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	ln.Close()
	return 0
}

// testBinary returns the path of this test binary, for re-executing it.
func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// mini is a running mini reloadd.
type mini struct {
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
}

func startMini(t *testing.T, app, build string, grace time.Duration) *mini {
	t.Helper()
	m := &mini{out: &testenv.Buffer{}, done: make(chan struct{})}
	m.cmd = exec.Command(testBinary(t))
	m.cmd.Env = append(os.Environ(), roleEnv+"=mini", miniApp+"="+app, miniBuild+"="+build, miniGrace+"="+grace.String(), "GORACE=atexit_sleep_ms=0")
	m.cmd.Stdout = m.out
	m.cmd.Stderr = m.out
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		m.cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		m.cmd.Process.Kill()
		<-m.done
	})
	return m
}

// signal sends sig and waits for the mini reloadd to exit; it returns its
// exit code (-1 when the signal killed it).
func (m *mini) signal(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := m.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.done:
	case <-time.After(testenv.WaitLimit):
		t.Fatalf("mini reloadd did not exit after %v:\n%s", sig, m.out)
	}
	return m.cmd.ProcessState.ExitCode()
}

// startListener starts the test binary as a listener in a child process
// and returns its pid and address.
func startListener(t *testing.T) (int, string) {
	t.Helper()
	cmd := exec.Command(testBinary(t))
	cmd.Env = append(os.Environ(), roleEnv+"=listen")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("listener: %v", err)
	}
	return cmd.Process.Pid, strings.TrimSpace(line)
}
