package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// latencyRow is one line of the latency table.
type latencyRow struct {
	fig     int
	figure  string // what is measured, e.g. "write → build_complete (WebSocket)"
	setup   string // how, e.g. "-watch native -debounce 0"
	samples []time.Duration
	missed  int    // trials with no result within their limit
	na      string // set when the row could not be measured: the table text
	note    string
	panel   string // plot panel; "" keeps the row out of the plot
	label   string // legend text in the plot
}

// scaleRow is one line of the scale table (figure 4).
type scaleRow struct {
	files, dirs int
	mode        string
	ready       time.Duration // exec → /_reloadd/status answers
	startCPU    time.Duration // CPU used by then
	idle        time.Duration // length of the idle window
	idleCPU     time.Duration // CPU used in it
	mem         memory
	na          string
	note        string
}

// burstRow is one line of the build-queue table (figure 6).
type burstRow struct {
	script   string
	bursts   int
	saves    int
	builds   []int // builds counted per burst
	allSeen  int   // bursts whose later builds named every saved file
	na, note string
}

// report is everything a run measured, with where and how.
type report struct {
	cfg      config
	started  time.Time
	finished time.Time
	machine  string

	latency   []*latencyRow
	scale     []*scaleRow
	bursts    []*burstRow
	forward   []*forwardRow
	workflows []*workflowRow
	shares    []*shareRow

	missing []string // tools a figure needed and did not find
	errs    []error  // figures that failed

	// compared are the lines under the latency table in touch mode with
	// several servers: each later server's page clock against the first's.
	compared []comparison
}

// comparison sets one latency row's p50 against another's, e.g. touch
// mode's page clock of each server against the first server's.
type comparison struct {
	name, base   string // the rows' servers, as the line names them
	row, baseRow *latencyRow
}

// String is the comparison's line: "reloadd: 0.83× floor, −12.1 ms p50".
func (c comparison) String() string {
	if len(c.row.samples) == 0 || len(c.baseRow.samples) == 0 {
		return fmt.Sprintf("%s: not compared with %s (no samples)", c.name, c.base)
	}
	p, b := summarize(c.row.samples).p50, summarize(c.baseRow.samples).p50
	ratio := "–"
	if b > 0 {
		ratio = fmt.Sprintf("%.2f×", float64(p)/float64(b))
	}
	sign, d := "+", p-b
	if d < 0 {
		sign, d = "−", -d
	}
	return fmt.Sprintf("%s: %s %s, %s%s ms p50", c.name, ratio, c.base, sign, fmtMS(d))
}

func newReport(cfg config) *report {
	return &report{cfg: cfg, started: time.Now(), machine: machine()}
}

func (r *report) addLatency(row *latencyRow) *latencyRow {
	r.latency = append(r.latency, row)
	return row
}

// machine describes where the figures were measured.
func machine() string {
	tmp := os.TempDir()
	return fmt.Sprintf("%d cores (%s), %s, %s/%s, %s; temp dir %s on %s",
		runtime.NumCPU(), cpuModel(), kernelRelease(), runtime.GOOS, runtime.GOARCH, runtime.Version(), tmp, fsType(tmp))
}

// stamp is the line that goes with every table: machine, date, command.
func (r *report) stamp() string {
	return fmt.Sprintf("_Machine: %s. Date: %s. Command: `%s`._",
		r.machine, r.started.UTC().Format("2006-01-02 15:04 MST"), r.cfg.command)
}

