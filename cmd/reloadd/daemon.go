package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/reloadd/reloadd/build"
	"github.com/reloadd/reloadd/debounce"
	"github.com/reloadd/reloadd/forward"
	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/internal/siteindex"
	"github.com/reloadd/reloadd/serve"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/auto"
)

// run is reloadd without the process around it: it returns nil after ctx is
// cancelled and everything has stopped, a *usageError for a bad command
// line, or another error for a fatal problem.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "forward" {
		return runForward(ctx, args[1:], stdout, stderr) // the host agent (forward.go)
	}
	cfg, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	if cfg.check {
		return check(cfg, stdout)
	}
	d, err := newDaemon(cfg, stdout)
	if err != nil {
		return err
	}
	return d.run(ctx)
}

// layout is what the command line says about the file system: the watched
// roots, the served directory, the ignore rules and the build's outputs.
// Building it only reads.
type layout struct {
	roots  []string // absolute watched directories
	served string   // absolute served directory; "" with -proxy
	// servedLater: the served directory did not exist at start-up; the
	// first successful build must create it.
	servedLater bool
	filter      *watcher.Filter
	// outputs are what the build writes (outputs.go): ignored wherever
	// they are watched.
	outputs []string
	// buildOn matches the changes that need -build and a -run restart
	// (-build-on; "ignored" by it means matched); nil: every change does.
	buildOn *watcher.Filter
}

func newLayout(cfg *config, stdout io.Writer) (*layout, error) {
	l := &layout{}
	for _, dir := range cfg.dirs {
		abs, err := watcher.RootDir(dir)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", dir, err)
		}
		l.roots = append(l.roots, abs)
	}
	if cfg.proxy == nil {
		dir := cfg.serve
		if dir == "" {
			dir = l.roots[0]
		}
		abs, err := watcher.RootDir(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist) && cfg.build != "" && cfg.serve != "":
			// The build will create it (a fresh Hugo checkout): checked
			// after the first successful build.
			abs, _ = filepath.Abs(dir)
			l.servedLater = true
		case err != nil:
			return nil, fmt.Errorf("serve %s: %w", dir, err)
		}
		l.served = abs
	}
	if err := l.findOutputs(cfg); err != nil {
		return nil, err
	}
	// The default ignores (.git, node_modules, ...) apply below each
	// watched directory, not above it: a directory watched inside
	// node_modules (a linked package) is watched.
	l.filter = watcher.NewFilter(true)
	l.filter.SetIgnoreFiles(cfg.gitignore)
	if cfg.build == "" && l.served != "" {
		// Without -build, what is served is often output that git ignores,
		// written by a tool reloadd does not run (sass --watch, tsc -w):
		// its changes must still reload the page.
		l.filter.KeepVisible(l.served)
	}
	if len(cfg.buildOn) > 0 {
		l.buildOn = watcher.NewFilter(false)
	}
	own := ownOutputFiles(stdout)
	for _, r := range l.roots {
		if err := l.filter.Add(r, watcher.DefaultIgnores...); err != nil {
			return nil, err
		}
		if err := l.filter.Add(r, cfg.ignores...); err != nil {
			return nil, usagef("-ignore: %v", err)
		}
		if l.buildOn != nil {
			if err := l.buildOn.Add(r, cfg.buildOn...); err != nil {
				return nil, usagef("-build-on: %v", err)
			}
		}
		if err := l.filter.Add(r, wellKnownOutputs...); err != nil {
			return nil, err
		}
		for _, o := range l.outputs {
			if o != r && watcher.Within(r, o) {
				if err := l.ignore(r, o, false); err != nil {
					return nil, err
				}
			}
		}
		// reloadd's own log redirected into a watched tree would build
		// forever: every line it prints about a build is a change.
		for _, f := range own {
			if watcher.Within(r, f) {
				if err := l.ignore(r, f, false); err != nil {
					return nil, err
				}
			}
		}
	}
	return l, nil
}

// findOutputs gathers what the build writes: -output paths, the served
// directory (with -build and -serve: a build that writes into it must not
// trigger itself, Hugo issue 11275), and go build's binaries. A DIR that
// is an output is not watched at all (-serve public src public), unless
// it is the only one.
func (l *layout) findOutputs(cfg *config) error {
	for _, o := range cfg.outputs {
		abs, err := filepath.Abs(o)
		if err != nil {
			return usagef("-output %s: %v", o, err)
		}
		l.outputs = append(l.outputs, abs)
	}
	if cfg.build != "" && cfg.serve != "" {
		l.outputs = append(l.outputs, l.served)
	}
	if cfg.build != "" {
		cwd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("working directory: %w", err)
		}
		l.outputs = append(l.outputs, goBuildOutputs(cfg.build, cwd)...)
	}
	roots := slices.DeleteFunc(slices.Clone(l.roots), func(r string) bool {
		return slices.ContainsFunc(l.outputs, func(o string) bool { return watcher.Within(o, r) })
	})
	if len(roots) > 0 {
		l.roots = roots
	}
	return nil
}

