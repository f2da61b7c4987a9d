package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// touchConfig is the -url/-touch mode: write → page reloaded against any
// running dev servers, one or several, measured interleaved.
type touchConfig struct {
	targets   []touchTarget // the servers, in the order the command line gives them
	appendFmt string        // the line appended, with %d for the trial; "" picks one by extension
	gap       time.Duration // minimum pause after a reload; a random extra up to the same again
	limit     time.Duration // per trial
}

// touchTarget is one dev server under measurement: the page it serves and
// the file whose change makes it reload that page.
type touchTarget struct {
	url, file string
	label     string // names the server in the table (the URL when no -label is given)
}

// repeated is a flag that may be given several times; each use adds a
// value, in order.
type repeated []string

// String is the values given so far, for flag's help text.
func (r *repeated) String() string {
	if r == nil {
		return ""
	}
	return strings.Join(*r, " ")
}

// Set adds one value; an empty one is refused, as the single flags refused
// it before (an empty -url meant none).
func (r *repeated) Set(s string) error {
	if s == "" {
		return errors.New("empty value")
	}
	*r = append(*r, s)
	return nil
}

// touchFlags are touch mode's repeated flags: the i-th -touch and -label go
// with the i-th -url.
type touchFlags struct {
	urls, files, labels repeated
}

// register defines -url, -touch and -label on fs.
func (tf *touchFlags) register(fs *flag.FlagSet) {
	fs.Var(&tf.urls, "url", "with -touch: measure write → page reloaded against the dev server at `URL` (repeat to measure several, interleaved)")
	fs.Var(&tf.files, "touch", "with -url: the `FILE` to append a harmless comment to (restored at the end); one per -url, in the same order")
	fs.Var(&tf.labels, "label", "with -url: the server's `NAME` in the table (default the URL); none, or one per -url in the same order")
}

