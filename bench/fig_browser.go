package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	figReload = "write → page reloaded (Chromium)"
	figCSS    = "write → new computed style, no reload (Chromium)"
)

// fig2: write → page reloaded in headless Chromium (HTML change), and write →
// new computed style (CSS-only change: reloadd tells the client to swap the
// stylesheet in place).
func (s *suite) fig2(ctx context.Context) {
	page := s.rep.addLatency(&latencyRow{fig: 2, figure: figReload, setup: "HTML change; page clock: `timeOrigin + loadEventEnd`",
		panel: panelBrowser, label: "HTML → page loaded"})
	harness := s.rep.addLatency(&latencyRow{fig: 2, figure: figReload, setup: "HTML change; harness clock: `Page.loadEventFired` arrives"})
	self := s.rep.addLatency(&latencyRow{fig: 2, figure: figReload, setup: "HTML change; reloadd's own report (`reloaded`: first seen → load)"})
	cssPage := s.rep.addLatency(&latencyRow{fig: 2, figure: figCSS, setup: "CSS-only change; page clock",
		panel: panelBrowser, label: "CSS → new style (no reload)"})
	cssHarness := s.rep.addLatency(&latencyRow{fig: 2, figure: figCSS, setup: "CSS-only change; harness clock"})
	rows := []*latencyRow{page, harness, self, cssPage, cssHarness}

	s.progress("figure 2: Chromium, HTML and CSS changes")
	br, err := s.browser()
	if err != nil {
		s.fail(2, err, rows...)
		return
	}
	site, err := newSite()
	if err != nil {
		s.fail(2, err, rows...)
		return
	}
	defer os.RemoveAll(site)
	d, err := startDaemon(ctx, s.bin, "-watch", "native", site)
	if err != nil {
		s.fail(2, err, rows...)
		return
	}
	defer d.stop()
	t, err := br.newTab()
	if err != nil {
		s.fail(2, err, rows...)
		return
	}
	defer t.close()

	res, err := s.htmlTrials(ctx, d, t, site)
	page.samples, harness.samples, self.samples = res.page, res.harness, res.self
	page.missed, harness.missed = res.missed, res.missed
	self.note = "from `changed_at`, when reloadd first saw the change (whole ms): leaves out only write → event"
	if err != nil {
		s.fail(2, err, page, harness, self)
	}
	css, err := s.cssTrials(ctx, d, t, site)
	cssPage.samples, cssHarness.samples = css.page, css.harness
	cssPage.missed, cssHarness.missed = css.missed, css.missed
	if css.reloads > 0 {
		cssPage.note = fmt.Sprintf("%d trials reloaded the page instead", css.reloads)
	}
	if err != nil {
		s.fail(2, err, cssPage, cssHarness)
	}
}

// htmlResult holds the three clocks' view of the same reloads.
type htmlResult struct {
	page, harness, self []time.Duration
	missed              int
}

// connectedJS is true once the reloadd client in the page has a socket.
const connectedJS = `!!(window.__reloadd && window.__reloadd.connected)`