// ignore adds path, below root, to the ignore rules, matched literally.
func (l *layout) ignore(root, path string, dir bool) error {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return err
	}
	pat := "/" + escapeGlob(filepath.ToSlash(rel))
	if dir {
		pat += "/"
	}
	return l.filter.Add(root, pat)
}

// ownOutputFiles returns the regular files that w (reloadd's stdout) and
// the process's stderr write to, resolved to their paths where the system
// says (Linux: /proc/self/fd).
func ownOutputFiles(w io.Writer) []string {
	var files []*os.File
	if f, ok := w.(*os.File); ok {
		files = append(files, f)
	}
	files = append(files, os.Stderr)
	var out []string
	for _, f := range files {
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
		if err != nil || !filepath.IsAbs(p) {
			continue
		}
		out = append(out, filepath.Clean(p))
	}
	return out
}

// daemon is reloadd running: every part of the pipeline, built whole by
// newDaemon, started by run, stopped by run in pipeline order.
//
//	watch ──events──► queue ──batches──► build loop ──► hub ──► browsers
//	                                     (runner, app)   ▲
//	srv ── routes: site (static or proxy), client, hub, status
//
// The build loop goroutine (pipeline.go) owns runner, app and the build
// ids; everything it announces goes out through announce.go. The other
// fields are set once by newDaemon and safe for concurrent use.
type daemon struct {
	cfg *config
	*layout
	out   *printer
	epoch string

	ln     net.Listener
	watch  *auto.Watcher
	agents *forward.Server // /_reloadd/agent: reloadd forward's agents (agent.go)
	hub    *hub.Hub
	site   http.Handler // *serve.Static or *serve.Proxy
	srv    *http.Server
	queue  *debounce.Queue

	runner *build.Runner
	app    *build.App // nil without -run; owned by the build loop
	// Where command output goes: the terminal, or JSON lines (stream.go).
	buildOut, appOut *stream

	// fatal ends run with an error the build loop found (the served
	// directory still missing after the first successful build).
	fatal chan error

	records buildRecords  // the last builds, for /_reloadd/status
	latency reloadLatency // browsers' timing reports (browser.go)
	saves   *saveLog      // where each save's time went (saves.go)

	// index knows the served directory by content, with -build (decide.go);
	// nil otherwise. Owned by the build loop.
	index *siteindex.Index
	// echoes tells a build's own outputs coming back as changes (echo.go).
	// Owned by the build loop.
	echoes echoes

	closers []io.Closer // what newDaemon opened, closed by close in reverse
}

// shutdownGrace is how long requests in flight get to finish on exit.
const shutdownGrace = 500 * time.Millisecond

// newDaemon builds every part of reloadd: it listens, starts watching and
// opens the site, but serves nothing and builds nothing until run.
func newDaemon(cfg *config, stdout io.Writer) (_ *daemon, err error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("working directory: %w", err)
	}
	l, err := newLayout(cfg, stdout)
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, layout: l, out: newPrinter(stdout, cfg.logFormat == "json", cwd), epoch: newEpoch(), fatal: make(chan error, 1)}
	defer func() {
		if err != nil {
			d.close()
		}
	}()

	if d.ln, err = listen(cfg.addr, d.outOfDescriptors); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, d.ln)

	if d.watch, err = auto.New(d.roots, d.watchOptions(cfg)); err != nil {
		return nil, err
	}
	d.closers = append(d.closers, d.watch)
	d.agents = d.newAgents()
	d.closers = append(d.closers, d.agents)

	d.hub = d.newHub()
	d.closers = append(d.closers, d.hub)
	d.saves = newSaveLog(d.out, d.pushSave)

	if d.served != "" && cfg.build != "" {
		d.index = siteindex.New(d.served)
	}
	if d.served != "" {
		st, err := serve.NewStatic(d.served, d.scriptTag)
		if err != nil {
			return nil, fmt.Errorf("serve %s: %w", d.served, err)
		}
		d.site = st
		d.closers = append(d.closers, st)
	} else {
		p, err := d.newProxy()
		if err != nil {
			return nil, err
		}
		d.site = p
		d.closers = append(d.closers, p)
	}
	d.srv = &http.Server{
		Handler:           d.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Browsers keep connections open after a page load; past this they
		// are closed, so idle tabs cannot hold the descriptors that builds
		// and watchers need (see listen.go for the cap).
		IdleTimeout: idleTimeout,
	}

	d.buildOut, d.appOut = d.out.stream("build"), d.out.stream("app")
	grace := cfg.grace
	if grace == 0 {
		grace = build.NoGrace // -grace 0: SIGKILL at once
	}
	d.runner = build.New(build.Options{
		Command: cfg.build,
		Output:  d.buildOut,
		Grace:   grace,
		Timeout: cfg.buildTimeout,
	})
	d.closers = append(d.closers, d.runner)
	if cfg.run != "" {
		opts := build.AppOptions{Command: cfg.run, Output: d.appOut, Grace: grace}
		if cfg.proxy != nil {
			// Something else listening on the app's port would answer the
			// readiness probe, and the browser would get its pages.
			opts.CheckAddr = proxyDialAddr(cfg.proxy)
		}
		d.app = build.NewApp(opts)
	}
	settle := cfg.debounce
	if settle == 0 {
		settle = debounce.Immediate
	}
	// The initial batch is the start-up build, after which -run starts.
	d.queue = debounce.New(d.watch.Events(), debounce.Options{
		Settle: settle, Fixed: cfg.debounceSet, Quiet: d.watch.Quiet,
		Policy: cfg.onBusy, Initial: cfg.build != "" || cfg.run != "",
	})
	return d, nil
}