// markdown renders the report.
func (r *report) markdown(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("%s\n\n", r.stamp())
	if len(r.latency) > 0 {
		p("#### Latency (ms; %s)\n\n", r.trialsText())
		p("| # | figure | setup | n | p50 | p90 | p99 | max | notes |\n")
		p("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, row := range r.latency {
			note := row.note
			if row.missed > 0 && row.na == "" {
				note = joinNotes(fmt.Sprintf("%d missed (no result within the trial's limit)", row.missed), note)
			}
			if row.na != "" || len(row.samples) == 0 {
				na := row.na
				if na == "" {
					na = "no samples"
				}
				p("| %d | %s | %s | – | %s | | | | %s |\n", row.fig, row.figure, row.setup, cell(na), cell(note))
				continue
			}
			st := summarize(row.samples)
			p("| %d | %s | %s | %d | %s | %s | %s | %s | %s |\n", row.fig, row.figure, row.setup, st.n,
				fmtMS(st.p50), fmtMS(st.p90), fmtMS(st.p99), fmtMS(st.max), cell(note))
		}
		if len(r.compared) > 0 {
			p("\nPage clock, each server against %s (ratio and difference of the p50s):\n\n", r.compared[0].base)
			for _, c := range r.compared {
				p("- %s\n", c)
			}
		}
		p("\n%s\n\n", r.stamp())
	}
	if len(r.scale) > 0 {
		p("#### Scale: start-up, idle cost, memory (figure 4)\n\n")
		p("| files | dirs | mode | ready (exec → serving) | CPU until ready | idle CPU, %% of one core | RSS | peak RSS | notes |\n")
		p("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, row := range r.scale {
			if row.na != "" {
				p("| %s | %d | %s | %s | | | | | %s |\n", thousands(row.files), row.dirs, row.mode, cell(row.na), cell(row.note))
				continue
			}
			pct := 100 * row.idleCPU.Seconds() / row.idle.Seconds()
			p("| %s | %d | %s | %s s | %s s | %.2f %% over %.0f s | %s MiB | %s MiB | %s |\n",
				thousands(row.files), row.dirs, row.mode, secs(row.ready), secs(row.startCPU), pct, row.idle.Seconds(),
				mib(row.mem.rss), mib(row.mem.hwm), cell(row.note))
		}
		p("\n%s\n\n", r.stamp())
	}
	if len(r.bursts) > 0 {
		p("#### Build queue: builds per burst (figure 6)\n\n")
		p("| -build | bursts | saves during the build | builds per burst (min / median / max) | expected | bursts whose next build named every save | notes |\n")
		p("| --- | --- | --- | --- | --- | --- | --- |\n")
		for _, row := range r.bursts {
			if row.na != "" || len(row.builds) == 0 {
				p("| `%s` | – | %d | %s | 2 | | %s |\n", row.script, row.saves, cell(orDefault(row.na, "no bursts")), cell(row.note))
				continue
			}
			b := slices.Sorted(slices.Values(row.builds))
			p("| `%s` | %d | %d | %d / %d / %d | 2 | %d of %d | %s |\n", row.script, len(b), row.saves,
				b[0], b[len(b)/2], b[len(b)-1], row.allSeen, len(b), cell(row.note))
		}
		p("\n%s\n\n", r.stamp())
	}
	if len(r.forward) > 0 {
		p("#### Forwarding: idle cost with `reloadd forward` connected (figure %d)\n\n", figForward)
		p("| files | agent ready (exec → connected) | daemon idle CPU, %% of one core | agent idle CPU, %% of one core | agent RSS | agent peak RSS | daemon RSS | notes |\n")
		p("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, row := range r.forward {
			if row.na != "" || row.idle == 0 {
				p("| %s | %s | | | | | | %s |\n", thousands(row.files), cell(orDefault(row.na, "not measured")), cell(row.note))
				continue
			}
			p("| %s | %s s | %.2f %% over %.0f s | %.2f %% | %s MiB | %s MiB | %s MiB | %s |\n", thousands(row.files), secs(row.ready),
				100*row.daemonCPU.Seconds()/row.idle.Seconds(), row.idle.Seconds(), 100*row.agentCPU.Seconds()/row.idle.Seconds(),
				mib(row.agentMem.rss), mib(row.agentMem.hwm), mib(row.daemonMem.rss), cell(row.note))
		}
		p("\n%s\n\n", r.stamp())
	}
	if len(r.workflows) > 0 {
		p("#### Workflows: what each edit caused (figure %d)\n\n", figWorkflows)
		p("| setup | edit | edits | builds (needed) | app starts | page loads (needed) | second builds | notes |\n")
		p("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, row := range r.workflows {
			if row.na != "" || row.edits == 0 {
				p("| %s | %s | – | %s | | | | %s |\n", row.setup, row.edit, cell(orDefault(row.na, "no edits")), cell(row.note))
				continue
			}
			p("| %s | %s | %d | %d (%d) | %d | %d (%d) | %d | %s |\n", row.setup, row.edit, row.edits,
				row.builds, row.wantBuilds*row.edits, row.restarts, row.loads, row.wantLoads*row.edits,
				max(row.builds-row.wantBuilds*row.edits, 0), cell(row.note))
		}
		p("\n%s\n\n", r.stamp())
	}
	if len(r.shares) > 0 {
		r.shareTable(w)
	}
	if len(r.missing) > 0 {
		p("Not measured, a tool is missing: %s.\n\n", strings.Join(r.missing, "; "))
	}
	if len(r.errs) > 0 {
		p("Errors:\n\n")
		for _, err := range r.errs {
			msg, _, _ := strings.Cut(err.Error(), "\n")
			p("- %s\n", msg)
		}
		p("\n")
	}
}

// shareTable is figure 9's table.
func (r *report) shareTable(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("#### Shares without an agent: first save of a file nobody touched (figure %d)\n\n", figShare)
	p("| share | files | tool | ready | saves in the first 10 s: n, max | later first saves: n, p50, max | hot save p50 | first saves after a quiet minute: n, p50, max | missed | CPU while saving, %% of one core | idle CPU | FUSE daemon's idle CPU | RSS | notes |\n")
	p("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, row := range r.shares {
		if row.na != "" {
			p("| %s | %s | %s | %s | | | | | | | | | | %s |\n", row.fs, thousands(row.files), row.tool, cell(row.na), cell(row.note))
			continue
		}
		e, f, h, q := summarize(row.early), summarize(row.first), summarize(row.hot), summarize(row.quiet)
		pct := func(d, of time.Duration) string {
			if of <= 0 {
				return "–"
			}
			return fmt.Sprintf("%.1f %%", 100*d.Seconds()/of.Seconds())
		}
		p("| %s | %s | %s | %s s | %d, %s | %d, %s, %s | %s | %d, %s, %s | %d | %s | %s | %s | %s MiB | %s |\n",
			row.fs, thousands(row.files), row.tool, secs(row.ready), e.n, fmtMS(e.max), f.n, fmtMS(f.p50), fmtMS(f.max),
			fmtMS(h.p50), q.n, fmtMS(q.p50), fmtMS(q.max), row.missed, pct(row.busyCPU, row.busy),
			pct(row.idleCPU, row.idle), pct(row.fuseCPU, row.idle), mib(row.mem.rss), cell(row.note))
	}
	p("\nLatencies in ms, from just before the write (a line appended on the backing side) to the tool's reload message naming the file (reloadd: `build_complete`; live-server: its `reload` frame). CPU while saving: over the later and hot saves. Idle CPU: over %s in which nothing changed, after %s more of nothing (reloadd's stat sweep runs at twice its idle budget in its first 30 s or until its first sweep ended, and while a file changed in the last minute). %s\n\n", shareIdle, shareQuiet, r.stamp())
}

func (r *report) trialsText() string {
	return fmt.Sprintf("p50/p90/p99/max over n trials after %d warm-up trials, random gaps between trials; nearest-rank percentiles", r.cfg.warmup)
}

func joinNotes(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// cell makes s safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

// thousands formats n with thin separators: 100000 → "100,000".
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
