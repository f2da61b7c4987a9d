package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reloadd/reloadd/build"
	"github.com/reloadd/reloadd/debounce"
	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/serve"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/auto"
)

// run is reloadd without the process around it: it returns nil after ctx is
// cancelled and everything has stopped, a *usageError for a bad command
// line, or another error for a fatal problem.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
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

// daemon wires the pipeline: watcher → debounce queue → verify → build →
// hub, with the HTTP server in front of the hub and the site.
type daemon struct {
	cfg   *config
	out   *printer
	epoch string
	roots []string // absolute watched directories
	site  string   // absolute served directory; "" with -proxy

	filter *watcher.Filter
	hub    *hub.Hub
	runner *build.Runner
	app    *build.App // nil without -run; owned by the build loop
	// Where command output goes: the terminal, or JSON lines (stream.go).
	buildOut, appOut *stream

	mu     sync.Mutex
	builds []buildRecord // the last few builds, newest last; never nil
	watch  *auto.Watcher // set by newBackend

	latency reloadLatency // browsers' timing reports (browser.go)
}

type buildRecord struct {
	ID         int64   `json:"id"`
	OK         bool    `json:"ok"`
	Paths      int     `json:"paths"`
	DurationMS float64 `json:"duration_ms"`
	Clients    int     `json:"clients"`
	At         string  `json:"at"`
}

const keepBuilds = 20

// shutdownGrace is how long requests in flight get to finish on exit.
const shutdownGrace = 500 * time.Millisecond

func newDaemon(cfg *config, stdout io.Writer) (*daemon, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("working directory: %w", err)
	}
	d := &daemon{cfg: cfg, out: newPrinter(stdout, cfg.logFormat == "json", cwd), epoch: newEpoch(), builds: []buildRecord{}}
	for _, dir := range cfg.dirs {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", dir, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("watch %s: %w", dir, unwrapPathError(err))
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("watch %s: not a directory", dir)
		}
		d.roots = append(d.roots, abs)
	}
	if cfg.proxy == nil {
		site := cfg.serve
		if site == "" {
			site = d.roots[0]
		}
		abs, err := filepath.Abs(site)
		if err != nil {
			return nil, fmt.Errorf("serve %s: %w", site, err)
		}
		if fi, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("serve %s: %w", site, unwrapPathError(err))
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("serve %s: not a directory", site)
		}
		d.site = abs
	}
	d.filter = watcher.DefaultFilter()
	d.filter.SetIgnoreFiles(cfg.gitignore)
	if cfg.build == "" && d.site != "" {
		// Without -build, what is served is often output that git ignores,
		// written by a tool reloadd does not run (sass --watch, tsc -w):
		// its changes must still reload the page.
		d.filter.KeepVisible(d.site)
	}
	for _, r := range d.roots {
		if err := d.filter.Add(r, cfg.ignores...); err != nil {
			return nil, usagef("-ignore: %v", err)
		}
		// A build that writes into the served directory must not trigger
		// itself (Hugo issue 11275).
		if cfg.build != "" && cfg.serve != "" && d.site != r && within(r, d.site) {
			rel, _ := filepath.Rel(r, d.site)
			if err := d.filter.Add(r, "/"+escapeGlob(filepath.ToSlash(rel))+"/"); err != nil {
				return nil, err
			}
		}
	}
	return d, nil
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

// within reports whether path is dir or lies below it.
func within(dir, path string) bool {
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}

