package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// config is one run of the suite.
type config struct {
	quick   bool
	trials  int          // measured trials per latency figure
	warmup  int          // unmeasured trials before them
	figures map[int]bool // which figures to run; nil means all
	bin     string       // a prebuilt reloadd; "" builds ./cmd/reloadd
	command string       // the command line, printed with every table
	readme  string       // bench/README.md to update; "" leaves it alone
	log     io.Writer    // progress lines
}

func (c config) want(fig int) bool { return c.figures == nil || c.figures[fig] }

// The sizes of the figures, full and -quick. Each constant's reason is in its
// comment; none of them is a timing assertion.
const (
	// gapMin and gapSpan: the random pause before each write (20–50 ms), so
	// that writes do not fall into a rhythm with any timer inside reloadd
	// (poll intervals, settle windows, GC pacing).
	gapMin  = 20 * time.Millisecond
	gapSpan = 30 * time.Millisecond
	// browserGapMin and browserGapSpan: the pause after a reloaded page's
	// client has reconnected (50–150 ms), so the page is idle when written.
	browserGapMin  = 50 * time.Millisecond
	browserGapSpan = 100 * time.Millisecond
	// trialLimit bounds one write → build_complete on a normal disk.
	trialLimit = 10 * time.Second
	// reloadLimit bounds one write → page reloaded, build included.
	reloadLimit = 20 * time.Second
	// coldLimit bounds detection of a cold file in a large polled tree,
	// where the poller may visit cold files only every few seconds.
	coldLimit = 60 * time.Second
	// burstSaves is the number of saves made while a build runs.
	burstSaves = 5
)

// suite runs the figures and collects the report.
type suite struct {
	cfg config
	bin string
	rep *report

	br    *browser // started on first use
	brErr error
}

// runSuite builds (or takes) the binary, runs the selected figures and
// returns the report. Figures that fail record the error in their rows and
// in rep.errs; the run goes on with the next one.
func runSuite(ctx context.Context, cfg config) (*report, error) {
	if cfg.trials < 1 || cfg.warmup < 0 {
		return nil, fmt.Errorf("need -trials ≥ 1 and -warmup ≥ 0 (got %d, %d)", cfg.trials, cfg.warmup)
	}
	s := &suite{cfg: cfg, rep: newReport(cfg)}
	if cfg.bin != "" {
		s.bin = cfg.bin
	} else {
		root, err := repoRoot()
		if err != nil {
			return nil, err
		}
		tmp, err := os.MkdirTemp("", "reloadd-bench-bin-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		s.progress("building ./cmd/reloadd")
		if s.bin, err = buildReloadd(root, tmp); err != nil {
			return nil, err
		}
	}
	defer func() {
		if s.br != nil {
			s.br.close()
		}
	}()
	figs := []struct {
		n   int
		run func(context.Context)
	}{
		{1, s.fig1}, {2, s.fig2}, {3, s.fig3}, {4, s.fig4}, {5, s.fig5}, {6, s.fig6}, {figForward, s.fig7}, {figWorkflows, s.fig8}, {figShare, s.fig9},
	}
	for _, f := range figs {
		if !cfg.want(f.n) {
			continue
		}
		if ctx.Err() != nil {
			return s.rep, ctx.Err()
		}
		f.run(ctx)
	}
	s.rep.finished = time.Now()
	return s.rep, ctx.Err()
}

func (s *suite) progress(format string, args ...any) {
	if s.cfg.log != nil {
		fmt.Fprintf(s.cfg.log, "bench: "+format+"\n", args...)
	}
}

// browser returns the shared Chromium, starting it on first use.
func (s *suite) browser() (*browser, error) {
	if s.br == nil && s.brErr == nil {
		s.progress("starting headless Chromium")
		s.br, s.brErr = startBrowser()
	}
	return s.br, s.brErr
}

// fail records err for the rows of a figure: a missing tool or feature makes
// them "n/a", anything else is an error the run reports at the end.
func (s *suite) fail(fig int, err error, rows ...*latencyRow) {
	why := naReason(err)
	switch {
	case errors.Is(err, errUnsupported):
	case errors.Is(err, errNoTool):
		s.rep.missing = append(s.rep.missing, fmt.Sprintf("figure %d: %v", fig, err))
	default:
		s.rep.errs = append(s.rep.errs, fmt.Errorf("figure %d: %w", fig, err))
	}
	for _, r := range rows {
		if r.na == "" {
			r.na = why
		}
	}
}

// naReason is the table text for a row that could not be measured.
func naReason(err error) string {
	switch {
	case errors.Is(err, errUnsupported):
		return "n/a (feature not available in this build)"
	case errors.Is(err, errNoTool):
		msg, _, _ := strings.Cut(err.Error(), ": "+errNoTool.Error())
		return "n/a (" + msg + ")"
	default:
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return "error: " + msg
	}
}

func gap(minimum, span time.Duration) time.Duration {
	return minimum + time.Duration(rand.Int64N(int64(span)))
}

// sleepCtx pauses for d (a pacing pause between trials, never a wait for
// something to happen) unless ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tempDir makes a directory for one figure, resolved through symlinks so
// that paths compare equal to the absolute paths reloadd reports.
func tempDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return dir, nil
}

