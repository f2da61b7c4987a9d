package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/internal/testenv"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		// chromedp's browser plumbing winds down just after its context.
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/chromedp/chromedp.(*Browser).run")); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// reloaddBinary builds ./cmd/reloadd once for all tests.
func reloaddBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			binErr = err
			return
		}
		if binDir, binErr = os.MkdirTemp("", "reloadd-bench-test-"); binErr != nil {
			return
		}
		binPath, binErr = buildReloadd(root, binDir)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// TestQuickSuite runs the -quick subset as a smoke test: every figure must be
// measurable (or report that this build lacks its feature), the table and
// the plot must be written. It never looks at what the figures are.
func TestQuickSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon, Chromium and a FUSE mount")
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-quick", "-bin", reloaddBinary(t), "-out", out}, &stdout, &stderr)
	t.Logf("progress:\n%s", stderr.String())
	t.Logf("report:\n%s", stdout.String())
	if err != nil {
		t.Fatal(err)
	}
	md := stdout.String()
	if strings.Contains(md, "a tool is missing") {
		testenv.Missing(t, "a figure needs a tool that is not installed: "+md[strings.Index(md, "Not measured"):])
	}
	// Every figure has rows, and every latency row is either measured or
	// explicitly not available in this build.
	row := regexp.MustCompile(`(?m)^\| (\d) \| [^|]+ \| [^|]+ \| (–|\d+) \| ([^|]+) \|`)
	seen := map[string]int{}
	for _, m := range row.FindAllStringSubmatch(md, -1) {
		seen[m[1]]++
		if m[2] == "–" && !strings.HasPrefix(m[3], "n/a (feature not available in this build)") &&
			!strings.HasPrefix(m[3], "not detected") {
			t.Errorf("figure %s: row not measured: %s", m[1], m[0])
		}
	}
	for _, fig := range []string{"1", "2", "3", "4", "5", "6", "7", "8"} {
		if seen[fig] == 0 {
			t.Errorf("figure %s: no rows in the report", fig)
		}
	}
	// Figure 9 (shares) has its own table: a measured row per share.
	for _, fs := range []string{"bindfs", "sshfs"} {
		if !regexp.MustCompile(`(?m)^\| ` + fs + ` \| [\d,]+ \| reloadd \| [\d.]+ s \|`).MatchString(md) {
			t.Errorf("figure 9: no measured reloadd row for %s", fs)
		}
	}
	for _, want := range []string{"Machine: ", "Command: `go run ./bench -quick", "#### Scale", "#### Build queue", "#### Forwarding", "#### Workflows", "#### Shares without an agent"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "latest.md")); err != nil || !bytes.Equal(b, stdout.Bytes()) {
		t.Errorf("latest.md does not hold the printed report (err %v)", err)
	}
	svg, err := os.ReadFile(filepath.Join(out, "latest.svg"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("write → build_complete")) {
		t.Errorf("latest.svg is not the latency plot: %.200s", svg)
	}
}

// TestTouchModeAgainstReloadd runs -url/-touch against a reloadd serving a
// site, as a user would against any dev server, and checks that it
// measured reloads and restored the file.
func TestTouchModeAgainstReloadd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon and Chromium")
	}
	needChromium(t)
	site := t.TempDir()
	if err := writeSite(site); err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(site, "index.html")
	orig, _ := os.ReadFile(index)
	d, err := startDaemon(context.Background(), reloaddBinary(t), site)
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()
	touchAndCheck(t, d.url("/"), index, orig, "reloadd")
}

// TestTouchModeAgainstLiveServer runs -url/-touch against live-server (npm),
// a second live-reload server, when it is installed (`npm i -g
// live-server`); it is optional and skips otherwise, also in CI.
func TestTouchModeAgainstLiveServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs live-server and Chromium")
	}
	bin := os.Getenv("LIVE_SERVER")
	if bin == "" {
		var err error
		if bin, err = lookPath("live-server"); err != nil {
			t.Skip("live-server is not installed (optional: npm i -g live-server, or LIVE_SERVER=path)")
		}
	}
	site := t.TempDir()
	if err := writeSite(site); err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(site, "index.html")
	orig, _ := os.ReadFile(index)
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(addr, ":")
	p, err := startProcess(bin, "--no-browser", "--quiet", "--host="+host, "--port="+port, site)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	if err := waitHTTP("http://"+addr+"/", 30*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.log.String())
	}
	touchAndCheck(t, "http://"+addr+"/", index, orig, "live-server")
}