func (d *daemon) run(ctx context.Context) error {
	cfg := d.cfg
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.addr, unwrapOpError(err))
	}
	defer ln.Close()

	w, err := d.newBackend()
	if err != nil {
		return err
	}
	defer w.Close()

	d.hub = d.newHub()
	defer d.hub.Close()

	var site http.Handler
	if d.site != "" {
		st, err := serve.NewStatic(d.site, func() []byte { return serve.ScriptTag(d.epoch, d.hub.Build()) })
		if err != nil {
			return fmt.Errorf("serve %s: %w", d.site, err)
		}
		defer st.Close()
		site = st
	} else {
		p, err := d.newProxy()
		if err != nil {
			return err
		}
		defer p.Close()
		site = p
	}
	srv := &http.Server{
		Handler:           d.handler(site),
		ReadHeaderTimeout: 10 * time.Second,
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
	if cfg.run != "" {
		d.app = build.NewApp(build.AppOptions{Command: cfg.run, Output: d.appOut, Grace: grace})
		defer d.app.Close() // idempotent; also closed below, in order
	}
	settle := cfg.debounce
	if settle == 0 {
		settle = debounce.Immediate
	}
	// The initial batch is the start-up build, after which -run starts.
	q := debounce.New(w.Events(), debounce.Options{Settle: settle, Fixed: cfg.debounceSet, Quiet: w.Quiet, Policy: cfg.onBusy, Initial: cfg.build != "" || cfg.run != ""})
	defer q.Close()

	u := url.URL{Scheme: "http", Host: displayHost(ln.Addr().String(), cfg.addr), Path: "/"}
	d.out.event("listen", fmt.Sprintf("reloadd: serving %s at %s", d.what(), u.String()),
		map[string]any{"url": u.String(), "epoch": d.epoch})
	d.warnIfExposed(ln.Addr().String())
	d.out.event("watch", fmt.Sprintf("reloadd: watching %s (%d directories)", d.out.short(d.roots), w.WatchedDirs()),
		map[string]any{"dirs": d.roots, "watched_dirs": w.WatchedDirs()})
	d.printMounts()
	// Serve only once the start-up lines are out: whoever reaches the
	// server (a browser, a test) finds them printed.
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()

	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		d.buildLoop(ctx, q, w)
	}()
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range w.Errors() {
			d.out.event("watch_error", "reloadd: "+err.Error(), map[string]any{"error": err.Error()})
		}
	}()

	var fatal error
	select {
	case <-ctx.Done():
	case err := <-srvErr:
		fatal = fmt.Errorf("http: %w", err)
	}

	// Stop in pipeline order: no new events, no new batches, the build loop
	// (which cancels a running build through ctx), then the browsers.
	w.Close()
	<-errsDone
	q.Close()
	<-loopDone
	if d.app != nil {
		d.app.Close()
	}
	d.hub.Close()
	// Let responses in flight finish briefly, then close the rest: browsers
	// keep speculative connections open that never send a request, and
	// Shutdown would wait 5 s for each of them.
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if srv.Shutdown(shutCtx) != nil {
		srv.Close()
	}
	return fatal
}

func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return unwrapSyscall(oe.Err)
	}
	return err
}

func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
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

func (d *daemon) what() string {
	if d.site != "" {
		return d.out.short([]string{d.site})
	}
	return d.cfg.proxy.String()
}

// buildLoop consumes batches until the queue closes. It owns the -run app:
// it restarts it after successful builds and reports its crashes.
func (d *daemon) buildLoop(ctx context.Context, q *debounce.Queue, w watcher.Watcher) {
	verifier, _ := w.(watcher.Verifier)
	var id int64
	for {
		var b debounce.Batch
		select {
		case <-d.appExits():
			d.appExited()
			continue
		case batch, ok := <-q.Batches():
			if !ok {
				return
			}
			b = batch
		}
		if ctx.Err() != nil {
			q.Done() // shutting down: nothing more is built
			continue
		}
		events := b.Events
		if !b.Initial && verifier != nil {
			events = verifier.Verify(events)
		}
		if !b.Initial && len(events) == 0 {
			q.Done()
			continue
		}
		id++
		if d.build(ctx, id, b, events) || ctx.Err() != nil {
			q.Done()
		} else {
			q.Requeue() // cancelled by newer changes: its changes go into the next build
		}
	}
}

// changedAt is when the first change of a build was first seen: the
// earliest time among the verified events (a batch's events that Verify
// dropped — duplicates, temporary files — do not count), else the batch's.
func changedAt(b debounce.Batch, events []watcher.Event) time.Time {
	var first time.Time
	for _, ev := range events {
		if !ev.Time.IsZero() && (first.IsZero() || ev.Time.Before(first)) {
			first = ev.Time
		}
	}
	if first.IsZero() {
		return b.First
	}
	return first
}

// appExits fires when the -run app ends by itself; nil without one.
func (d *daemon) appExits() <-chan struct{} {
	if d.app == nil {
		return nil
	}
	return d.app.Exited()
}

