package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Figure 9: shares without an agent. A tree on a bindfs mount and on an
// sshfs mount of a loopback sshd; reloadd in its default mode watches the
// mount, the writes (a line appended to a file nobody touched since the
// start) go to the backing directory. Side by side with live-server, whose
// chokidar polls every file's stat every 100 ms, when npm can install it.
const (
	// liveServer is the comparison tool, as the issue measured it.
	liveServer = "live-server@1.2.2"
	// shareEarly are when the early saves are made, after the tool first
	// answers: the first seconds are when a poller that indexes in the
	// background is blind.
	shareIdle = 10 * time.Second
	// shareQuiet is how long nothing changes before the idle window and
	// before each quiet save: longer than reloadd's hot window (1 min),
	// while which its stat sweep runs at twice its idle budget.
	shareQuiet = 62 * time.Second
	// shareQuietSaves is how many first saves are made after shareQuiet
	// of nothing: the first save after a pause.
	shareQuietSaves = 3
)

var shareEarly = []time.Duration{500 * time.Millisecond, 2 * time.Second, 4 * time.Second, 6 * time.Second, 8 * time.Second}

// shareRow is one line of the shares table (figure 9).
type shareRow struct {
	fs     string // "bindfs", "sshfs"
	files  int
	tool   string
	ready  time.Duration
	early  []time.Duration // saves made in the first 10 s after ready
	first  []time.Duration // saves of never-touched files later on
	hot    []time.Duration // saves of a file just saved
	quiet  []time.Duration // first saves after shareQuiet of nothing
	missed int
	// busy and busyCPU are the wall time of the later and hot saves and
	// the tool's CPU in it.
	busy, busyCPU time.Duration
	idle          time.Duration
	idleCPU       time.Duration // the tool's CPU in the idle window
	fuseCPU       time.Duration // the FUSE daemon's in the same window
	mem           memory
	na            string
	note          string
}

// shareClient waits for a tool's reload messages.
type shareClient interface {
	// next returns the next reload: when it was read, and the paths it
	// names (nil when the tool does not say).
	next(ctx context.Context) (time.Time, []string, error)
	// drain discards the messages already read.
	drain()
	close()
}

// figShare is the number of the shares figure.
const figShare = 9

// fig9: shares without an agent.
func (s *suite) fig9(ctx context.Context) {
	type setup struct {
		fs    string
		files int
	}
	setups := []setup{{"bindfs", 20_000}, {"sshfs", 20_000}, {"bindfs", 100_000}, {"sshfs", 100_000}}
	if s.cfg.quick {
		setups = []setup{{"bindfs", 1_000}, {"sshfs", 1_000}}
	}
	// RELOADD_BENCH_SHARES=bindfs:20000,sshfs:1000 picks the setups.
	if env := os.Getenv("RELOADD_BENCH_SHARES"); env != "" {
		setups = nil
		for item := range strings.SplitSeq(env, ",") {
			fs, n, _ := strings.Cut(item, ":")
			files, err := strconv.Atoi(n)
			if err != nil || (fs != "bindfs" && fs != "sshfs") {
				s.fail(figShare, fmt.Errorf("RELOADD_BENCH_SHARES=%q: want fs:files,... (bindfs or sshfs)", env))
				return
			}
			setups = append(setups, setup{fs, files})
		}
	}
	// RELOADD_BENCH_SHARE_TOOLS=reloadd leaves live-server out.
	only := os.Getenv("RELOADD_BENCH_SHARE_TOOLS")
	ls, lsErr := "", error(nil)
	if !s.cfg.quick && (only == "" || strings.Contains(only, "live-server")) {
		ls, lsErr = s.liveServer()
	}
	for _, st := range setups {
		tools := []string{"reloadd"}
		if !s.cfg.quick && st.files <= 20_000 {
			tools = append(tools, "live-server")
		}
		if only != "" {
			tools = slices.DeleteFunc(tools, func(t string) bool { return !strings.Contains(only, t) })
		}
		for _, tool := range tools {
			row := &shareRow{fs: st.fs, files: st.files, tool: tool}
			s.rep.shares = append(s.rep.shares, row)
			if tool == "live-server" && lsErr != nil {
				row.na = naReason(lsErr)
				continue
			}
			s.progress("figure %d: %s, %s files, %s", figShare, st.fs, thousands(st.files), tool)
			if err := s.share(ctx, st.fs, st.files, tool, ls, row); err != nil {
				s.fail(figShare, err)
				if row.na == "" {
					row.na = naReason(err)
				}
			}
		}
	}
}