// TestTouchModeInterleaved runs -url/-touch against two servers at once —
// the bench's floor program and a reloadd, each serving its own copy of the
// site — and checks that both were measured in the one report, the second
// against the first, that neither tab saw a load while the other server's
// file was written, and that both files were restored byte for byte.
func TestTouchModeInterleaved(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the daemon, the floor server and Chromium")
	}
	needChromium(t)
	floorBin := buildFloor(t)
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if err := writeSite(dir); err != nil {
			t.Fatal(err)
		}
	}
	fileA, fileB := filepath.Join(a, "index.html"), filepath.Join(b, "index.html")
	origA, _ := os.ReadFile(fileA)
	// The two files differ, so that a restore into the wrong file shows.
	if err := os.WriteFile(fileB, append(origA, "<!-- b -->\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	origB, _ := os.ReadFile(fileB)

	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	floor, err := startProcess(floorBin, "-addr", addr, a)
	if err != nil {
		t.Fatal(err)
	}
	defer floor.stop()
	floorURL := "http://" + addr + "/"
	if err := waitHTTP(floorURL, 30*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, floor.log.String())
	}
	d, err := startDaemon(context.Background(), reloaddBinary(t), b)
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()

	checkTabsVisible(t, floorURL, d.url("/"))

	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{
		"-url", floorURL, "-touch", fileA, "-label", "floor",
		"-url", d.url("/"), "-touch", fileB, "-label", "reloadd",
		"-trials", "3", "-warmup", "1", "-gap", "100ms", "-out", out}, &stdout, &stderr)
	md := stdout.String()
	t.Logf("report:\n%s\n%s", md, stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{"floor", "reloadd"} {
		for _, clock := range []string{"page clock", "harness clock"} {
			row := regexp.MustCompile(`\| 2 \| write → page reloaded \(Chromium\) \| ` + label + `, [^|]*` + clock + `[^|]*\| 3 \| [0-9.]+ \|`)
			if !row.MatchString(md) {
				t.Errorf("no %s row with 3 samples for %s", clock, label)
			}
		}
	}
	if !regexp.MustCompile(`(?m)^- reloadd: [0-9.]+× floor, [+−][0-9.]+ ms p50$`).MatchString(md) {
		t.Error("no line comparing reloadd's p50 with floor's")
	}
	for _, bad := range []string{"while another server's file was written", "throttled"} {
		if strings.Contains(md, bad) {
			t.Errorf("report notes %q: a tab other than the one under trial was disturbed", bad)
		}
	}
	for _, f := range []struct {
		path string
		orig []byte
	}{{fileA, origA}, {fileB, origB}} {
		if got, _ := os.ReadFile(f.path); !bytes.Equal(got, f.orig) {
			t.Errorf("%s was not restored:\n%s", f.path, got)
		}
	}
}

// buildFloor builds bench/floor into a temporary directory.
func buildFloor(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "floor")
	cmd := exec.Command("go", "build", "-o", bin, "./floor")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./floor: %v\n%s", err, msg)
	}
	return bin
}

