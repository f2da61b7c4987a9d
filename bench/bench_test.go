package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
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