// share measures one tool on one share.
func (s *suite) share(ctx context.Context, fs string, nfiles int, tool, ls string, row *shareRow) error {
	base, err := tempDir("reloadd-bench-share-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	src, mnt := filepath.Join(base, "src"), filepath.Join(base, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		return err
	}
	tr, err := makeTree(src, nfiles, 500)
	if err != nil {
		return err
	}
	var fusePID int
	switch fs {
	case "bindfs":
		m, err := mountBindfs(src, mnt)
		if err != nil {
			return err
		}
		defer m.unmount()
		fusePID = m.pid()
	case "sshfs":
		m, err := mountSSHFS(src, mnt)
		if err != nil {
			return err
		}
		defer m.unmount()
		fusePID = m.pid()
	}
	// A save through sshfs shows after its 20 s attribute cache at worst;
	// a large tree's sweep takes longer (reloadd sizes it to a CPU budget).
	// The limits leave room for a loaded machine: a save unseen within
	// them counts as missed.
	per20k := time.Duration(max(nfiles/20_000, 1))
	limit := 30 * time.Second * per20k
	trials := s.cfg.trials
	if fs == "sshfs" {
		limit, trials = 60*time.Second+30*time.Second*per20k, max(s.cfg.trials/3, 2)
	}

	var c shareClient
	var pid int
	var status func() string
	switch tool {
	case "reloadd":
		d, err := startDaemon(ctx, s.bin, mnt)
		if err != nil {
			return err
		}
		defer d.stop()
		row.ready, pid = d.ready.Sub(d.started), d.pid()
		wc, _, err := dialWS(ctx, d.addr)
		if err != nil {
			return err
		}
		c = reloaddClient{wc}
		status = func() string { return shareStatusNote(d) }
	case "live-server":
		lc, p, ready, stop, err := startLiveServer(ctx, ls, mnt)
		if err != nil {
			return err
		}
		defer stop()
		c, pid, row.ready = lc, p, ready
		status = func() string { return "chokidar polling every file's stat every 100 ms (CHOKIDAR_USEPOLLING)" }
	}
	defer c.close()

	// Every save goes to a different file nobody touched since the start.
	perm := rand.Perm(len(tr.files))
	next := 0
	pick := func() string { f := tr.files[perm[next%len(perm)]]; next++; return f }
	start := time.Now()
	// trial saves path and adds the latency to into, or counts it missed.
	trial := func(path string, into *[]time.Duration) error {
		lat, err := saveAndAwait(ctx, c, path, limit)
		if errors.Is(err, errMissed) {
			row.missed++
			return nil
		}
		if err != nil {
			return err
		}
		*into = append(*into, lat)
		return nil
	}

	// Early saves: made at fixed times after the tool answers. A tool that
	// names the changed paths is measured for all of them at once; for one
	// that does not, one save at a time.
	early := shareEarly
	if s.cfg.quick {
		early = early[:2]
	}
	if tool == "reloadd" {
		lat, missed, err := concurrentSaves(ctx, c, start, early, pick, limit)
		if err != nil {
			return err
		}
		row.early, row.missed = lat, row.missed+missed
	} else {
		for _, at := range early {
			if err := sleepCtx(ctx, time.Until(start.Add(at))); err != nil {
				return err
			}
			if err := trial(pick(), &row.early); err != nil {
				return err
			}
		}
	}

	// Later saves of never-touched files, one at a time.
	b0, err := cpuTime(pid)
	if err != nil {
		return err
	}
	busyStart := time.Now()
	var last string
	for i := range trials {
		if err := sleepCtx(ctx, gap(500*time.Millisecond, time.Second)); err != nil {
			return err
		}
		last = pick()
		if err := trial(last, &row.first); err != nil {
			return fmt.Errorf("save %d: %w", i, err)
		}
	}
	// Hot saves: the file just saved, again.
	for range min(trials, 10) {
		if err := sleepCtx(ctx, gap(200*time.Millisecond, 300*time.Millisecond)); err != nil {
			return err
		}
		if err := trial(last, &row.hot); err != nil {
			return err
		}
	}
	b1, err := cpuTime(pid)
	if err != nil {
		return err
	}
	row.busy, row.busyCPU = time.Since(busyStart), b1-b0

	// Idle: nothing changed for shareQuiet; the tool's and the FUSE
	// daemon's CPU.
	idle, quiet, quietSaves := shareIdle, shareQuiet, shareQuietSaves
	if s.cfg.quick {
		idle, quiet, quietSaves = 2*time.Second, 2*time.Second, 1
	}
	if err := sleepCtx(ctx, quiet); err != nil {
		return err
	}
	c0, err := cpuTime(pid)
	if err != nil {
		return err
	}
	f0, _ := cpuTime(fusePID)
	t0 := time.Now()
	if err := sleepCtx(ctx, idle); err != nil {
		return err
	}
	c1, err := cpuTime(pid)
	if err != nil {
		return err
	}
	f1, _ := cpuTime(fusePID)
	row.idle, row.idleCPU, row.fuseCPU = time.Since(t0), c1-c0, f1-f0
	if row.mem, err = memoryOf(pid); err != nil {
		return err
	}
	row.note = status() // what the status says while idle
	// First saves after a pause: the first right after the idle window,
	// the others each after another shareQuiet of nothing.
	for i := range quietSaves {
		if i > 0 {
			if err := sleepCtx(ctx, quiet); err != nil {
				return err
			}
		}
		if err := trial(pick(), &row.quiet); err != nil {
			return fmt.Errorf("quiet save %d: %w", i, err)
		}
	}
	return nil
}

