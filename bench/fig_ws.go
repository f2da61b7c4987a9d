package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

const figBuildComplete = "write → `build_complete` (WebSocket client)"

// fig1: write → build_complete at a WebSocket client, per watch mode, on a
// normal directory.
func (s *suite) fig1(ctx context.Context) {
	cases := []struct {
		setup, label string
		args         []string
	}{
		{"`-watch native` (default 10 ms settle)", "native", []string{"-watch", "native"}},
		{"`-watch native -debounce 0`", "native, -debounce 0", []string{"-watch", "native", "-debounce", "0"}},
		{"`-watch poll` (default `-poll-interval 100ms`)", "poll", []string{"-watch", "poll"}},
		{"`-watch hybrid`", "hybrid", []string{"-watch", "hybrid"}},
	}
	for _, c := range cases {
		row := s.rep.addLatency(&latencyRow{fig: 1, figure: figBuildComplete, setup: c.setup, panel: panelWS, label: c.label})
		s.progress("figure 1: %s", c.label)
		site, err := newSite()
		if err != nil {
			s.fail(1, err, row)
			continue
		}
		res, err := s.wsLatency(ctx, wsRun{
			args:   append(c.args, site),
			file:   filepath.Join(site, "index.html"),
			trials: s.cfg.trials, warmup: s.cfg.warmup, limit: trialLimit,
		})
		os.RemoveAll(site)
		row.samples, row.missed = res.samples, res.missed
		row.note = res.status.modeNote()
		if err != nil {
			s.fail(1, err, row)
		}
	}
}

// fig3: a deaf mount. bindfs mounts a small site; reloadd watches the mount
// point; the writes go to the backing directory, so no inotify event ever
// reaches the mount (Docker Desktop, VM shared folders and NFS look like
// this to a watcher).
func (s *suite) fig3(ctx context.Context) {
	// deafLimit: FUSE caches attributes for ~1 s (docs/TESTING.md), so a poller
	// needs a little over a second plus its interval; 10 s leaves room for a
	// loaded machine. A write still unseen after it counts as missed.
	deafLimit, maxMisses := trialLimit, 3
	if s.cfg.quick {
		deafLimit, maxMisses = 4*time.Second, 2
	}
	for _, mode := range []string{"auto", "poll"} {
		row := s.rep.addLatency(&latencyRow{fig: 3, figure: "deaf mount (bindfs): write to the backing dir → `build_complete`",
			setup: fmt.Sprintf("`-watch %s`", mode), panel: panelWS, label: "deaf mount, " + mode})
		s.progress("figure 3: deaf mount, -watch %s", mode)
		if err := s.deaf(ctx, mode, row, deafLimit, maxMisses); err != nil {
			s.fail(3, err, row)
		}
	}
	row := s.rep.addLatency(&latencyRow{fig: 3, figure: "deaf mount (bindfs): write to the backing dir → page reloaded (Chromium, page clock)",
		setup: "`-watch auto`", panel: panelBrowser, label: "deaf mount, auto → page loaded"})
	s.progress("figure 3: deaf mount, -watch auto, Chromium")
	if err := s.deafBrowser(ctx, row); err != nil {
		s.fail(3, err, row)
	}
}

// deafBrowser is figure 3 in a real browser: reloadd (auto mode, no flag
// about the mount) serves a bindfs mount, and index.html is rewritten on
// the backing side; each trial waits for the page to show the new content.
func (s *suite) deafBrowser(ctx context.Context, row *latencyRow) error {
	src, mnt, cleanup, err := deafSite()
	if err != nil {
		return err
	}
	defer cleanup()
	br, err := s.browser()
	if err != nil {
		return err
	}
	d, err := startDaemon(ctx, s.bin, "-watch", "auto", mnt)
	if err != nil {
		return err
	}
	defer d.stop()
	t, err := br.newTab()
	if err != nil {
		return err
	}
	defer t.close()
	res, err := s.htmlTrials(ctx, d, t, src) // written behind the mount
	row.samples, row.missed = res.page, res.missed
	return err
}

// deafSite writes a small site into a temporary directory and mounts it
// with bindfs: src is the backing directory (writes there produce no
// inotify event on mnt), mnt the mount point. cleanup unmounts and removes.
func deafSite() (src, mnt string, cleanup func(), err error) {
	base, err := tempDir("reloadd-bench-deaf-")
	if err != nil {
		return "", "", nil, err
	}
	src, mnt = filepath.Join(base, "src"), filepath.Join(base, "mnt")
	fail := func(err error) (string, string, func(), error) {
		os.RemoveAll(base)
		return "", "", nil, err
	}
	for _, d := range []string{src, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fail(err)
		}
	}
	if err := writeSite(src); err != nil {
		return fail(err)
	}
	m, err := mountBindfs(src, mnt)
	if err != nil {
		return fail(err)
	}
	return src, mnt, func() { m.unmount(); os.RemoveAll(base) }, nil
}

func (s *suite) deaf(ctx context.Context, mode string, row *latencyRow, limit time.Duration, maxMisses int) error {
	src, mnt, cleanup, err := deafSite()
	if err != nil {
		return err
	}
	defer cleanup()
	res, err := s.wsLatency(ctx, wsRun{
		args:   []string{"-watch", mode, mnt},
		file:   filepath.Join(src, "index.html"),
		trials: s.cfg.trials, warmup: s.cfg.warmup,
		limit:     limit,
		maxMisses: maxMisses,
	})
	row.samples, row.missed = res.samples, res.missed
	row.note = res.status.modeNote()
	if len(res.samples) == 0 && res.missed > 0 {
		row.na = fmt.Sprintf("not detected: %d of %d writes unseen within %.0f s each", res.missed, res.tried, limit.Seconds())
	}
	return err
}