// The site every figure serves: one page and one stylesheet.
func indexHTML(gen int) []byte {
	return fmt.Appendf(nil, `<!doctype html>
<html><head><meta charset="utf-8"><title>reloadd bench</title>
<link rel="stylesheet" href="/site.css"></head>
<body><h1 id="gen">%d</h1><div id="box">box</div></body></html>
`, gen)
}

func siteCSS(width int) []byte {
	return fmt.Appendf(nil, "#box { width: %dpx; height: 10px; background: #08c; }\n", width)
}

func writeSite(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "index.html"), indexHTML(0), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "site.css"), siteCSS(100), 0o644)
}

// newSite makes a temporary directory holding the site; the caller removes
// it.
func newSite() (string, error) {
	site, err := tempDir("reloadd-bench-site-")
	if err != nil {
		return "", err
	}
	if err := writeSite(site); err != nil {
		os.RemoveAll(site)
		return "", err
	}
	return site, nil
}

// wsRun describes one write → build_complete series.
type wsRun struct {
	args      []string // reloadd's flags and directories
	file      string   // the file written (maybe outside the watched path)
	trials    int
	warmup    int
	limit     time.Duration // per trial
	maxMisses int           // consecutive misses that end the series (0: never)
	prepare   func(d *daemon) error
}

// wsResult is what a series measured.
type wsResult struct {
	samples []time.Duration
	missed  int
	tried   int
	status  daemonStatus
}

// wsLatency starts reloadd with r.args, connects a WebSocket client and
// measures write → build_complete for each trial.
func (s *suite) wsLatency(ctx context.Context, r wsRun) (wsResult, error) {
	var res wsResult
	d, err := startDaemon(ctx, s.bin, r.args...)
	if err != nil {
		return res, err
	}
	defer d.stop()
	if r.prepare != nil {
		if err := r.prepare(d); err != nil {
			return res, err
		}
	}
	c, _, err := dialWS(ctx, d.addr)
	if err != nil {
		return res, err
	}
	defer c.close()
	if res.status, err = d.status(); err != nil {
		return res, err
	}
	misses := 0
	for i := range r.warmup + r.trials {
		if err := sleepCtx(ctx, gap(gapMin, gapSpan)); err != nil {
			return res, err
		}
		lat, err := c.writeAndAwait(ctx, r.file, fmt.Appendf(nil, "<h1>%d %d</h1>\n", i, rand.Int()), r.limit)
		res.tried++
		switch {
		case errors.Is(err, errMissed):
			res.missed++
			misses++
			if r.maxMisses > 0 && misses >= r.maxMisses {
				return res, nil
			}
			continue
		case err != nil:
			return res, fmt.Errorf("trial %d: %w\n%s", i, err, d.log.tail())
		}
		misses = 0
		if i >= r.warmup {
			res.samples = append(res.samples, lat)
		}
	}
	return res, nil
}
