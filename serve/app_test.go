package serve

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

// The test app (testdata/app) is built once per test binary, into appDir.
var (
	appOnce sync.Once
	appDir  string
	appBin  string
	appErr  error
)

func removeAppDir() {
	if appDir != "" {
		os.RemoveAll(appDir)
	}
}

// buildApp builds testdata/app with the go command and returns its path.
func buildApp(t testing.TB) string {
	t.Helper()
	goCmd := testenv.Need(t, "go")
	appOnce.Do(func() {
		appDir, appErr = os.MkdirTemp("", "reloadd-serve-app-")
		if appErr != nil {
			return
		}
		appBin = filepath.Join(appDir, "app")
		out, err := exec.Command(goCmd, "build", "-o", appBin, "./testdata/app").CombinedOutput()
		if err != nil {
			appErr = &buildError{err: err, out: string(out)}
		}
	})
	if appErr != nil {
		t.Fatalf("build testdata/app: %v", appErr)
	}
	return appBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// app is a running testdata/app process.
type app struct {
	addr string
	cmd  *exec.Cmd
}

// startApp starts the test app listening on addr ("127.0.0.1:0" for any
// port) and waits until it accepts connections. It is killed in cleanup.
func startApp(t testing.TB, addr string) *app {
	t.Helper()
	cmd := exec.Command(buildApp(t), "-addr", addr)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &app{cmd: cmd}
	t.Cleanup(a.stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("test app did not start: %v", err)
	}
	a.addr = strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	return a
}

// stop kills the app and waits for it; it may be called more than once.
func (a *app) stop() {
	if a.cmd.ProcessState != nil {
		return
	}
	a.cmd.Process.Kill()
	a.cmd.Wait()
}
