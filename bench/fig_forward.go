package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// figForward is the number of the forwarding figure.
const figForward = 7

// agentProc is `reloadd forward` run as a child, with -log json.
type agentProc struct {
	cmd     *exec.Cmd
	log     *eventLog
	started time.Time
	exited  chan struct{}
}

// startAgent runs `bin forward -to http://addr -log json dir` and waits for
// its first forward_connected line (its manifest is sent by then).
func startAgent(ctx context.Context, bin, addr, dir string) (*agentProc, error) {
	a := &agentProc{log: newEventLog(), exited: make(chan struct{})}
	a.cmd = exec.Command(bin, "forward", "-to", "http://"+addr, "-log", "json", dir)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	a.started = time.Now()
	if err := a.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start reloadd forward: %w", err)
	}
	go func() { a.cmd.Wait(); close(a.exited) }()
	wctx, cancel := context.WithTimeout(ctx, startLimit)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, _, err := a.log.waitEvent(wctx, 0, "forward_connected"); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			a.stop()
			return nil, fmt.Errorf("reloadd forward did not connect: %w\n%s", err, a.log.tail())
		}
	case <-a.exited:
		cancel()
		<-done
		if isUnsupported(a.log.String()) {
			return nil, &unsupportedError{msg: "forward: not yet supported"}
		}
		return nil, fmt.Errorf("reloadd forward exited:\n%s", a.log.tail())
	}
	return a, nil
}

// isUnsupported recognises a binary without the forward subcommand (it
// takes "forward" for a directory to watch, or rejects the flags).
func isUnsupported(out string) bool {
	return strings.Contains(out, "flag provided but not defined") || strings.Contains(out, "watch forward")
}

func (a *agentProc) pid() int { return a.cmd.Process.Pid }

// stop ends the agent with SIGTERM and waits.
func (a *agentProc) stop() {
	select {
	case <-a.exited:
		return
	default:
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(stopLimit):
		a.cmd.Process.Kill()
		<-a.exited
	}
}

// forwardRow is one line of the forwarding cost table.
type forwardRow struct {
	files               int
	ready               time.Duration // agent exec → forward_connected
	idle                time.Duration
	daemonCPU, agentCPU time.Duration // over idle
	agentMem, daemonMem memory
	note, na            string
}

// fig7: forwarding. reloadd watches a bindfs mount (auto mode: it polls
// it), `reloadd forward` runs on the backing directory and sends its
// changes. Saves on the backing side → build_complete; the first save of
// never-touched files in large trees; the idle cost of both processes; and
// how soon changes made while the agent was down are built once it is back.
func (s *suite) fig7(ctx context.Context) {
	row := s.rep.addLatency(&latencyRow{fig: figForward, figure: "forwarded save (bindfs): write to the backing dir → `build_complete`",
		setup: "`-watch auto` on the mount, `reloadd forward` on the backing dir", panel: panelWS, label: "forwarded (bindfs)"})
	s.progress("figure 7: forwarded saves on a small site")
	if err := s.forwardSmall(ctx, row); err != nil {
		s.fail(figForward, err, row)
	}
	sizes := []int{20_000, 100_000}
	idle := 15 * time.Second
	if s.cfg.quick {
		sizes, idle = []int{1_000}, 2*time.Second
	}
	for _, n := range sizes {
		cold := s.rep.addLatency(&latencyRow{fig: figForward, figure: "forwarded: first save of a never-touched file → `build_complete`",
			setup: fmt.Sprintf("%s files on bindfs, agent connected", thousands(n)), panel: panelScale, label: fmt.Sprintf("forwarded, %s files, never-touched", thousands(n))})
		back := s.rep.addLatency(&latencyRow{fig: figForward, figure: "agent back → changes made while it was down built (new file + in-place change)",
			setup: fmt.Sprintf("%s files on bindfs; from the agent's exec", thousands(n))})
		backConn := s.rep.addLatency(&latencyRow{fig: figForward, figure: "agent back → changes made while it was down built (new file + in-place change)",
			setup: fmt.Sprintf("%s files on bindfs; from the agent's connect line", thousands(n))})
		frow := &forwardRow{files: n}
		s.rep.forward = append(s.rep.forward, frow)
		s.progress("figure 7: %s files", thousands(n))
		if err := s.forwardTree(ctx, n, idle, cold, back, backConn, frow); err != nil {
			s.fail(figForward, err, cold, back, backConn)
			if frow.na == "" {
				frow.na = naReason(err)
			}
		}
	}
}