// checkTabsVisible opens each URL in a tab of one headless Chromium, as
// touch mode does, and checks that every tab's page sees itself shown: a
// hidden tab may be throttled, which would slow the server measured in it.
func checkTabsVisible(t *testing.T, urls ...string) {
	t.Helper()
	br, err := startBrowser()
	if err != nil {
		t.Fatal(err)
	}
	defer br.close()
	var tabs []*tab
	for _, u := range urls {
		tb, err := br.newTab()
		if err != nil {
			t.Fatal(err)
		}
		defer tb.close()
		if err := tb.navigate(u, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		tabs = append(tabs, tb)
	}
	for i, tb := range tabs {
		v, err := eval[string](tb.ctx, visibleJS)
		if err != nil {
			t.Fatalf("%s: %v", urls[i], err)
		}
		if v != "visible" {
			t.Errorf("%s: document.visibilityState = %q in its tab, want visible", urls[i], v)
		}
	}
}

// needChromium skips the test (fails it under RELOADD_CI) when Chromium
// is not installed: touch mode measures page reloads in it.
func needChromium(t *testing.T) {
	t.Helper()
	if testenv.ChromiumPath() == "" {
		testenv.Missing(t, "chromium is not installed (apt-get install chromium)")
	}
}

func touchAndCheck(t *testing.T, url, file string, orig []byte, label string) {
	t.Helper()
	needChromium(t)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-url", url, "-touch", file, "-label", label,
		"-trials", "3", "-warmup", "1", "-gap", "100ms", "-out", out}, &stdout, &stderr)
	t.Logf("report:\n%s\n%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`\| 2 \| write → page reloaded \(Chromium\) \| ` + regexp.QuoteMeta(label) + `[^|]*page clock[^|]*\| 3 \| [0-9.]+ \|`)
	if !row.MatchString(stdout.String()) {
		t.Errorf("no page-clock row with 3 samples for %s", label)
	}
	if got, _ := os.ReadFile(file); !bytes.Equal(got, orig) {
		t.Errorf("%s was not restored:\n%s", file, got)
	}
	if _, err := os.Stat(filepath.Join(out, "touch.svg")); err != nil {
		t.Error(err)
	}
}

func TestSummarize(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var ds []time.Duration
		for _, x := range v {
			ds = append(ds, time.Duration(x)*time.Millisecond)
		}
		return ds
	}
	seq := func(n int) []time.Duration {
		var v []int
		for i := n; i >= 1; i-- { // reversed: summarize sorts
			v = append(v, i)
		}
		return ms(v...)
	}
	for _, c := range []struct {
		name string
		in   []time.Duration
		want summary
	}{
		{"empty", nil, summary{}},
		{"one", ms(7), summary{n: 1, p50: 7 * time.Millisecond, p90: 7 * time.Millisecond, p99: 7 * time.Millisecond, max: 7 * time.Millisecond}},
		{"ten", seq(10), summary{n: 10, p50: 5 * time.Millisecond, p90: 9 * time.Millisecond, p99: 10 * time.Millisecond, max: 10 * time.Millisecond}},
		{"thirty", seq(30), summary{n: 30, p50: 15 * time.Millisecond, p90: 27 * time.Millisecond, p99: 30 * time.Millisecond, max: 30 * time.Millisecond}},
		{"hundred", seq(100), summary{n: 100, p50: 50 * time.Millisecond, p90: 90 * time.Millisecond, p99: 99 * time.Millisecond, max: 100 * time.Millisecond}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := summarize(c.in); got != c.want {
				t.Errorf("summarize = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     time.Duration
		err      bool
	}{
		{"plain", "1234 (reloadd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 100 0 0", 3 * time.Second, false},
		{"name with spaces and parens", "99 (a) b (c)) R 1 2 3 4 5 6 7 8 9 10 7 3 0 0", 100 * time.Millisecond, false},
		{"no paren", "1234 reloadd S 1", 0, true},
		{"short", "1 (x) S 1 2 3", 0, true},
		{"not a number", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 3", 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseStatCPU(c.in)
			if (err != nil) != c.err || got != c.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, c.want, c.err)
			}
		})
	}
}

func TestParseStatusMemory(t *testing.T) {
	good := "Name:\treloadd\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n"
	m, err := parseStatusMemory(good)
	if err != nil || m.rss != 10240 || m.hwm != 20480 {
		t.Errorf("parseStatusMemory = %+v, %v", m, err)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t10 MB\nVmHWM:\t1 kB\n", "VmRSS:\tx kB\nVmHWM:\t1 kB\n"} {
		if _, err := parseStatusMemory(bad); err == nil {
			t.Errorf("parseStatusMemory(%q): no error", bad)
		}
	}
}