// appendLine appends a harmless line to path (what the trials did
// to files nobody had touched) and returns the time just before.
func appendLine(path string) (time.Time, error) {
	t0 := time.Now()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return t0, err
	}
	_, err = fmt.Fprintf(f, "<!-- reloadd-bench %d -->\n", t0.UnixNano())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return t0, err
}

// saveAndAwait appends to path (on the backing side) and waits for a
// reload that names it under the mount, by its name (the tree's names are
// unique), or for any reload from a tool that names nothing.
func saveAndAwait(ctx context.Context, c shareClient, path string, limit time.Duration) (time.Duration, error) {
	c.drain()
	t0, err := appendLine(path)
	if err != nil {
		return 0, err
	}
	want := filepath.Base(path)
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		at, paths, err := c.next(wctx)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return 0, errMissed
		}
		if err != nil {
			return 0, err
		}
		if paths == nil || slices.ContainsFunc(paths, func(p string) bool { return filepath.Base(p) == want }) {
			return at.Sub(t0), nil
		}
	}
}

// concurrentSaves makes one save at each of the times after start and
// waits until every one was named by a reload, or limit after the last.
func concurrentSaves(ctx context.Context, c shareClient, start time.Time, at []time.Duration, pick func() string, limit time.Duration) ([]time.Duration, int, error) {
	var mu sync.Mutex
	written := map[string]time.Time{}
	seen := map[string]time.Duration{}
	done := make(chan struct{})
	wctx, cancel := context.WithTimeout(ctx, at[len(at)-1]+limit)
	defer cancel()
	go func() {
		defer close(done)
		for {
			when, paths, err := c.next(wctx)
			if err != nil {
				return
			}
			mu.Lock()
			for _, p := range paths {
				if t0, ok := written[filepath.Base(p)]; ok {
					if _, dup := seen[filepath.Base(p)]; !dup {
						seen[filepath.Base(p)] = when.Sub(t0)
					}
				}
			}
			all := len(seen) == len(at)
			mu.Unlock()
			if all {
				return
			}
		}
	}()
	for _, d := range at {
		if err := sleepCtx(ctx, time.Until(start.Add(d))); err != nil {
			return nil, 0, err
		}
		path := pick()
		mu.Lock()
		t0, err := appendLine(path)
		written[filepath.Base(path)] = t0
		mu.Unlock()
		if err != nil {
			return nil, 0, err
		}
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	var out []time.Duration
	for _, d := range seen {
		out = append(out, d)
	}
	return out, len(at) - len(seen), ctx.Err()
}

// reloaddClient reads build_complete messages.
type reloaddClient struct{ c *wsClient }

func (r reloaddClient) next(ctx context.Context) (time.Time, []string, error) {
	for {
		select {
		case m, ok := <-r.c.msgs:
			if !ok {
				return time.Time{}, nil, errors.New("connection closed")
			}
			if m.Type == "build_complete" {
				if m.Paths == nil {
					m.Paths = []string{}
				}
				return m.At, m.Paths, nil
			}
		case <-ctx.Done():
			return time.Time{}, nil, ctx.Err()
		}
	}
}

func (r reloaddClient) drain() { r.c.drain() }
func (r reloaddClient) close() { r.c.close() }

// shareStatusNote summarises what reloadd's status says of the mount.
func shareStatusNote(d *daemon) string {
	st, err := d.status()
	if err != nil || len(st.Mounts) == 0 {
		return ""
	}
	m := st.Mounts[0]
	note := "mode: " + m.Mode
	if p := m.Poll; p != nil {
		note += fmt.Sprintf("; stat %s (%d shown, %d missed); forced stat %.0f µs (CPU %.0f µs), read %.0f µs (CPU %.0f µs); last sweep by stat %.1f s, read sweep %.1f s",
			p.Stat, p.StatShowed, p.StatMissed, p.StatUS, p.StatCPUUS, p.ReadUS, p.ReadCPUUS, p.SweepMS/1000, p.ReadSweepMS/1000)
		if p.SweepBoost != "" {
			note += "; sweep boosted: " + p.SweepBoost
		}
	}
	return note
}

// liveServer installs live-server with npm (once per machine, cached) and
// returns the path of its command-line script.
func (s *suite) liveServer() (string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return "", fmt.Errorf("npm is not installed: %w", errNoTool)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("node is not installed: %w", errNoTool)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "reloadd-bench", "npm", liveServer)
	script := filepath.Join(dir, "node_modules", "live-server", "live-server.js")
	if _, err := os.Stat(script); err == nil {
		return script, nil
	}
	s.progress("figure %d: npm install %s", figShare, liveServer)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--no-save", "--prefix", dir, liveServer)
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install %s: %v: %s: %w", liveServer, err, lastLine(string(out)), errNoTool)
	}
	if _, err := os.Stat(script); err != nil {
		return "", fmt.Errorf("npm install %s: no %s: %w", liveServer, script, errNoTool)
	}
	return script, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// liveClient reads live-server's reload messages (plain "reload" frames on