// htmlTrials opens the site in t and, per trial, rewrites index.html and
// measures until the new document has loaded.
func (s *suite) htmlTrials(ctx context.Context, d *daemon, t *tab, site string) (htmlResult, error) {
	var res htmlResult
	if err := t.navigate(d.url("/"), reloadLimit); err != nil {
		return res, err
	}
	if err := t.waitJS(connectedJS, reloadLimit); err != nil {
		return res, err
	}
	index := filepath.Join(site, "index.html")
	selfReports := true // false once a reload brought no `reloaded` event
	for i := range s.cfg.warmup + s.cfg.trials {
		if err := sleepCtx(ctx, gap(browserGapMin, browserGapSpan)); err != nil {
			return res, err
		}
		gen := 1000 + i
		mark := d.log.mark()
		t.drain()
		t0, err := writeFile(index, indexHTML(gen))
		if err != nil {
			return res, err
		}
		sample, err := t.awaitReload(t0, reloadLimit, func() (bool, error) {
			// The document that just loaded shows what was written; an
			// evaluation that meets yet another navigation is retried.
			var v string
			var err error
			for range 50 {
				if v, err = eval[string](t.ctx, `(document.getElementById("gen") || {}).textContent || ""`); err == nil {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			return err == nil && v == strconv.Itoa(gen), nil
		})
		if errors.Is(err, errNoReload) {
			res.missed++
			if err := t.navigate(d.url("/"), reloadLimit); err != nil {
				return res, err
			}
		} else if err != nil {
			return res, fmt.Errorf("trial %d: %w\n%s", i, err, d.log.tail())
		}
		// The next write must find a connected client.
		if err := t.waitJS(connectedJS, reloadLimit); err != nil {
			return res, err
		}
		if err != nil || i < s.cfg.warmup {
			continue
		}
		res.page = append(res.page, sample.page)
		res.harness = append(res.harness, sample.harness)
		if selfReports {
			if ms, ok := reloadedReport(ctx, d, mark); ok {
				res.self = append(res.self, msDuration(ms))
			} else {
				selfReports = false
			}
		}
	}
	return res, nil
}

// reloadedReport waits briefly for the client's `reloaded` report (logged by
// reloadd with -log json as event "reloaded", field load_ms) after mark.
func reloadedReport(ctx context.Context, d *daemon, mark int) (float64, bool) {
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	for {
		ev, next, err := d.log.waitEvent(wctx, mark, "reloaded")
		if err != nil {
			return 0, false
		}
		mark = next
		if ms, ok := ev["load_ms"].(float64); ok && ms > 0 && ev["css_swap"] != true {
			return ms, true
		}
	}
}

// cssResult is the CSS-only series.
type cssResult struct {
	page, harness []time.Duration
	missed        int
	reloads       int   // trials where the page reloaded instead of swapping
	trial         []int // the trial each sample came from
}

// armCSSJS installs, before the write, a promise that resolves with the
// page-clock time (Unix ms) at which #box first has the wanted computed
// width. It checks on every stylesheet load (a capturing listener sees the
// new <link>'s load before the client's own handler) and on every frame.
const armCSSJS = `(() => {
  const want = %q, box = document.getElementById("box");
  window.__benchCSS = new Promise(resolve => {
    let done = false;
    const check = () => {
      if (!done && getComputedStyle(box).width === want) {
        done = true;
        resolve(performance.timeOrigin + performance.now());
      }
    };
    document.addEventListener("load", check, true);
    const frame = () => { check(); if (!done) requestAnimationFrame(frame); };
    requestAnimationFrame(frame);
  });
  return true;
})()`

// cssTrials rewrites site.css per trial and measures until the page's
// computed style shows it, checking that the page did not reload.
func (s *suite) cssTrials(ctx context.Context, d *daemon, t *tab, site string) (cssResult, error) {
	css := filepath.Join(site, "site.css")
	return s.widthTrials(ctx, t, func(i int) (int, func() (time.Time, error)) {
		width := 101 + i%400
		return width, func() (time.Time, error) { return writeFile(css, siteCSS(width)) }
	})
}

// widthTrials runs the stylesheet trials: step(i) returns the width #box
// is to get and the write that changes a stylesheet to give it (returning
// when it started); each trial measures until the page's computed style
// shows it, checking that the page did not reload.
func (s *suite) widthTrials(ctx context.Context, t *tab, step func(i int) (int, func() (time.Time, error))) (cssResult, error) {
	var res cssResult
	doc := strconv.FormatUint(rand.Uint64(), 36)
	markDoc := func() error {
		if err := t.waitJS(connectedJS, reloadLimit); err != nil {
			return err
		}
		_, err := eval[bool](t.ctx, fmt.Sprintf(`(window.__benchDoc = %q, true)`, doc))
		return err
	}
	if err := markDoc(); err != nil {
		return res, err
	}
	for i := range s.cfg.warmup + s.cfg.trials {
		if err := sleepCtx(ctx, gap(browserGapMin, browserGapSpan)); err != nil {
			return res, err
		}
		width, write := step(i)
		if _, err := eval[bool](t.ctx, fmt.Sprintf(armCSSJS, fmt.Sprintf("%dpx", width))); err != nil {
			return res, fmt.Errorf("arm: %w", err)
		}
		t0, err := write()
		if err != nil {
			return res, err
		}
		wctx, cancel := context.WithTimeout(t.ctx, reloadLimit)
		at, err := chromedp.Run(wctx, chromedp.Evaluate[float64](`window.__benchCSS`, chromedp.EvalAwaitPromise))
		done := time.Now()
		cancel()
		same, _ := eval[bool](t.ctx, fmt.Sprintf(`window.__benchDoc === %q`, doc))
		switch {
		case !same:
			// The page reloaded (the promise died with its document).
			res.reloads++
			if err := markDoc(); err != nil {
				return res, err
			}
			continue
		case err != nil && wctx.Err() != nil:
			res.missed++
			continue
		case err != nil:
			return res, fmt.Errorf("trial %d: %w", i, err)
		}
		if i >= s.cfg.warmup {
			res.page = append(res.page, msDuration(at-unixMS(t0)))
			res.harness = append(res.harness, done.Sub(t0))
			res.trial = append(res.trial, i)
		}
	}
	return res, nil
}

// fig6: the build queue. For -build scripts that take ~0, 100 ms and 1 s:
// save → page loaded, and the number of builds a burst of saves during a
// build causes (docs/DESIGN.md: exactly one more).
func (s *suite) fig6(ctx context.Context) {
	scripts := []struct {
		cmd string
		dur time.Duration
	}{
		{"true", 0},
		{"sleep 0.1", 100 * time.Millisecond},
		{"sleep 1", time.Second},
	}
	nbursts := 10
	if s.cfg.quick {
		scripts = scripts[:2]
		nbursts = 2
	}
	for _, sc := range scripts {
		row := s.rep.addLatency(&latencyRow{fig: 6, figure: "build queue: save → page loaded (Chromium, page clock)",
			setup: fmt.Sprintf("`-build '%s'`", sc.cmd), panel: panelBrowser, label: "-build '" + sc.cmd + "'"})
		brow := &burstRow{script: sc.cmd, saves: burstSaves}
		s.rep.bursts = append(s.rep.bursts, brow)
		s.progress("figure 6: -build '%s'", sc.cmd)
		if err := s.buildQueue(ctx, sc.cmd, sc.dur, nbursts, row, brow); err != nil {
			s.fail(6, err, row)
			if brow.na == "" {
				brow.na = naReason(err)
			}
		}
	}
}

func (s *suite) buildQueue(ctx context.Context, script string, dur time.Duration, nbursts int, row *latencyRow, brow *burstRow) error {
	site, err := newSite()
	if err != nil {
		return err
	}
	defer os.RemoveAll(site)
	d, err := startDaemon(ctx, s.bin, "-watch", "native", "-build", script, site)
	if err != nil {
		return err
	}
	defer d.stop()
	// The start-up build must be done before a page loads, or the page's
	// client would reload once more when it learns of it.
	if _, err := d.waitStatus("the start-up build", reloadLimit, func(st daemonStatus) bool { return st.Build >= 1 }); err != nil {
		return err
	}

	// Bursts first, with no browser attached: a WebSocket client counts the
	// builds.
	if err := s.bursts(ctx, d, site, dur, nbursts, brow); err != nil {
		brow.na = naReason(err)
		return err
	}

	br, err := s.browser()
	if err != nil {
		return err
	}
	t, err := br.newTab()
	if err != nil {
		return err
	}
	defer t.close()
	res, err := s.htmlTrials(ctx, d, t, site)
	row.samples, row.missed = res.page, res.missed
	if len(res.harness) > 0 {
		row.note = "harness clock p50 " + fmtMS(summarize(res.harness).p50) + " ms"
	}
	return err
}

// bursts makes nbursts bursts: one save starts a build; while it runs,
// burstSaves more saves; then it counts the builds until reloadd has been
// quiet for the script's duration plus a second.
func (s *suite) bursts(ctx context.Context, d *daemon, site string, dur time.Duration, nbursts int, brow *burstRow) error {
	c, _, err := dialWS(ctx, d.addr)
	if err != nil {
		return err
	}
	defer c.close()
	quiet := dur + time.Second
	for b := range nbursts {
		if err := sleepCtx(ctx, gap(gapMin, gapSpan)); err != nil {
			return err
		}
		c.drain()
		if _, err := writeFile(filepath.Join(site, "trigger.html"), fmt.Appendf(nil, "<p>%d %d</p>\n", b, rand.Int())); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, trialLimit)
		first, err := c.await(wctx, "build_start")
		cancel()
		if err != nil {
			return fmt.Errorf("burst %d: no build_start: %w", b, err)
		}
		want := map[string]bool{}
		for j := range burstSaves {
			p := filepath.Join(site, fmt.Sprintf("burst-%d.html", j))
			want[p] = true
			if _, err := writeFile(p, fmt.Appendf(nil, "<p>%d %d</p>\n", b, j)); err != nil {
				return err
			}
		}
		builds := map[int64]bool{first.Build: true}
		seen := map[string]bool{}
		timer := time.NewTimer(quiet)
	count:
		for {
			select {
			case m, ok := <-c.msgs:
				if !ok {
					timer.Stop()
					return fmt.Errorf("burst %d: connection closed\n%s", b, d.log.tail())
				}
				switch m.Type {
				case "build_start":
					builds[m.Build] = true
				case "build_complete", "build_failed":
					if m.Build > first.Build {
						for _, p := range m.Paths {
							seen[p] = true
						}
					}
				}
				timer.Reset(quiet)
			case <-timer.C:
				break count
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			}
		}
		brow.builds = append(brow.builds, len(builds))
		all := true
		for p := range want {
			all = all && seen[p]
		}
		if all {
			brow.allSeen++
		}
	}
	if dur == 0 {
		brow.note = "the build is shorter than the burst: saves may land after it"
	}
	return nil
}
