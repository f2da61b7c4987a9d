//go:build linux

package build

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/reloadd/reloadd/internal/testenv"
)

// familyScript is a command with a family that tries every way out of its
// process group and tree: a child, a setsid'd grandchild, a setsid'd
// grandchild that ignores SIGTERM, and a double-forked orphan. The shell
// traps SIGTERM (writing "term" to $M) and writes its pid, its parent's
// (the supervisor's), and the family's to $P; then it waits.
const familyScript = `trap 'echo term >> "$M"; exit 0' TERM
sleep 1001 & a=$!
setsid sh -c 'echo $$ > "$P.s1"; exec sleep 1002' &
setsid sh -c 'trap "" TERM; echo $$ > "$P.s2"; exec sleep 1003' &
(sleep 1004 & echo $! > "$P.o") &
while [ ! -s "$P.s1" ] || [ ! -s "$P.s2" ] || [ ! -s "$P.o" ]; do sleep 0.01; done
echo $$ $PPID $a $(cat "$P.s1") $(cat "$P.s2") $(cat "$P.o") > "$P"
wait
`

// familyPids is how many pids familyScript writes.
const familyPids = 6

// TestCommandsDieWithReloadd starts a mini reloadd (this test binary
// re-executed) whose app or build is familyScript, and ends the mini
// reloadd: every process of the family must go, the shell having had
// SIGTERM first (its trap ran). With SIGKILL nothing in reloadd runs: the
// supervisor notices its parent is gone. With SIGTERM and SIGHUP the mini
// reloadd stops its commands itself, and everything is gone once it has
// exited.
func TestCommandsDieWithReloadd(t *testing.T) {
	const grace = 300 * time.Millisecond
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGHUP} {
		for _, what := range []string{"app", "build"} {
			t.Run(fmt.Sprintf("%s/%v", what, sig), func(t *testing.T) {
				dir := t.TempDir()
				pidfile, marker := filepath.Join(dir, "pids"), filepath.Join(dir, "term")
				t.Setenv("P", pidfile)
				t.Setenv("M", marker)
				app, build := familyScript, ""
				if what == "build" {
					app, build = "", familyScript
				}
				m := startMini(t, app, build, grace)
				pids := testenv.ReadPids(t, pidfile, familyPids)
				t.Cleanup(func() { killAll(t, pids) })
				assertAlive(t, pids...)

				code := m.signal(t, sig)
				if sig == syscall.SIGKILL {
					testenv.WaitGone(t, 0, pids...)
				} else {
					if code != 0 {
						t.Errorf("mini reloadd exited %d after %v, want 0; output:\n%s", code, sig, m.out)
					}
					// It stopped everything before exiting: nothing to wait for.
					for _, p := range pids {
						if testenv.Alive(p) {
							t.Errorf("process %d still running after reloadd exited (pids: shell, supervisor, child, setsid, setsid ignoring TERM, orphan = %v)", p, pids)
						}
					}
				}
				if b, _ := os.ReadFile(marker); string(b) != "term\n" {
					t.Errorf("the shell's SIGTERM trap wrote %q, want \"term\\n\": it was not stopped gracefully", b)
				}
			})
		}
	}
}

// TestAppStopsEveryDescendant: Stop reaches processes that left the app's
// process group and tree, and they are gone when it returns.
func TestAppStopsEveryDescendant(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pids")
	t.Setenv("P", pidfile)
	t.Setenv("M", filepath.Join(dir, "term"))
	a, _ := newTestApp(t, familyScript)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	pids := testenv.ReadPids(t, pidfile, familyPids)
	t.Cleanup(func() { killAll(t, pids) })
	assertAlive(t, pids...)
	a.Stop()
	for _, p := range pids[2:] { // the shell and the supervisor are reaped by now
		if testenv.Alive(p) {
			t.Errorf("process %d still running after Stop (pids %v)", p, pids)
		}
	}
	if testenv.Alive(pids[0]) {
		t.Errorf("the app's shell %d still running after Stop", pids[0])
	}
	if !testenv.Alive(pids[1]) {
		t.Errorf("the supervisor %d is gone: it should serve the next Start", pids[1])
	}
	// The next Start runs through the same supervisor.
	os.Remove(pidfile)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	again := testenv.ReadPids(t, pidfile, familyPids)
	t.Cleanup(func() { killAll(t, again) })
	if again[1] != pids[1] {
		t.Errorf("second app's supervisor is %d, want the first one, %d", again[1], pids[1])
	}
	a.Close()
	testenv.WaitGone(t, 0, again...)
}

// TestAppLeftoversStopWhenItExits: an app that exits by itself has what it
// left behind stopped, also a process that called setsid.
func TestAppLeftoversStopWhenItExits(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	t.Setenv("P", pidfile)
	a, _ := newTestApp(t, `setsid sh -c 'echo $$ > "$P"; exec sleep 1005' & while [ ! -s "$P" ]; do sleep 0.01; done; echo crashing; exit 3`)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	ex := waitExited(t, a)
	if ex.ExitCode != 3 || ex.Output != "crashing\n" {
		t.Errorf("exit = %+v", ex)
	}
	pid := testenv.ReadPids(t, pidfile, 1)[0]
	t.Cleanup(func() { killAll(t, []int{pid}) })
	testenv.WaitGone(t, 0, pid)
}

