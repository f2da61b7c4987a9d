package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Limits of the harness's own waits. They are ceilings for when something is
// broken, never the expected durations.
const (
	// startLimit bounds how long reloadd may take to answer HTTP after exec
	// (a 100k-file tree on a slow disk takes a while to watch).
	startLimit = 3 * time.Minute
	// stopLimit bounds how long reloadd may take to exit after SIGTERM.
	stopLimit = 15 * time.Second
)

// repoRoot returns the directory of the reloadd module (the repository root),
// found through the go command so that it works from the workspace root, from
// bench/ and with GOWORK=off (through bench/go.mod's replace).
func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/reloadd/reloadd").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("go list -m github.com/reloadd/reloadd: %v: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("go list -m github.com/reloadd/reloadd: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", errors.New("go list -m github.com/reloadd/reloadd: no directory (run from the repository)")
	}
	return dir, nil
}

// buildReloadd compiles the daemon (the repository's ./cmd/reloadd, exactly as
// users build it) into dir and returns the binary's path.
func buildReloadd(root, dir string) (string, error) {
	bin := filepath.Join(dir, "reloadd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/reloadd")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/reloadd: %v\n%s", err, msg)
	}
	return bin, nil
}

// errUnsupported is returned (wrapped in an *unsupportedError) when the
// binary refuses flags whose feature has not landed in this build.
var errUnsupported = errors.New("feature not available in this build")

// unsupportedError carries the binary's own words.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return "reloadd: " + e.msg }
func (e *unsupportedError) Is(target error) bool {
	return target == errUnsupported
}

// daemon is a reloadd process under measurement: the real binary, run as a
// child with -log json so the harness can read its events.
type daemon struct {
	cmd     *exec.Cmd
	addr    string
	log     *eventLog
	started time.Time // just before exec
	ready   time.Time // first successful /_reloadd/status
	exited  chan struct{}
	waitErr error // valid after exited is closed
}

// startDaemon runs bin with args (after -addr and -log json) and waits until
// it answers HTTP on /_reloadd/status. A binary that exits with status 2 and
// says "not yet supported" yields an error matching errUnsupported.
func startDaemon(ctx context.Context, bin string, args ...string) (*daemon, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	d := &daemon{addr: addr, log: newEventLog(), exited: make(chan struct{})}
	d.cmd = exec.Command(bin, append([]string{"-addr", addr, "-log", "json"}, args...)...)
	d.cmd.Stdout = d.log
	d.cmd.Stderr = d.log
	// Build commands inherit the pipe; never let one that outlives reloadd
	// hold Wait forever.
	d.cmd.WaitDelay = 5 * time.Second
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.exited)
	}()

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startLimit)
	for {
		resp, err := client.Get(d.url("/_reloadd/status"))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				d.ready = time.Now()
				return d, nil
			}
		}
		select {
		case <-d.exited:
			return nil, d.exitError()
		case <-ctx.Done():
			d.stop()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("reloadd did not answer within %v:\n%s", startLimit, d.log.tail())
		}
	}
}

// exitError explains an early exit; the process has exited.
func (d *daemon) exitError() error {
	var ee *exec.ExitError
	out := strings.TrimSpace(d.log.String())
	if errors.As(d.waitErr, &ee) && ee.ExitCode() == 2 && strings.Contains(out, "not yet supported") {
		return &unsupportedError{msg: firstLineWith(out, "not yet supported")}
	}
	return fmt.Errorf("reloadd exited before it was ready (%v):\n%s", d.waitErr, d.log.tail())
}

func firstLineWith(s, sub string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "reloadd:"))
		}
	}
	return s
}

// url returns the daemon's URL for path.
func (d *daemon) url(path string) string { return "http://" + d.addr + path }

// pid returns the daemon's process id.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM and waits for the exit (SIGKILL after stopLimit). It is
// idempotent.
func (d *daemon) stop() error {
	select {
	case <-d.exited:
		return nil
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.cmd.Process.Kill() // no SIGTERM on this OS
	}
	select {
	case <-d.exited:
		return nil
	case <-time.After(stopLimit):
		d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("reloadd ignored SIGTERM for %v", stopLimit)
	}
}

// status fetches /_reloadd/status.
func (d *daemon) status() (daemonStatus, error) {
	var st daemonStatus
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(d.url("/_reloadd/status"))
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("decode /_reloadd/status: %w", err)
	}
	return st, nil
}