// scriptTag is the client element injected into served pages.
func (d *daemon) scriptTag() []byte { return serve.ScriptTag(d.epoch, d.hub.Build()) }

// run prints the start-up lines, serves, builds until ctx is cancelled (or
// the server fails), then stops everything.
func (d *daemon) run(ctx context.Context) error {
	defer d.close()
	u := url.URL{Scheme: "http", Host: displayHost(d.ln.Addr().String(), d.cfg.addr), Path: "/"}
	d.out.event("listen", fmt.Sprintf("reloadd: serving %s at %s", d.what(), u.String()),
		map[string]any{"url": u.String(), "epoch": d.epoch})
	du := u
	du.Path = dashboardPath
	d.out.event("dashboard", "reloadd: dashboard at "+du.String(), map[string]any{"url": du.String()})
	for _, nu := range networkURLs(d.cfg.addr, d.ln.Addr().String()) {
		d.out.event("listen_network", "reloadd: on your network at "+nu, map[string]any{"url": nu})
	}
	d.warnIfExposed(d.ln.Addr().String())
	if d.cfg.run != "" && d.cfg.proxy == nil {
		d.out.event("hint", fmt.Sprintf("reloadd: -run without -proxy: serving %s as static files; to show the app's pages instead, add -proxy http://127.0.0.1:PORT (the port it listens on)", d.what()), nil)
	}
	d.out.event("watch", fmt.Sprintf("reloadd: watching %s (%s)", d.out.short(d.roots), count(d.watch.WatchedDirs(), "directory", "directories")),
		map[string]any{"dirs": d.roots, "watched_dirs": d.watch.WatchedDirs()})
	d.printMounts()

	// Serve only once the start-up lines are out: whoever reaches the
	// server (a browser, a test) finds them printed.
	srvErr := make(chan error, 1)
	go func() { srvErr <- d.srv.Serve(d.ln) }()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		d.buildLoop(ctx)
	}()
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range d.watch.Errors() {
			d.out.event("watch_error", "reloadd: "+err.Error(), map[string]any{"error": err.Error()})
		}
	}()

	var fatal error
	select {
	case <-ctx.Done():
	case err := <-srvErr:
		fatal = fmt.Errorf("http: %w", err)
	case fatal = <-d.fatal:
	}

	// Stop in pipeline order: no new events (agents first: their hints
	// feed the watcher), no new batches, the build loop (which cancels a
	// running build through ctx), the app, then the browsers and the
	// server.
	d.agents.Close()
	d.watch.Close()
	<-errsDone
	d.queue.Close()
	<-loopDone
	if d.app != nil {
		d.app.Close()
	}
	d.hub.Close()
	d.saves.close() // after the hub: no report comes any more
	// Let responses in flight finish briefly, then close the rest: browsers
	// keep speculative connections open that never send a request, and
	// Shutdown would wait 5 s for each of them.
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if d.srv.Shutdown(shutCtx) != nil {
		d.srv.Close()
	}
	return fatal
}

// close releases what newDaemon opened, newest first. Every part's Close is
// idempotent, so close may follow run's orderly stop.
func (d *daemon) close() {
	if d.queue != nil {
		d.queue.Close()
	}
	if d.app != nil {
		d.app.Close()
	}
	for i := len(d.closers) - 1; i >= 0; i-- {
		d.closers[i].Close()
	}
}

// unwrapPathError drops the *PathError wrapper, whose path the caller
// already prints.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func newEpoch() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// displayHost is the host:port to print: the configured host with the
// actual port (which differs when -addr asked for port 0).
func displayHost(actual, configured string) string {
	host, _, _ := net.SplitHostPort(configured)
	_, port, _ := net.SplitHostPort(actual)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// networkURLs lists the URLs other devices can use when reloadd listens on
// all interfaces (configured is the -addr value, actual the bound address):
// one per non-loopback address of this machine, IPv4 first.
func networkURLs(configured, actual string) []string {
	host, _, _ := net.SplitHostPort(configured)
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return nil
	}
	_, port, _ := net.SplitHostPort(actual)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var v4, v6 []string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() || ipn.IP.IsMulticast() {
			continue
		}
		u := url.URL{Scheme: "http", Host: net.JoinHostPort(ipn.IP.String(), port), Path: "/"}
		if ipn.IP.To4() != nil {
			v4 = append(v4, u.String())
		} else if host == "::" || host == "" {
			v6 = append(v6, u.String())
		}
	}
	return append(v4, v6...)
}

func (d *daemon) what() string {
	if d.served != "" {
		return d.out.short([]string{d.served})
	}
	return d.cfg.proxy.String()
}

// escapeGlob quotes the characters gitignore patterns treat specially, so
// a directory name is matched literally.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\!#`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