func (s *suite) forwardSmall(ctx context.Context, row *latencyRow) error {
	src, mnt, cleanup, err := deafSite()
	if err != nil {
		return err
	}
	defer cleanup()
	d, err := startDaemon(ctx, s.bin, mnt)
	if err != nil {
		return err
	}
	defer d.stop()
	a, err := startAgent(ctx, s.bin, d.addr, src)
	if err != nil {
		return err
	}
	defer a.stop()
	if _, err := d.waitStatus("mode forward", 10*time.Second, func(st daemonStatus) bool {
		return len(st.Mounts) == 1 && st.Mounts[0].Mode == "forward"
	}); err != nil {
		return err
	}
	c, _, err := dialWS(ctx, d.addr)
	if err != nil {
		return err
	}
	defer c.close()
	dups := 0
	var missNotes []string
	for i := range s.cfg.warmup + s.cfg.trials {
		if err := sleepCtx(ctx, gap(gapMin, gapSpan)); err != nil {
			return err
		}
		dups += c.pending("build_complete")
		lat, err := c.writeAndAwait(ctx, filepath.Join(src, "index.html"), fmt.Appendf(nil, "<h1>%d %d</h1>\n", i, rand.Int()), trialLimit)
		if errors.Is(err, errMissed) {
			row.missed++
			mode := "?"
			if st, err := d.status(); err == nil && len(st.Mounts) == 1 {
				mode = st.Mounts[0].Mode
			}
			missNotes = append(missNotes, fmt.Sprintf("trial %d missed in mode %s", i, mode))
			s.progress("figure 7: trial %d missed (mode %s); daemon:\n%s\nagent:\n%s", i, mode, d.log.tail(), a.log.tail())
			continue
		}
		if err != nil {
			return fmt.Errorf("trial %d: %w\n%s", i, err, d.log.tail())
		}
		if i >= s.cfg.warmup {
			row.samples = append(row.samples, lat)
		}
	}
	if err := sleepCtx(ctx, 200*time.Millisecond); err != nil {
		return err
	}
	dups += c.pending("build_complete")
	row.note = fmt.Sprintf("%d duplicate builds (a second build_complete for one save); reloadd's default 10 ms settle window", dups)
	for _, n := range missNotes {
		row.note = joinNotes(row.note, n)
	}
	return nil
}