// TestSupervisorOutlivesTheThreadThatStartedIt: a supervisor's
// parent-death signal fires when the thread that forked it ends, which Go
// does to a goroutine's locked thread when the goroutine exits
// (golang/go#27505). The supervisor must see that reloadd lives and keep
// the app running.
func TestSupervisorOutlivesTheThreadThatStartedIt(t *testing.T) {
	dir := t.TempDir()
	pidfile, marker := filepath.Join(dir, "pids"), filepath.Join(dir, "term")
	t.Setenv("P", pidfile)
	t.Setenv("M", marker)
	a, _ := newTestApp(t, familyScript)
	tid := onDoomedThread(func() {
		if err := a.Start(); err != nil {
			t.Error(err)
		}
	})
	pids := testenv.ReadPids(t, pidfile, familyPids)
	task := fmt.Sprintf("/proc/self/task/%d", tid)
	testenv.Eventually(t, "the thread that started the supervisor to end", func() bool {
		_, err := os.Stat(task)
		return err != nil
	})
	testenv.Eventually(t, "the supervisor to report the signal it ignored", func() bool { return a.cur.ignored.Load() > 0 })
	assertAlive(t, pids...)
	if b, err := os.ReadFile(marker); err == nil {
		t.Errorf("the app got SIGTERM (%q) although reloadd lives", b)
	}
}

// TestSupervisorIgnoresTheThreadWhileIdle: the same, with the supervisor
// idle between two apps when the thread ends; its report of the signal
// waits in the socket, and the next Start must read past it.
func TestSupervisorIgnoresTheThreadWhileIdle(t *testing.T) {
	a, _ := newTestApp(t, `exec sleep 1007`)
	onDoomedThread(func() {
		if err := a.Start(); err != nil {
			t.Error(err)
		}
		a.Stop()
	})
	testenv.Eventually(t, "the supervisor's report to wait in the socket", func() bool {
		n := 0
		rc, err := a.sup.conn.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		return n > 0
	})
	if err := a.Start(); err != nil {
		t.Fatalf("Start after the report: %v", err)
	}
	if !testenv.Alive(a.Pid()) || a.cur.ignored.Load() != 1 {
		t.Errorf("app %d alive %v, signals ignored %d, want running and 1", a.Pid(), testenv.Alive(a.Pid()), a.cur.ignored.Load())
	}
}

// onDoomedThread runs f on a goroutine locked to an OS thread that Go ends
// when the goroutine exits, and returns that thread's id.
func onDoomedThread(f func()) int {
	tids := make(chan int)
	run := func() {
		runtime.LockOSThread()
		if syscall.Gettid() == os.Getpid() {
			// The main thread, which Go never ends. While this
			// goroutine holds it, another one cannot run on it.
			locked := make(chan struct{})
			go func() {
				runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
				close(locked)
				f()
				tids <- syscall.Gettid()
			}()
			<-locked
			runtime.UnlockOSThread()
			return
		}
		f() // never unlocked: the thread ends with the goroutine
		tids <- syscall.Gettid()
	}
	go run()
	return <-tids
}

// TestSupervisorKilledFromOutside: a supervisor killed with SIGKILL takes
// the app's shell with it (its parent-death signal), the app is reported
// as exited, and the next Start gets a new supervisor.
func TestSupervisorKilledFromOutside(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pids")
	t.Setenv("P", pidfile)
	a, _ := newTestApp(t, `echo $$ $PPID >> "$P"; exec sleep 1006`)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	pids := testenv.ReadPids(t, pidfile, 2)
	syscall.Kill(pids[1], syscall.SIGKILL)
	ex := waitExited(t, a)
	if ex.ExitCode != -1 || !strings.Contains(ex.Reason, "supervisor") {
		t.Errorf("exit = %+v, want the supervisor's end named", ex)
	}
	testenv.WaitGone(t, 0, pids...)
	if err := a.Start(); err != nil {
		t.Fatalf("Start after the supervisor died: %v", err)
	}
	again := testenv.ReadPids(t, pidfile, 4)
	if again[3] == pids[1] || !testenv.Alive(again[2]) {
		t.Errorf("second start: pids %v (first %v)", again[2:], pids)
	}
}

// killAll kills pids if t failed, so that a failed test leaves nothing
// running. A passing test has seen them gone, and their pids may since
// have been reused by processes that are none of its business.
func killAll(t *testing.T, pids []int) {
	if !t.Failed() {
		return
	}
	for _, p := range pids {
		if testenv.Alive(p) {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
}

// assertAlive fails unless every pid is running.
func assertAlive(t *testing.T, pids ...int) {
	t.Helper()
	for _, p := range pids {
		if !testenv.Alive(p) {
			t.Fatalf("process %d is not running (pids %v)", p, pids)
		}
	}
}
