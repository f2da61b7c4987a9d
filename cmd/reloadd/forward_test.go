package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/breakdown"
	"github.com/reloadd/reloadd/internal/testenv"
)

// proc is this test binary re-executed as the real reloadd command (main,
// with its signal handling), as a daemon or as an agent.
type proc struct {
	cmd  *exec.Cmd
	out  *testenv.Buffer
	done chan struct{}
}

func startProc(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{out: &testenv.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(testBinary(t), args...)
	p.cmd.Env = append(os.Environ(), roleEnv+"=reloadd", "GORACE=atexit_sleep_ms=0")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop signals the process and waits for it; it returns the exit code.
func (p *proc) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(testenv.WaitLimit):
		t.Fatalf("no exit after %v:\n%s", sig, p.out)
	}
	return p.cmd.ProcessState.ExitCode()
}

// lines waits until the output has n lines containing sub.
func (p *proc) lines(t *testing.T, sub string, n int) {
	t.Helper()
	testenv.EventuallyShow(t, fmt.Sprintf("%d lines with %q", n, sub),
		func() bool { return strings.Count(p.out.String(), sub) >= n },
		func() string { return "the output:\n" + p.out.String() })
}

func startDaemonAt(t *testing.T, addr string, args ...string) *proc {
	t.Helper()
	p := startProc(t, append([]string{"-addr", addr}, args...)...)
	testenv.Eventually(t, "reloadd to answer on "+addr, func() bool {
		select {
		case <-p.done:
			t.Fatalf("reloadd exited early:\n%s", p.out)
		default:
		}
		resp, err := http.Get("http://" + addr + "/_reloadd/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

type mountStatus struct {
	Path  string `json:"path"`
	Mode  string `json:"mode"`
	Agent *struct {
		Addr    string `json:"addr"`
		Dir     string `json:"dir"`
		Since   string `json:"since"`
		Records int64  `json:"records"`
	} `json:"agent"`
}

func mountOf(t *testing.T, addr string) mountStatus {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/_reloadd/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Mounts []mountStatus `json:"mounts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if len(st.Mounts) != 1 {
		t.Fatalf("mounts = %+v", st.Mounts)
	}
	return st.Mounts[0]
}

func waitMode(t *testing.T, addr, mode string) mountStatus {
	t.Helper()
	var m mountStatus
	testenv.Eventually(t, "mode "+mode, func() bool {
		m = mountOf(t, addr)
		return m.Mode == mode
	})
	return m
}

// TestForwardEndToEnd runs the real command on both sides of a bindfs
// share: the daemon on the mount, `reloadd forward` on the backing
// directory. It covers the terminal lines, the status, a forwarded save,
// the agent killed with SIGKILL and restarted (with a change made while it
// was down), and the daemon restarted.
func TestForwardEndToEnd(t *testing.T) {
	src, mnt := deafSite(t)
	addr := testenv.FreeAddr(t)
	d := startDaemonAt(t, addr, "-debounce", "0", mnt)
	a := startProc(t, "forward", "-to", "http://"+addr, src)
	a.lines(t, "reloadd forward: forwarding "+src, 1)
	d.lines(t, "connected: "+mnt+" follows", 1)
	m := waitMode(t, addr, "forward")
	if m.Agent == nil || m.Agent.Dir != src || m.Agent.Since == "" {
		t.Fatalf("agent status = %+v", m.Agent)
	}
	ws := dialLog(t, addr)
	ws.expect("hello", isType("hello"))
	save := func(name, title string) (written time.Time, build int64) {
		t.Helper()
		written = time.Now()
		must(t, os.WriteFile(filepath.Join(src, name), page(title), 0o644))
		done, _ := ws.expect("build_complete for "+name, isType("build_complete"))
		if paths := done["paths"].([]any); !slices.Contains(paths, any(filepath.Join(mnt, name))) {
			t.Errorf("build paths %v, want %s", paths, name)
		}
		return written, int64(done["build"].(float64))
	}
	written, id := save("index.html", "two")
	// The agent's record says how long before sending it its watcher saw
	// the write, so the save has a seen phase that starts at the write.
	var rec saveRecord
	testenv.Eventually(t, "the save's record", func() bool { rec = saveAt(t, addr, id); return rec.State == stateOK })
	if rec.WrittenBy != "agent" || len(rec.Phases) == 0 || rec.Phases[0].Name != breakdown.Seen {
		t.Errorf("forwarded save %+v, want a seen phase from the agent", rec)
	}
	if d := rec.At.Sub(written); d < -2*time.Millisecond || d > 250*time.Millisecond {
		t.Errorf("written at %v by the agent's record, %v after the write began", rec.At, d)
	}
	addsUp(t, "forwarded save", rec.Phases, rec.TotalMS)

	// The agent dies without a word: the daemon notices at once (the
	// connection closes), says so, and polls again.
	a.stop(t, syscall.SIGKILL)
	d.lines(t, "disconnected", 1)
	waitMode(t, addr, "poll")
	must(t, os.WriteFile(filepath.Join(src, "while-down.html"), page("new"), 0o644))
	a = startProc(t, "forward", "-to", "http://"+addr, src)
	a.lines(t, "reloadd forward: forwarding", 1)
	done, _ := ws.expect("build_complete for while-down.html", isType("build_complete"))
	if !slices.Contains(done["paths"].([]any), any(filepath.Join(mnt, "while-down.html"))) {
		t.Errorf("build paths %v", done["paths"])
	}
	waitMode(t, addr, "forward")
	save("index.html", "three")

	// The daemon restarts: the agent says it lost it and waits, and
	// reconnects by itself to the new one (a new cookie).
	if code := d.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("daemon exit %d", code)
	}
	a.lines(t, "reloadd forward: disconnected", 1)
	d = startDaemonAt(t, addr, "-debounce", "0", mnt)
	a.lines(t, "reloadd forward: forwarding", 2)
	waitMode(t, addr, "forward")
	ws = dialLog(t, addr)
	ws.expect("hello", isType("hello"))
	save("index.html", "four")

	// SIGTERM ends the agent cleanly (exit 0), and the daemon says why.
	if code := a.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("agent exit %d:\n%s", code, a.out)
	}
	d.lines(t, "the agent stopped", 1)
	waitMode(t, addr, "poll")
	d.stop(t, syscall.SIGTERM)
	if _, err := os.Stat(filepath.Join(src, ".reloadd")); !os.IsNotExist(err) {
		t.Errorf("the cookie directory outlived the daemon: %v", err)
	}
}

// TestForwardWrongDirExits: an agent started in a directory the daemon
// does not watch exits 1 with a one-line reason; the daemon says so too.
func TestForwardWrongDirExits(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("FUSE mounts are tested on Linux")
	}
	base, err := filepath.EvalSymlinks(t.TempDir())
	must(t, err)
	src, mnt, other := filepath.Join(base, "src"), filepath.Join(base, "mnt"), filepath.Join(base, "other")
	for _, d := range []string{src, mnt, other} {
		must(t, os.Mkdir(d, 0o755))
	}
	testenv.Bindfs(t, src, mnt)
	addr := testenv.FreeAddr(t)
	d := startDaemonAt(t, addr, mnt)
	a := startProc(t, "forward", "-to", "http://"+addr, other)
	ctx, cancel := context.WithTimeout(context.Background(), testenv.WaitLimit)
	defer cancel()
	select {
	case <-a.done:
	case <-ctx.Done():
		t.Fatalf("the agent did not give up:\n%s", a.out)
	}
	if code := a.cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(a.out.String(), "is not a folder this reloadd watches") {
		t.Errorf("exit %d:\n%s", code, a.out)
	}
	d.lines(t, "refused", 1)
	d.stop(t, syscall.SIGTERM)
}

func TestForwardFlags(t *testing.T) {
	var out, errOut testenv.Buffer
	err := run(context.Background(), []string{"forward", "-to", "ftp://x", t.TempDir()}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "http://") {
		t.Errorf("bad -to: %v", err)
	}
	if code := exitCode(run(context.Background(), []string{"forward", "-bogus"}, &out, &errOut)); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
}

// TestForwardSeveralDirs: one agent process, two shared folders, each
// served over its own connection.
func TestForwardSeveralDirs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("FUSE mounts are tested on Linux")
	}
	base, err := filepath.EvalSymlinks(t.TempDir())
	must(t, err)
	var srcs, mnts []string
	for _, n := range []string{"a", "b"} {
		src, mnt := filepath.Join(base, "src-"+n), filepath.Join(base, "mnt-"+n)
		must(t, os.Mkdir(src, 0o755))
		must(t, os.Mkdir(mnt, 0o755))
		must(t, os.WriteFile(filepath.Join(src, n+".html"), page(n), 0o644))
		testenv.Bindfs(t, src, mnt)
		srcs, mnts = append(srcs, src), append(mnts, mnt)
	}
	addr := testenv.FreeAddr(t)
	d := startDaemon(t, addr, append([]string{"-serve", mnts[0]}, mnts...)...)
	var out, errOut testenv.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"forward", "-to", "http://" + addr}, srcs...), &out, &errOut) }()
	testenv.Eventually(t, "both folders forwarded", func() bool {
		st := d.status(t)
		n := 0
		for _, m := range st["mounts"].([]any) {
			if m.(map[string]any)["mode"] == "forward" {
				n++
			}
		}
		return n == 2
	})
	c := d.dial(t)
	readType(t, c, "hello")
	must(t, os.WriteFile(filepath.Join(srcs[1], "b.html"), page("b2"), 0o644))
	done2 := readType(t, c, "build_complete")
	if paths := done2["paths"].([]any); !slices.Equal(paths, []any{filepath.Join(mnts[1], "b.html")}) {
		t.Errorf("paths = %v", paths)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("forward: %v", err)
	}
	if n := strings.Count(out.String(), "reloadd forward: forwarding"); n != 2 {
		t.Errorf("%d connect lines:\n%s", n, out.String())
	}
	d.stop(t)
}