func (s *suite) forwardTree(ctx context.Context, n int, idle time.Duration, cold, back, backConn *latencyRow, frow *forwardRow) error {
	base, err := tempDir("reloadd-bench-fwd-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	src, mnt := filepath.Join(base, "src"), filepath.Join(base, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return err
	}
	tr, err := makeTree(src, n, 500)
	if err != nil {
		return err
	}
	m, err := mountBindfs(src, mnt)
	if err != nil {
		return err
	}
	defer m.unmount()
	d, err := startDaemon(ctx, s.bin, mnt)
	if err != nil {
		return err
	}
	defer d.stop()
	a, err := startAgent(ctx, s.bin, d.addr, src)
	if err != nil {
		return err
	}
	defer func() { a.stop() }()
	frow.ready = time.Since(a.started)
	if _, err := d.waitStatus("mode forward", 30*time.Second, func(st daemonStatus) bool {
		return len(st.Mounts) == 1 && st.Mounts[0].Mode == "forward"
	}); err != nil {
		return err
	}
	c, _, err := dialWS(ctx, d.addr)
	if err != nil {
		return err
	}
	defer c.close()

	// Never-touched files, one after the other.
	perm := rand.Perm(len(tr.files))
	next := 0
	pick := func() string { f := tr.files[perm[next]]; next++; return f }
	for i := range s.cfg.warmup + s.cfg.trials {
		if err := sleepCtx(ctx, gap(gapMin, gapSpan)); err != nil {
			return err
		}
		lat, err := c.writeAndAwait(ctx, pick(), fmt.Appendf(nil, "cold %d %d\n", i, rand.Int()), coldLimit)
		if errors.Is(err, errMissed) {
			cold.missed++
			continue
		}
		if err != nil {
			return fmt.Errorf("cold trial %d: %w\n%s", i, err, d.log.tail())
		}
		if i >= s.cfg.warmup {
			cold.samples = append(cold.samples, lat)
		}
	}

	// Idle: nothing changes; both processes' CPU from /proc, once the
	// daemon's one-time work is over (the poller hashes in the background
	// what its baseline had no time for: minutes through FUSE at 100,000
	// files).
	limit := settleLimit
	if s.cfg.quick {
		limit = 2 * settleWindow
	}
	settled, err := settle(ctx, d.pid(), limit)
	if err != nil && !errors.Is(err, errNotLinux) {
		return err
	}
	frow.note = fmt.Sprintf("measured once the daemon's CPU over %v fell below %.0f %% of a core (%.0f s after the trials)", settleWindow, 100*settleBelow, settled.Seconds())
	d0, err := cpuTime(d.pid())
	if errors.Is(err, errNotLinux) {
		frow.na = "n/a (" + err.Error() + ")"
	} else if err != nil {
		return err
	} else {
		a0, err := cpuTime(a.pid())
		if err != nil {
			return err
		}
		start := time.Now()
		if err := sleepCtx(ctx, idle); err != nil {
			return err
		}
		d1, err1 := cpuTime(d.pid())
		a1, err2 := cpuTime(a.pid())
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		frow.idle, frow.daemonCPU, frow.agentCPU = time.Since(start), d1-d0, a1-a0
		if frow.agentMem, err = memoryOf(a.pid()); err != nil {
			return err
		}
		if frow.daemonMem, err = memoryOf(d.pid()); err != nil {
			return err
		}
	}

	// The agent goes away; a file is created and a never-touched one
	// changed in place; the agent comes back. From its exec to the build
	// (or builds) holding both.
	backTrials := min(s.cfg.trials, 5)
	for i := range backTrials {
		a.stop()
		if _, err := d.waitStatus("mode poll", 10*time.Second, func(st daemonStatus) bool {
			return len(st.Mounts) == 1 && st.Mounts[0].Mode == "poll"
		}); err != nil {
			return err
		}
		c.drain()
		created := filepath.Join(src, fmt.Sprintf("new-%d-%d.txt", i, rand.Int()))
		changed := pick()
		if err := os.WriteFile(created, []byte("new\n"), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(changed, fmt.Appendf(nil, "changed while apart %d\n", rand.Int()), 0o644); err != nil {
			return err
		}
		t0 := time.Now()
		if a, err = startAgent(ctx, s.bin, d.addr, src); err != nil {
			return err
		}
		t1 := time.Now() // the agent's connect line has been read
		want := map[string]bool{mntPath(src, mnt, created): true, mntPath(src, mnt, changed): true}
		var last time.Time
		wctx, cancel := context.WithTimeout(ctx, coldLimit)
		for len(want) > 0 {
			msg, err := c.await(wctx, "build_complete")
			if err != nil {
				break
			}
			for _, p := range msg.Paths {
				if want[p] {
					delete(want, p)
					last = msg.At
				}
			}
		}
		cancel()
		if len(want) > 0 {
			back.missed++
			continue
		}
		back.samples = append(back.samples, max(last.Sub(t0), 0))
		backConn.samples = append(backConn.samples, max(last.Sub(t1), 0))
	}
	back.note = "includes the agent's start-up (its watcher's baseline, the manifest); 0 when polling found both before the agent was back"
	backConn.note = "from when the harness read the agent's connect line (printed after its manifest was sent)"
	return nil
}

// The idle figures wait for the daemon to settle: until its CPU over
// settleWindow is below settleBelow of a core, at most settleLimit.
const (
	settleWindow = 3 * time.Second
	settleBelow  = 0.01
	settleLimit  = 5 * time.Minute
)

// settle waits until process pid has used less than settleBelow of a core
// over settleWindow, or limit passed; it returns how long it waited.
func settle(ctx context.Context, pid int, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < limit {
		c0, err := cpuTime(pid)
		if err != nil {
			return time.Since(start), err
		}
		if err := sleepCtx(ctx, settleWindow); err != nil {
			return time.Since(start), err
		}
		c1, err := cpuTime(pid)
		if err != nil {
			return time.Since(start), err
		}
		if (c1 - c0).Seconds() < settleBelow*settleWindow.Seconds() {
			break
		}
	}
	return time.Since(start), nil
}

func mntPath(src, mnt, p string) string {
	rel, err := filepath.Rel(src, p)
	if err != nil {
		return p
	}
	return filepath.Join(mnt, rel)
}

// pending counts (and discards) the queued messages of type typ.
func (c *wsClient) pending(typ string) int {
	n := 0
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return n
			}
			if m.Type == typ {
				n++
			}
		default:
			return n
		}
	}
}