// build runs one build, restarts the app after a successful one, and
// announces the outcome. It returns false when the build was cancelled
// (a restart, or shutdown) and so does not count.
func (d *daemon) build(ctx context.Context, id int64, b debounce.Batch, events []watcher.Event) bool {
	paths := make([]string, len(events))
	for i, ev := range events {
		paths[i] = ev.Path
	}
	d.hub.Broadcast(hub.BuildStart{Type: hub.TypeBuildStart, Build: id, Paths: paths})

	bctx, cancel := context.WithCancel(b.Context())
	stop := context.AfterFunc(ctx, cancel)
	defer cancel()
	defer stop()
	res := d.runner.Build(bctx, paths)
	d.buildOut.flush()
	output := res.Output
	if res.Err != nil && !errors.Is(res.Err, build.ErrCancelled) {
		output = note(res.Err.Error(), output) // say why on the overlay too
	}
	var app appOutcome
	if res.OK && d.app != nil {
		app = d.restartApp(bctx)
		switch {
		case app.cancelled:
			res.OK, res.Err = false, build.ErrCancelled
		case app.failed:
			res.OK, res.ExitCode, res.Err, output = false, app.exitCode, errors.New(app.reason), app.output
		}
	}

	rec := buildRecord{ID: id, OK: res.OK, Paths: len(paths), DurationMS: float64(res.Duration.Microseconds()) / 1000, At: time.Now().UTC().Format(time.RFC3339Nano)}
	what := "start-up build"
	if !b.Initial {
		what = d.out.short(paths)
	}
	fields := map[string]any{"build": id, "paths": paths, "duration_ms": rec.DurationMS}
	switch {
	case res.OK:
		urls, cssOnly := d.siteURLs(paths)
		d.hub.SetBuild(id)
		n, _ := d.hub.Broadcast(hub.BuildComplete{
			Type: hub.TypeBuildComplete, Build: id, Paths: paths, URLs: urls,
			CSSOnly: cssOnly, ChangedAt: changedAt(b, events).UnixMilli(),
		})
		rec.Clients = n
		fields["clients"] = n
		took := ms(res.Duration)
		if app.ready > 0 {
			took += ", app ready in " + ms(app.ready)
			fields["app_ready_ms"] = float64(app.ready.Microseconds()) / 1000
		}
		d.out.event("build_complete", fmt.Sprintf("build %d  %s  %s  %d %s", id, what, took, n, plural(n, "client")), fields)
	case errors.Is(res.Err, build.ErrCancelled):
		d.out.event("build_cancelled", fmt.Sprintf("build %d  %s  cancelled", id, what), fields)
		return false
	default:
		reason := fmt.Sprintf("exit %d", res.ExitCode)
		if res.Err != nil {
			reason = res.Err.Error()
		}
		n, _ := d.hub.Broadcast(hub.BuildFailed{Type: hub.TypeBuildFailed, Build: id, ExitCode: res.ExitCode, Output: output})
		rec.Clients = n
		fields["exit_code"] = res.ExitCode
		fields["error"] = reason
		d.out.event("build_failed", fmt.Sprintf("build %d  %s  FAILED (%s) after %s", id, what, reason, ms(res.Duration)), fields)
	}
	d.mu.Lock()
	d.builds = append(d.builds, rec)
	if len(d.builds) > keepBuilds {
		d.builds = slices.Delete(d.builds, 0, len(d.builds)-keepBuilds)
	}
	d.mu.Unlock()
	return true
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// siteURLs maps changed paths under the served directory to their URL paths,
// and reports whether every changed path is a stylesheet there.
func (d *daemon) siteURLs(paths []string) (urls []string, cssOnly bool) {
	urls = []string{}
	if d.site == "" {
		return urls, false
	}
	cssOnly = len(paths) > 0
	for _, p := range paths {
		if !within(d.site, p) || p == d.site {
			cssOnly = false
			continue
		}
		rel, err := filepath.Rel(d.site, p)
		if err != nil {
			cssOnly = false
			continue
		}
		u := (&url.URL{Path: "/" + filepath.ToSlash(rel)}).EscapedPath()
		urls = append(urls, u)
		if !strings.EqualFold(filepath.Ext(p), ".css") {
			cssOnly = false
		}
	}
	return urls, cssOnly
}

// status is the JSON served at /_reloadd/status.
func (d *daemon) status() any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return map[string]any{
		"epoch":          d.epoch,
		"build":          d.hub.Build(),
		"clients":        d.hub.Clients(),
		"mounts":         d.watch.Mounts(),
		"builds":         slices.Clone(d.builds),
		"reload_latency": d.latency.snapshot(),
	}
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