// its WebSocket).
type liveClient struct {
	conn *websocket.Conn
	msgs chan time.Time
	done chan struct{}
}

func (l *liveClient) next(ctx context.Context) (time.Time, []string, error) {
	select {
	case at, ok := <-l.msgs:
		if !ok {
			return time.Time{}, nil, errors.New("connection closed")
		}
		return at, nil, nil
	case <-ctx.Done():
		return time.Time{}, nil, ctx.Err()
	}
}

func (l *liveClient) drain() {
	for {
		select {
		case <-l.msgs:
		default:
			return
		}
	}
}

func (l *liveClient) close() {
	l.conn.Close()
	<-l.done
}

// startLiveServer runs live-server on dir with chokidar polling every
// 100 ms (a FUSE mount gives it no events) and connects to its WebSocket.
func startLiveServer(ctx context.Context, script, dir string) (*liveClient, int, time.Duration, func(), error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, 0, 0, nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("node", script, "--no-browser", "--quiet", "--host=127.0.0.1", "--port="+port, dir)
	cmd.Env = append(os.Environ(), "CHOKIDAR_USEPOLLING=1", "CHOKIDAR_INTERVAL=100")
	out := newEventLog()
	cmd.Stdout, cmd.Stderr = out, out
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, 0, nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(startLimit); ; {
		if resp, err := client.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-exited:
			return nil, 0, 0, nil, fmt.Errorf("live-server exited: %s", out.tail())
		case <-ctx.Done():
			stop()
			return nil, 0, 0, nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, 0, 0, nil, fmt.Errorf("live-server did not answer within %v: %s", startLimit, out.tail())
		}
	}
	ready := time.Since(t0)
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+addr+"/ws", nil)
	if err != nil {
		stop()
		return nil, 0, 0, nil, fmt.Errorf("live-server WebSocket: %w", err)
	}
	l := &liveClient{conn: conn, msgs: make(chan time.Time, 64), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		defer close(l.msgs)
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if string(data) == "reload" {
				select {
				case l.msgs <- time.Now():
				default:
				}
			}
		}
	}()
	return l, cmd.Process.Pid, ready, stop, nil
}
