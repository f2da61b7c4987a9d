// Command bench is reloadd's time-to-reload suite. It builds the daemon, runs
// it as a child process (the real binary, as users run it) against real
// files, real WebSocket clients, a real FUSE mount and headless Chromium,
// and prints Markdown tables of latency percentiles with the machine, date
// and command; it also draws the latency distributions as an SVG plot.
//
//	go run ./bench                  # the full suite (several minutes)
//	go run ./bench -quick           # a subset in under a minute (CI's smoke test)
//	go run ./bench -figures 1,5     # only some figures
//	go run ./bench -url http://localhost:1313/ -touch content/_index.md
//	                                # write → page reloaded against any dev server
//	go run ./bench -url URL1 -touch FILE1 -label a -url URL2 -touch FILE2 -label b
//	                                # several servers, trials interleaved
//
// The figures are measurements, never assertions: the suite fails only when
// it cannot measure. See bench/README.md for what each figure means.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		var ue *usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// run is the command without the process around it. The report goes to
// stdout, progress to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "run a small subset of every figure (under a minute; CI's smoke test)")
	trials := fs.Int("trials", 30, "measured trials per latency figure (-quick: 3)")
	warmup := fs.Int("warmup", 5, "unmeasured warm-up trials before them (-quick: 1)")
	figures := fs.String("figures", "", "comma-separated figure numbers to run (1–9; default all)")
	out := fs.String("out", "", "directory for latest.md and latency.svg (default bench/results, -quick: bench/results/quick; \"-\": none)")
	readme := fs.Bool("readme", false, "also put the tables and plot into bench/README.md")
	bin := fs.String("bin", "", "measure this reloadd binary instead of building ./cmd/reloadd")
	var touch touchFlags
	touch.register(fs)
	appendFmt := fs.String("append", "", "with -touch: the `LINE` appended (%d: trial number; default a comment chosen by the file's extension)")
	touchGap := fs.Duration("gap", 300*time.Millisecond, "with -url: the minimum pause after a reload before the next write (a random extra up to as much again)")
	touchLimit := fs.Duration("timeout", 30*time.Second, "with -url: how long one write may take to reload the page")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected arguments: %q", fs.Args())}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := config{quick: *quick, trials: *trials, warmup: *warmup, bin: *bin, log: stderr, command: commandLine(args)}
	if *quick {
		if !set["trials"] {
			cfg.trials = 3
		}
		if !set["warmup"] {
			cfg.warmup = 1
		}
	}
	if cfg.trials < 1 || cfg.warmup < 0 {
		return &usageError{"-trials must be ≥ 1 and -warmup ≥ 0"}
	}
	if *figures != "" {
		cfg.figures = map[int]bool{}
		for f := range strings.SplitSeq(*figures, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > figShare {
				return &usageError{fmt.Sprintf("-figures %q: want numbers 1 to %d", *figures, figShare)}
			}
			cfg.figures[n] = true
		}
	}
	targets, err := touch.targets()
	if err != nil {
		return err
	}

	outDir := *out
	if outDir == "" || *readme {
		root, err := repoRoot()
		if err != nil {
			if outDir == "" {
				return fmt.Errorf("finding bench/results (give -out DIR or -out -): %w", err)
			}
			return err
		}
		if outDir == "" {
			outDir = filepath.Join(root, "bench", "results")
			if *quick {
				outDir = filepath.Join(outDir, "quick")
			}
		}
		if *readme {
			cfg.readme = filepath.Join(root, "bench", "README.md")
		}
	}

	var rep *report
	name := "latest"
	if targets != nil {
		name = "touch"
		rep, err = runTouch(ctx, cfg, touchConfig{targets: targets, appendFmt: *appendFmt, gap: *touchGap, limit: *touchLimit})
	} else {
		rep, err = runSuite(ctx, cfg)
	}
	if rep == nil {
		return err
	}
	var md bytes.Buffer
	rep.markdown(&md)
	stdout.Write(md.Bytes())
	if werr := writeResults(rep, md.Bytes(), outDir, name, stderr); werr != nil && err == nil {
		err = werr
	}
	if err == nil && len(rep.errs) > 0 {
		err = fmt.Errorf("%d figure(s) failed; first: %w", len(rep.errs), rep.errs[0])
	}
	return err
}

// writeResults writes NAME.md and NAME.svg into dir (unless dir is "-"), and
// the README block when asked.
func writeResults(rep *report, md []byte, dir, name string, log io.Writer) error {
	if dir == "-" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	mdPath := filepath.Join(dir, name+".md")
	if err := os.WriteFile(mdPath, md, 0o644); err != nil {
		return err
	}
	svgPath := filepath.Join(dir, name+".svg")
	var svg bytes.Buffer
	if err := writePlot(&svg, rep); err != nil {
		fmt.Fprintf(log, "bench: no plot: %v\n", err)
	} else if err := os.WriteFile(svgPath, svg.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(log, "bench: wrote %s and %s\n", mdPath, svgPath)
	if rep.cfg.readme != "" {
		rel, err := filepath.Rel(filepath.Dir(rep.cfg.readme), svgPath)
		if err != nil {
			rel = svgPath
		}
		if err := updateReadme(rep.cfg.readme, md, filepath.ToSlash(rel)); err != nil {
			return err
		}
		fmt.Fprintf(log, "bench: updated %s\n", rep.cfg.readme)
	}
	return nil
}

// The README block the suite rewrites with -readme.
const (
	readmeBegin = "<!-- bench:results:begin -->"
	readmeEnd   = "<!-- bench:results:end -->"
)

// updateReadme replaces the text between the markers in path with the
// tables and a link to the plot.
func updateReadme(path string, md []byte, svg string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i := bytes.Index(b, []byte(readmeBegin))
	j := bytes.Index(b, []byte(readmeEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s … %s block", path, readmeBegin, readmeEnd)
	}
	var nb bytes.Buffer
	nb.Write(b[:i+len(readmeBegin)])
	fmt.Fprintf(&nb, "\n\n%s\n![latency distributions](%s)\n\n", md, svg)
	nb.Write(b[j:])
	return os.WriteFile(path, nb.Bytes(), 0o644)
}

// commandLine is how the run was started, for the tables.
func commandLine(args []string) string {
	parts := []string{"go run ./bench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$`\\|&;<>()*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