func TestTouchLine(t *testing.T) {
	for _, c := range []struct{ file, format, want string }{
		{"content/_index.md", "", "<!-- reloadd-bench 3 -->"},
		{"site/INDEX.HTML", "", "<!-- reloadd-bench 3 -->"},
		{"src/app.css", "", "/* reloadd-bench 3 */"},
		{"main.go", "", "/* reloadd-bench 3 */"},
		{"hugo.toml", "", "# reloadd-bench 3"},
		{"notes.txt", "", "reloadd-bench 3"},
		{"a.html", "<p>%d</p>", "<p>3</p>"},
		{"a.html", "<p>x</p>", "<p>x</p>"},
	} {
		if got := touchLine(c.file, c.format, 3); got != c.want {
			t.Errorf("touchLine(%q, %q) = %q, want %q", c.file, c.format, got, c.want)
		}
	}
	for _, c := range []struct{ orig, want string }{
		{"", "L\n"},
		{"a\n", "a\nL\n"},
		{"a", "a\nL\n"},
	} {
		if got := string(touched([]byte(c.orig), "L")); got != c.want {
			t.Errorf("touched(%q) = %q, want %q", c.orig, got, c.want)
		}
	}
}

func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "go run ./bench"},
		{[]string{"-quick"}, "go run ./bench -quick"},
		{[]string{"-touch", "my file.md", "-append", "it's"}, `go run ./bench -touch 'my file.md' -append 'it'\''s'`},
	} {
		if got := commandLine(c.args); got != c.want {
			t.Errorf("commandLine(%q) = %s, want %s", c.args, got, c.want)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-figures", "10"},
		{"-figures", "x"},
		{"-url", "http://127.0.0.1:1/"},
		{"-url", "http://127.0.0.1:1/", "-touch", "a.html", "-url", "http://127.0.0.1:2/"},
		{"-url", "http://127.0.0.1:1/", "-touch", "a.html", "-label", "a", "-label", "b"},
		{"-label", "a"},
		{"-trials", "0"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, &stdout, &stderr)
		if _, ok := err.(*usageError); !ok {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
}

func TestTouchFlags(t *testing.T) {
	const u1, u2 = "http://127.0.0.1:1/", "http://127.0.0.1:2/"
	for _, c := range []struct {
		name string
		args []string
		want []touchTarget // nil: not touch mode
		err  string        // a substring of the usage error; "" for none
	}{
		{"none", nil, nil, ""},
		{"one url, label defaults to it", []string{"-url", u1, "-touch", "a.html"},
			[]touchTarget{{url: u1, file: "a.html", label: u1}}, ""},
		{"one url with label", []string{"-url", u1, "-touch", "a.html", "-label", "hugo"},
			[]touchTarget{{url: u1, file: "a.html", label: "hugo"}}, ""},
		{"two, paired in order", []string{"-url", u1, "-touch", "a.html", "-label", "floor", "-url", u2, "-touch", "b.html", "-label", "reloadd"},
			[]touchTarget{{url: u1, file: "a.html", label: "floor"}, {url: u2, file: "b.html", label: "reloadd"}}, ""},
		{"two, flags grouped by name", []string{"-url", u1, "-url", u2, "-touch", "a.html", "-touch", "b.html"},
			[]touchTarget{{url: u1, file: "a.html", label: u1}, {url: u2, file: "b.html", label: u2}}, ""},
		{"url without touch", []string{"-url", u1}, nil, "-url and -touch go together"},
		{"touch without url", []string{"-touch", "a.html"}, nil, "-url and -touch go together"},
		{"label alone", []string{"-label", "x"}, nil, "-label goes with -url"},
		{"two urls, one touch", []string{"-url", u1, "-touch", "a.html", "-url", u2}, nil, "got 2 -url and 1 -touch"},
		{"one url, two touches", []string{"-url", u1, "-touch", "a.html", "-touch", "b.html"}, nil, "got 1 -url and 2 -touch"},
		{"one label for two", []string{"-url", u1, "-touch", "a.html", "-url", u2, "-touch", "b.html", "-label", "x"}, nil, "-label: got 1 for 2 -url"},
		{"empty url", []string{"-url", "", "-touch", "a.html"}, nil, "empty value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := flag.NewFlagSet("bench", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var tf touchFlags
			tf.register(fs)
			err := fs.Parse(c.args)
			var got []touchTarget
			if err == nil {
				got, err = tf.targets()
				var ue *usageError
				if err != nil && !errors.As(err, &ue) {
					t.Errorf("targets() = %v, want a usage error", err)
				}
			}
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want one saying %q", err, c.err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("targets = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestComparison(t *testing.T) {
	ms := func(v float64) []time.Duration { return []time.Duration{time.Duration(v * float64(time.Millisecond))} }
	base := &latencyRow{samples: ms(100)}
	for _, c := range []struct {
		name string
		row  *latencyRow
		want string
	}{
		{"faster", &latencyRow{samples: ms(83)}, "reloadd: 0.83× floor, −17.0 ms p50"},
		{"slower", &latencyRow{samples: ms(112)}, "reloadd: 1.12× floor, +12.0 ms p50"},
		{"no samples", &latencyRow{missed: 3}, "reloadd: not compared with floor (no samples)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmp := comparison{name: "reloadd", row: c.row, base: "floor", baseRow: base}
			if got := cmp.String(); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
			rep := &report{latency: []*latencyRow{base, c.row}, compared: []comparison{cmp}}
			var md bytes.Buffer
			rep.markdown(&md)
			if want := "Page clock, each server against floor (ratio and difference of the p50s):\n\n- " + c.want + "\n\n_Machine"; !strings.Contains(md.String(), want) {
				t.Errorf("markdown lacks %q:\n%s", want, md.String())
			}
		})
	}
}

func TestUpdateReadme(t *testing.T) {
	p := filepath.Join(t.TempDir(), "README.md")
	os.WriteFile(p, []byte("# x\n\n"+readmeBegin+"\nold\n"+readmeEnd+"\n\nafter\n"), 0o644)
	if err := updateReadme(p, []byte("| table |\n"), "results/latest.svg"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want := "# x\n\n" + readmeBegin + "\n\n| table |\n\n![latency distributions](results/latest.svg)\n\n" + readmeEnd + "\n\nafter\n"
	if string(got) != want {
		t.Errorf("README =\n%s\nwant\n%s", got, want)
	}
	os.WriteFile(p, []byte("no markers"), 0o644)
	if err := updateReadme(p, nil, ""); err == nil {
		t.Error("no error for a README without markers")
	}
}

func TestEventLog(t *testing.T) {
	l := newEventLog()
	fmt.Fprint(l, `{"event":"listen"}`+"\nnot json\n"+`{"event":"reloaded","load_ms":`)
	ctx, cancel := context.WithTimeout(context.Background(), testenv.WaitLimit)
	defer cancel()
	done := make(chan map[string]any)
	go func() {
		ev, _, err := l.waitEvent(ctx, 0, "reloaded")
		if err != nil {
			t.Error(err)
		}
		done <- ev
	}()
	fmt.Fprint(l, "12.5}\n")
	if ev := <-done; ev["load_ms"] != 12.5 {
		t.Errorf("event = %v", ev)
	}
	if l.mark() != 2 {
		t.Errorf("mark = %d, want 2 events", l.mark())
	}
	short, cancel2 := context.WithTimeout(ctx, time.Millisecond)
	defer cancel2()
	if _, _, err := l.waitEvent(short, 2, "reloaded"); err == nil {
		t.Error("waitEvent found an event that is not there")
	}
}

// BenchmarkWriteToBuildComplete reports write → build_complete latency at a
// WebSocket client with native watching, for the default settle window and
// for -debounce 0: one save per iteration; p50 and p99 as metrics.
func BenchmarkWriteToBuildComplete(b *testing.B) {
	bin := reloaddBinary(b)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"settle=default", []string{"-watch", "native"}},
		{"debounce=0", []string{"-watch", "native", "-debounce", "0"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			site := b.TempDir()
			if err := writeSite(site); err != nil {
				b.Fatal(err)
			}
			s := &suite{cfg: config{}, bin: bin}
			res, err := s.wsLatency(context.Background(), wsRun{
				args: append(c.args, site), file: filepath.Join(site, "index.html"),
				trials: b.N, warmup: 3, limit: trialLimit,
			})
			if err != nil {
				b.Fatal(err)
			}
			st := summarize(res.samples)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(st.p50)/float64(time.Millisecond), "p50-ms")
			b.ReportMetric(float64(st.p99)/float64(time.Millisecond), "p99-ms")
		})
	}
}