// waitStatus polls /_reloadd/status until cond holds, the daemon exits or the
// limit passes.
func (d *daemon) waitStatus(what string, limit time.Duration, cond func(daemonStatus) bool) (daemonStatus, error) {
	deadline := time.Now().Add(limit)
	for {
		st, err := d.status()
		if err == nil && cond(st) {
			return st, nil
		}
		select {
		case <-d.exited:
			return st, fmt.Errorf("reloadd exited while waiting for %s:\n%s", what, d.log.tail())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("timed out after %v waiting for %s (last status error: %v)", limit, what, err)
		}
	}
}

// daemonStatus is the part of /_reloadd/status the bench reads (docs/DESIGN.md's
// contract).
type daemonStatus struct {
	Epoch   string  `json:"epoch"`
	Build   int64   `json:"build"`
	Clients int     `json:"clients"`
	Mounts  []mount `json:"mounts"`
}

type mount struct {
	Path   string      `json:"path"`
	FSType string      `json:"fstype"`
	Mode   string      `json:"mode"`
	Reason string      `json:"reason"`
	Poll   *pollStatus `json:"poll"`
}

// pollStatus is what the status says of a polled mount (figure 7 reads it).
type pollStatus struct {
	Stat        string  `json:"stat"`
	StatShowed  int64   `json:"stat_showed"`
	StatMissed  int64   `json:"stat_missed"`
	StatUS      float64 `json:"stat_us"`
	StatCPUUS   float64 `json:"stat_cpu_us"`
	ReadUS      float64 `json:"read_us"`
	ReadCPUUS   float64 `json:"read_cpu_us"`
	SweepMS     float64 `json:"sweep_ms"`
	ReadSweepMS float64 `json:"read_sweep_ms"`
	SweepBoost  string  `json:"sweep_boost"`
}

// modeNote summarises how reloadd watches its mounts, e.g. "mode: native"
// or "mode: poll on fuse.bindfs"; "" before the daemon answered.
func (st daemonStatus) modeNote() string {
	var parts []string
	for _, m := range st.Mounts {
		p := m.Mode
		if m.FSType != "" {
			p += " on " + m.FSType
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return ""
	}
	return "mode: " + strings.Join(parts, ", ")
}

// freeAddr returns a loopback address nobody listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// eventLog collects a process's output: every line, and each line that is a
// JSON object as an event (reloadd's -log json). It is safe for concurrent
// use; waiters are woken on every new line.
type eventLog struct {
	mu      sync.Mutex
	partial []byte
	all     bytes.Buffer
	events  []map[string]any
	changed chan struct{} // closed and replaced on every new event
}

func newEventLog() *eventLog { return &eventLog{changed: make(chan struct{})} }

// Write implements io.Writer for exec.Cmd.
func (l *eventLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	l.partial = append(l.partial, p...)
	woke := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimSpace(l.partial[:i])
		l.partial = l.partial[i+1:]
		var ev map[string]any
		if len(line) > 0 && line[0] == '{' && json.Unmarshal(line, &ev) == nil {
			l.events = append(l.events, ev)
			woke = true
		}
	}
	if woke {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return len(p), nil
}

// String returns all output so far.
func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}

// tail returns the last few KiB of output, for error messages.
func (l *eventLog) tail() string {
	s := l.String()
	const keep = 4 << 10
	if len(s) > keep {
		s = "…" + s[len(s)-keep:]
	}
	return s
}

// mark returns the number of events so far: waitEvent(mark, …) sees only
// later ones.
func (l *eventLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// waitEvent waits for the first event at index ≥ from named kind (the
// "event" field) and returns it with the index after it.
func (l *eventLog) waitEvent(ctx context.Context, from int, kind string) (map[string]any, int, error) {
	for {
		l.mu.Lock()
		for i := from; i < len(l.events); i++ {
			if l.events[i]["event"] == kind {
				ev := l.events[i]
				l.mu.Unlock()
				return ev, i + 1, nil
			}
		}
		from = len(l.events)
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, from, ctx.Err()
		}
	}
}

// since returns the events at index ≥ from.
func (l *eventLog) since(from int) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from >= len(l.events) {
		return nil
	}
	return append([]map[string]any(nil), l.events[from:]...)
}

// waitQuiet waits until no event has arrived for quiet.
func (l *eventLog) waitQuiet(ctx context.Context, quiet time.Duration) error {
	for {
		l.mu.Lock()
		ch := l.changed
		l.mu.Unlock()
		timer := time.NewTimer(quiet)
		select {
		case <-timer.C:
			return nil
		case <-ch:
			timer.Stop()
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}

// writeFile writes data to path in place (truncate and write, keeping the
// inode), as most editors' plain saves and os.WriteFile do, and returns the
// time just before the write started.
func writeFile(path string, data []byte) (time.Time, error) {
	t0 := time.Now()
	err := os.WriteFile(path, data, 0o644)
	return t0, err
}
