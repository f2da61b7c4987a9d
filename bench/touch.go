package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// touchConfig is the -url/-touch mode: write → page reloaded against any
// running dev server.
type touchConfig struct {
	url, file string
	appendFmt string        // the line appended, with %d for the trial; "" picks one by extension
	label     string        // names the server in the table
	gap       time.Duration // minimum pause after a reload; a random extra up to the same again
	limit     time.Duration // per trial
}

// touchLine is the harmless line appended to file in trial i: a comment in
// the file's language, so the page's output does not change in a way that
// matters (the dev server still sees a change and reloads).
func touchLine(file, format string, i int) string {
	if format != "" {
		if strings.Contains(format, "%d") {
			return fmt.Sprintf(format, i)
		}
		return format
	}
	switch strings.ToLower(filepath.Ext(file)) {
	case ".html", ".htm", ".xhtml", ".xml", ".svg", ".md", ".markdown", ".vue", ".svelte", ".astro", ".tmpl", ".gohtml", ".hbs", ".njk", ".liquid", ".ejs":
		return fmt.Sprintf("<!-- reloadd-bench %d -->", i)
	case ".css", ".scss", ".less", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".go", ".c", ".h", ".java", ".rs", ".kt", ".swift", ".php", ".dart":
		return fmt.Sprintf("/* reloadd-bench %d */", i)
	case ".py", ".rb", ".sh", ".yaml", ".yml", ".toml", ".conf", ".ini", ".r", ".pl", ".ex", ".exs":
		return fmt.Sprintf("# reloadd-bench %d", i)
	}
	return fmt.Sprintf("reloadd-bench %d", i)
}

// touched is orig with line appended on a line of its own.
func touched(orig []byte, line string) []byte {
	out := append([]byte{}, orig...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(append(out, line...), '\n')
}

// runTouch opens tc.url in headless Chromium and, per trial, appends a line to
// tc.file and measures until the page has reloaded (a load event of a new
// document). The file is restored at the end, also on Ctrl-C.
func runTouch(ctx context.Context, cfg config, tc touchConfig) (*report, error) {
	rep := newReport(cfg)
	fi, err := os.Stat(tc.file)
	if err != nil {
		return nil, fmt.Errorf("-touch: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("-touch %s: not a regular file", tc.file)
	}
	orig, err := os.ReadFile(tc.file)
	if err != nil {
		return nil, fmt.Errorf("-touch: %w", err)
	}
	label := tc.label
	if label == "" {
		label = tc.url
	}
	setup := fmt.Sprintf("%s, `-touch %s`", label, filepath.Base(tc.file))
	page := rep.addLatency(&latencyRow{fig: 2, figure: figReload, setup: setup + "; page clock: `timeOrigin + loadEventEnd`",
		panel: panelBrowser, label: label + ", page clock"})
	harness := rep.addLatency(&latencyRow{fig: 2, figure: figReload, setup: setup + "; harness clock: `Page.loadEventFired` arrives",
		panel: panelBrowser, label: label + ", harness clock"})

	br, err := startBrowser()
	if err != nil {
		return nil, err
	}
	defer br.close()
	t, err := br.newTab()
	if err != nil {
		return nil, err
	}
	defer t.close()
	if err := t.navigate(tc.url, tc.limit); err != nil {
		return nil, err
	}

	write := func(data []byte) (time.Time, error) {
		t0 := time.Now()
		return t0, os.WriteFile(tc.file, data, fi.Mode().Perm())
	}
	defer func() {
		// Restore, and let the server's reload for it pass before the
		// browser goes away.
		t.drain()
		if t0, err := write(orig); err == nil {
			t.awaitReload(t0, min(tc.limit, 10*time.Second), nil)
		}
	}()
	for i := range cfg.warmup + cfg.trials {
		if err := sleepCtx(ctx, gap(tc.gap, tc.gap)); err != nil {
			return rep, err
		}
		t.drain()
		t0, err := write(touched(orig, touchLine(tc.file, tc.appendFmt, i)))
		if err != nil {
			return rep, err
		}
		s, err := t.awaitReload(t0, tc.limit, nil)
		if errors.Is(err, errNoReload) {
			page.missed++
			harness.missed++
			if page.missed >= 3 && len(page.samples) == 0 {
				return rep, fmt.Errorf("%s did not reload within %v after 3 writes to %s (does a change to this file make it reload the page? a stylesheet swap or HMR update is not a reload)", tc.url, tc.limit, tc.file)
			}
			continue
		}
		if err != nil {
			return rep, fmt.Errorf("trial %d: %w", i, err)
		}
		if i >= cfg.warmup {
			page.samples = append(page.samples, s.page)
			harness.samples = append(harness.samples, s.harness)
		}
	}
	rep.finished = time.Now()
	return rep, nil
}