// targets pairs the flags up: nil when touch mode was not asked for, a
// usage error when the counts do not match.
func (tf *touchFlags) targets() ([]touchTarget, error) {
	nu, nf, nl := len(tf.urls), len(tf.files), len(tf.labels)
	switch {
	case nu == 0 && nf == 0 && nl == 0:
		return nil, nil
	case nu == 0 || nf == 0:
		if nl > 0 && nu == 0 && nf == 0 {
			return nil, &usageError{"-label goes with -url and -touch"}
		}
		return nil, &usageError{"-url and -touch go together"}
	case nu != nf:
		return nil, &usageError{fmt.Sprintf("-url and -touch go together: got %d -url and %d -touch (the i-th -touch is the file of the i-th -url)", nu, nf)}
	case nl != 0 && nl != nu:
		return nil, &usageError{fmt.Sprintf("-label: got %d for %d -url (give none, or one per -url in the same order)", nl, nu)}
	}
	ts := make([]touchTarget, nu)
	for i := range ts {
		ts[i] = touchTarget{url: tf.urls[i], file: tf.files[i], label: tf.urls[i]}
		if nl > 0 {
			ts[i].label = tf.labels[i]
		}
	}
	return ts, nil
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

// touchServer is one target during a run: its file as found, its tab, its
// rows, and the loads its tab saw while another server was under trial.
type touchServer struct {
	touchTarget
	fi            os.FileInfo
	orig          []byte
	page, harness *latencyRow
	tab           *tab
	stray         int // load events while another server's file was written
}

// write replaces the server's file with data, and returns when it started.
func (s *touchServer) write(data []byte) (time.Time, error) {
	t0 := time.Now()
	return t0, os.WriteFile(s.file, data, s.fi.Mode().Perm())
}

// note adds note to both of the server's rows.
func (s *touchServer) note(note string) {
	s.page.note, s.harness.note = joinNotes(s.page.note, note), joinNotes(s.harness.note, note)
}

// visibleJS is the page's own view of whether its tab is shown: a hidden
// tab may have its timers and rendering throttled.
const visibleJS = `document.visibilityState`

// runTouch opens each target's URL in a tab of one headless Chromium and,
// per round, appends a line to each target's file in a shuffled order,
// measuring until that target's page has reloaded (a load event of a new
// document). Interleaving puts any drift of the machine on all servers
// alike. The files are restored at the end, also on Ctrl-C; a file that
// cannot be restored is an error.
func runTouch(ctx context.Context, cfg config, tc touchConfig) (rep *report, err error) {
	if len(tc.targets) == 0 {
		return nil, errors.New("touch mode: no server to measure")
	}
	rep = newReport(cfg)
	multi := len(tc.targets) > 1
	servers := make([]*touchServer, len(tc.targets))
	for i, tt := range tc.targets {
		s := &touchServer{touchTarget: tt}
		fi, err := os.Stat(s.file)
		if err != nil {
			return nil, fmt.Errorf("-touch: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("-touch %s: not a regular file", s.file)
		}
		for _, o := range servers[:i] {
			if os.SameFile(o.fi, fi) {
				return nil, fmt.Errorf("-touch %s: the file of both %s and %s (each server needs its own file: serve a copy of the site)", s.file, o.label, s.label)
			}
		}
		if s.orig, err = os.ReadFile(s.file); err != nil {
			return nil, fmt.Errorf("-touch: %w", err)
		}
		s.fi = fi
		setup := fmt.Sprintf("%s, `-touch %s`", s.label, filepath.Base(s.file))
		s.page = rep.addLatency(&latencyRow{fig: 2, figure: figReload, setup: setup + "; page clock: `timeOrigin + loadEventEnd`",
			panel: panelBrowser, label: s.label + ", page clock"})
		s.harness = rep.addLatency(&latencyRow{fig: 2, figure: figReload, setup: setup + "; harness clock: `Page.loadEventFired` arrives",
			panel: panelBrowser, label: s.label + ", harness clock"})
		if i > 0 {
			rep.compared = append(rep.compared, comparison{name: s.label, row: s.page, base: servers[0].label, baseRow: servers[0].page})
		}
		servers[i] = s
	}

	br, err := startBrowser()
	if err != nil {
		return nil, err
	}
	defer br.close()
	// Every tab is opened and has its page loaded before the first write,
	// so that no server's first trial shares the machine with another
	// page's start-up.
	for _, s := range servers {
		if s.tab, err = br.newTab(); err != nil {
			return nil, err
		}
		defer s.tab.close()
		if err := s.tab.navigate(s.url, tc.limit); err != nil {
			return nil, err
		}
	}
	for _, s := range servers {
		if v, err := eval[string](s.tab.ctx, visibleJS); err != nil {
			return nil, fmt.Errorf("%s: document.visibilityState: %w", s.url, err)
		} else if v != "visible" {
			s.note(fmt.Sprintf("tab %s (its timers may be throttled)", v))
		}
	}

	// drain forgets the loads every tab has seen; those of a tab other than
	// the one last under trial (prev) came while another server's file was
	// written, and are counted against it.
	prev := -1
	drain := func() {
		for j, s := range servers {
			if n := s.tab.drain(); prev >= 0 && j != prev {
				s.stray += n
			}
		}
	}
	defer func() {
		// Restore, and let each server's reload for it pass before the
		// browser goes away.
		drain()
		t0 := make([]time.Time, len(servers))
		for j, s := range servers {
			var werr error
			if t0[j], werr = s.write(s.orig); werr != nil {
				t0[j] = time.Time{}
				err = errors.Join(err, fmt.Errorf("restore %s: %w", s.file, werr))
			}
		}
		for j, s := range servers {
			if !t0[j].IsZero() {
				s.tab.awaitReload(t0[j], min(tc.limit, 10*time.Second), nil)
			}
			if s.stray > 0 {
				s.note(fmt.Sprintf("%d page load(s) while another server's file was written (do they watch the same files?)", s.stray))
			}
		}
	}()
	for i := range cfg.warmup + cfg.trials {
		for _, k := range rand.Perm(len(servers)) {
			s := servers[k]
			if err := sleepCtx(ctx, gap(tc.gap, tc.gap)); err != nil {
				return rep, err
			}
			drain()
			prev = k
			t0, err := s.write(touched(s.orig, touchLine(s.file, tc.appendFmt, i)))
			if err != nil {
				return rep, err
			}
			sample, err := s.tab.awaitReload(t0, tc.limit, nil)
			if errors.Is(err, errNoReload) {
				s.page.missed++
				s.harness.missed++
				if s.page.missed >= 3 && len(s.page.samples) == 0 {
					return rep, fmt.Errorf("%s did not reload within %v after 3 writes to %s (does a change to this file make it reload the page? a stylesheet swap or HMR update is not a reload)", s.url, tc.limit, s.file)
				}
				continue
			}
			if err != nil {
				if multi {
					return rep, fmt.Errorf("%s: round %d: %w", s.label, i, err)
				}
				return rep, fmt.Errorf("trial %d: %w", i, err)
			}
			if i >= cfg.warmup {
				s.page.samples = append(s.page.samples, sample.page)
				s.harness.samples = append(s.harness.samples, sample.harness)
			}
		}
	}
	rep.finished = time.Now()
	return rep, nil
}
