//go:build linux

package poll

// Benchmarks. Nothing here asserts a figure; each reports metrics. The
// whole-process ones build cmd/reloadd and measure it as a child process:
//
//	go test -run '^$' -bench 'Reloadd' -benchtime 1x -timeout 30m ./watcher/poll/
//
// RELOADD_BENCH_IDLE sets the idle measurement window (default 20s);
// RELOADD_BENCH_COLD=1 drops the page cache (as root) before the idle
// benchmark's start, so its ready time includes reading the disk.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
)

// bigTree returns a tree of 100,000 files in 500 directories (25 × 20, 200
// files each, ~600 bytes per file), made once and kept in the temporary
// directory between runs.
func bigTree(b *testing.B) string {
	b.Helper()
	root := filepath.Join(os.TempDir(), "reloadd-bench-100k")
	done := filepath.Join(os.TempDir(), "reloadd-bench-100k.done")
	if _, err := os.Stat(done); err == nil {
		return root
	}
	os.RemoveAll(root)
	filler := strings.Repeat("<p>lorem ipsum dolor sit amet</p>\n", 17)
	for d := range 500 {
		dir := filepath.Join(root, fmt.Sprintf("section%02d", d/20), fmt.Sprintf("page%02d", d%20))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 200 {
			data := fmt.Sprintf("<h1>%d/%d</h1>\n%s", d, f, filler)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%03d.html", f)), []byte(data), 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(done, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return root
}

// BenchmarkScan100k measures the index in-process: baseline time, heap
// per file, and the CPU cost per file of a full stat sweep.
func BenchmarkScan100k(b *testing.B) {
	root := bigTree(b)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	t0 := time.Now()
	tr := newTree(watcher.DefaultFilter())
	tr.now = time.Now()
	tr.hashUntil = time.Now().Add(time.Hour) // hash everything
	if err := tr.addRoot(root, &osFS{raw: true, limit: watcher.DefaultMaxHashSize}, false, "bench", racyLocal); err != nil {
		b.Fatal(err)
	}
	defer tr.close()
	baseline := time.Since(t0)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		tr.now = time.Now()
		tr.scanAll(false)
		tr.take()
	}
	b.StopTimer()
	b.ReportMetric(baseline.Seconds(), "baseline-hashing-all-s")
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(tr.nfiles), "heap-B/file")
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/1e6, "cpu-ms/sweep")
	b.ReportMetric(float64(tr.nfiles), "files")
	runtime.KeepAlive(tr)
}

// BenchmarkColdSweep100k measures the CPU of one full cold sweep (a stat
// of every file relative to its directory), in-process.
func BenchmarkColdSweep100k(b *testing.B) {
	root := bigTree(b)
	tr := newTree(watcher.DefaultFilter())
	tr.now = time.Now()
	tr.hashUntil = time.Now().Add(time.Hour)
	if err := tr.addRoot(root, &osFS{raw: true, limit: watcher.DefaultMaxHashSize}, false, "bench", racyLocal); err != nil {
		b.Fatal(err)
	}
	defer tr.close()
	s := newSched(tr, Options{Interval: time.Second, ColdPeriod: time.Millisecond, ColdBudget: 1}.withDefaults())
	b.ResetTimer()
	c0 := cpuTime()
	for range b.N {
		n := s.sweeps
		for s.sweeps < n+2 { // from wherever the cursor is to the same place
			tr.now = time.Now()
			s.sweepCold(time.Second)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-c0)/float64(2*b.N)/1e6, "cpu-ms/sweep")
	b.ReportMetric(float64(cpuTime()-c0)/float64(2*b.N)/float64(tr.nfiles), "cpu-ns/file")
}

// BenchmarkForwardedIdle100k measures, in-process, the CPU of a poller
// on the 100k tree in forwarded mode (an agent reports changes; only the
// safety sweep runs), as % of one core over an idle window after the
// start-up has settled. The target is ≤ 0.5 %.
func BenchmarkForwardedIdle100k(b *testing.B) {
	root := bigTree(b)
	idle := 20 * time.Second
	if s := os.Getenv("RELOADD_BENCH_IDLE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		idle = d
	}
	for range b.N {
		w, err := New([]string{root}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		w.SetForwarded(true)
		go func() {
			for range w.Events() {
			}
		}()
		go func() {
			for range w.Errors() {
			}
		}()
		// The fill pass hashes what the baseline left: a one-time cost.
		for t0 := time.Now(); !w.filled.Load() && time.Since(t0) < 5*time.Minute; {
			time.Sleep(100 * time.Millisecond)
		}
		if !w.filled.Load() {
			b.Logf("the fill pass was not over after 5 min")
		}
		c0, w0 := cpuTime(), time.Now()
		time.Sleep(idle)
		c1, w1 := cpuTime(), time.Now()
		w.Close()
		b.ReportMetric(100*float64(c1-c0)/float64(w1.Sub(w0)), "idle-cpu-%")
	}
	b.ReportMetric(0, "ns/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReloaddIdle100k runs `reloadd -watch poll` on the 100k tree and
// reports the time until it serves (baseline done), then CPU (% of one
// core, utime+stime from /proc) and RSS over an idle window.
func BenchmarkReloaddIdle100k(b *testing.B) {
	root := bigTree(b)
	bin := buildReloadd(b)
	idle := 20 * time.Second
	if s := os.Getenv("RELOADD_BENCH_IDLE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatal(err)
		}
		idle = d
	}
	for range b.N {
		if os.Getenv("RELOADD_BENCH_COLD") == "1" {
			dropCaches()
		}
		p := startReloadd(b, bin, "-watch", "poll", root)
		b.ReportMetric(p.ready.Seconds(), "ready-s")
		// Let the start-up settle (first sweep hashes what the baseline
		// left), then measure a window of idleness.
		warm := 10 * time.Second
		time.Sleep(warm)
		c0, w0 := p.cpu(b), time.Now()
		time.Sleep(idle)
		c1, w1 := p.cpu(b), time.Now()
		rss, hwm := p.mem(b)
		b.ReportMetric(100*float64(c1-c0)/float64(w1.Sub(w0)), "idle-cpu-%")
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		b.ReportMetric(float64(hwm)/(1<<20), "peak-rss-MiB")
		p.stop(b)
	}
	b.ReportMetric(0, "ns/op")
}

// BenchmarkReloaddDetect100k measures write → build_complete (WebSocket)
// on the 100k tree with -watch poll: a recently changed file written again,
// a rename-style save of a random never-touched file, and an in-place
// write to a random never-touched file.
func BenchmarkReloaddDetect100k(b *testing.B) {
	root := bigTree(b)
	bin := buildReloadd(b)
	p := startReloadd(b, bin, "-watch", "poll", root)
	defer p.stop(b)
	c := p.dial(b)
	defer c.close()
	rng := rand.New(rand.NewPCG(1, 2))
	randomFile := func() string {
		d := rng.IntN(500)
		return filepath.Join(root, fmt.Sprintf("section%02d", d/20), fmt.Sprintf("page%02d", d%20), fmt.Sprintf("file%03d.html", rng.IntN(200)))
	}
	n := 0
	content := func() []byte { n++; return fmt.Appendf(nil, "<h1>bench %d %d</h1>\n", time.Now().UnixNano(), n) }
	time.Sleep(10 * time.Second) // past the start-up (fill pass)
	hot := randomFile()
	// Make it recently changed: one untimed change, seen by the cold sweep.
	must(b, os.WriteFile(hot, content(), 0o644))
	if _, err := c.awaitPath(hot, time.Minute); err != nil {
		b.Fatalf("warm-up change not seen: %v", err)
	}
	b.Run("recently-changed", func(b *testing.B) {
		ds, miss := trials(b, c, 30, 200, 700, func() string {
			must(b, os.WriteFile(hot, content(), 0o644))
			return hot
		})
		report(b, ds, miss)
	})
	b.Run("rename-save-any-file", func(b *testing.B) {
		ds, miss := trials(b, c, 30, 100, 300, func() string {
			f := randomFile()
			tmp := filepath.Join(filepath.Dir(f), "sedTmp"+strconv.Itoa(n))
			must(b, os.WriteFile(tmp, content(), 0o644))
			must(b, os.Rename(tmp, f))
			return f
		})
		report(b, ds, miss)
	})
	b.Run("in-place-never-touched", func(b *testing.B) {
		ds, miss := trials(b, c, 30, 100, 1000, func() string {
			f := randomFile()
			must(b, os.WriteFile(f, content(), 0o644))
			return f
		})
		report(b, ds, miss)
	})
}

// BenchmarkReloaddBindfs: a small site on a bindfs mount, reloadd -watch
// poll watching the mount, writes made on the backing side.
func BenchmarkReloaddBindfs(b *testing.B) {
	src, mnt := smallSite(b)
	testenv.Bindfs(b, src, mnt)
	mountBench(b, src, mnt)
}

// BenchmarkReloaddSSHFS: the same over sshfs of a loopback sshd.
func BenchmarkReloaddSSHFS(b *testing.B) {
	src, mnt := smallSite(b)
	testenv.SSHFS(b, src, mnt)
	mountBench(b, src, mnt)
}

// BenchmarkReloaddSSHFSDuplicates is issue 13's item 8 as a benchmark:
// `reloadd` (default mode) watches an sshfs mount of a loopback sshd, and
// index.html is saved 100 times on the server side, each time with a new
// length (a file that grew read cut to its old length, and a read between
// the truncate and the write, each made one save build twice). It reports
// the saves and the builds beyond one per save.
func BenchmarkReloaddSSHFSDuplicates(b *testing.B) {
	src, mnt := smallSite(b)
	testenv.SSHFS(b, src, mnt)
	bin := buildReloadd(b)
	p := startReloadd(b, bin, mnt)
	defer p.stop(b)
	c := p.dial(b)
	defer c.close()
	saves, builds, misses := 100, 0, 0
	f := filepath.Join(src, "index.html")
	for i := range saves {
		time.Sleep(time.Duration(300+rand.IntN(400)) * time.Millisecond) // pacing, and the quiet window below
		builds += c.count()
		data := fmt.Appendf(nil, "<h1>%d %s</h1>\n", i, strings.Repeat("x", rand.IntN(40)))
		must(b, os.WriteFile(f, data, 0o644))
		if _, err := c.awaitPath(filepath.Join(mnt, "index.html"), 15*time.Second); err != nil {
			misses++
			continue
		}
		builds++
	}
	time.Sleep(time.Second)
	builds += c.count()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(saves), "saves")
	b.ReportMetric(float64(builds-(saves-misses)), "duplicates")
	b.ReportMetric(float64(misses), "misses")
}

func smallSite(b *testing.B) (src, mnt string) {
	base := b.TempDir()
	src, mnt = filepath.Join(base, "src"), filepath.Join(base, "mnt")
	must(b, os.Mkdir(mnt, 0o755))
	for i := range 20 {
		p := filepath.Join(src, fmt.Sprintf("posts/post%02d.html", i))
		must(b, os.MkdirAll(filepath.Dir(p), 0o755))
		must(b, os.WriteFile(p, []byte("<p>post</p>"), 0o644))
	}
	must(b, os.MkdirAll(filepath.Join(src, "css"), 0o755))
	must(b, os.WriteFile(filepath.Join(src, "css", "site.css"), []byte("h1{}"), 0o644))
	must(b, os.WriteFile(filepath.Join(src, "index.html"), []byte("<h1>0</h1>"), 0o644))
	return src, mnt
}

func mountBench(b *testing.B, src, mnt string) {
	bin := buildReloadd(b)
	p := startReloadd(b, bin, "-watch", "poll", mnt)
	defer p.stop(b)
	c := p.dial(b)
	defer c.close()
	n := 0
	b.Run("index.html", func(b *testing.B) {
		ds, miss := trials(b, c, 40, 50, 300, func() string {
			n++
			must(b, os.WriteFile(filepath.Join(src, "index.html"), fmt.Appendf(nil, "<h1>%d</h1>", n), 0o644))
			return filepath.Join(mnt, "index.html")
		})
		report(b, ds, miss)
	})
	b.Run("any-existing-file", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(3, 4))
		ds, miss := trials(b, c, 40, 50, 300, func() string {
			n++
			rel := "css/site.css"
			if i := rng.IntN(21); i < 20 {
				rel = fmt.Sprintf("posts/post%02d.html", i)
			}
			must(b, os.WriteFile(filepath.Join(src, rel), fmt.Appendf(nil, "<p>%d</p>", n), 0o644))
			return filepath.Join(mnt, rel)
		})
		report(b, ds, miss)
	})
}

// trials runs n trials, each after a random gap of lo–hi ms, and returns
// the latencies from the change to build_complete naming the changed
// path, and the number of misses (no build_complete within 15 s).
func trials(b *testing.B, c *wsClient, n, lo, hi int, change func() string) ([]time.Duration, int) {
	b.Helper()
	var ds []time.Duration
	miss := 0
	for range n {
		time.Sleep(time.Duration(lo+rand.IntN(hi-lo+1)) * time.Millisecond)
		c.drain()
		t0 := time.Now()
		path := change()
		at, err := c.awaitPath(path, 15*time.Second)
		if err != nil {
			miss++
			b.Logf("miss: %s: %v", path, err)
			continue
		}
		ds = append(ds, at.Sub(t0))
	}
	return ds, miss
}

func report(b *testing.B, ds []time.Duration, miss int) {
	b.Helper()
	slices.Sort(ds)
	at := func(q float64) float64 { return float64(testenv.Percentile(ds, q)) / 1e6 }
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(len(ds)), "n")
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.9), "p90-ms")
	b.ReportMetric(at(1), "max-ms")
	b.ReportMetric(float64(miss), "misses")
}

// dropCaches makes the baseline read from the disk (needs root).
func dropCaches() {
	syscall.Sync()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200)
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func buildReloadd(b *testing.B) string {
	b.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "reloadd-bench-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "reloadd")
		out, err := exec.Command("go", "build", "-o", builtBin, "github.com/reloadd/reloadd/cmd/reloadd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return builtBin
}

type proc struct {
	cmd   *exec.Cmd
	addr  string
	ready time.Duration
	out   *testenv.Buffer
	done  chan struct{}
}

// startReloadd runs bin with args and returns once it answers HTTP (its
// watcher's baseline is done by then).
func startReloadd(b *testing.B, bin string, args ...string) *proc {
	b.Helper()
	addr := testenv.FreeAddr(b)
	p := &proc{addr: addr, out: &testenv.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"-addr", addr}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	t0 := time.Now()
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	for {
		select {
		case <-p.done:
			b.Fatalf("reloadd exited:\n%s", p.out)
		default:
		}
		if resp, err := http.Get("http://" + addr + "/_reloadd/status"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Since(t0) > time.Minute {
			p.stop(b)
			b.Fatalf("reloadd did not come up:\n%s", p.out)
		}
		time.Sleep(2 * time.Millisecond)
	}
	p.ready = time.Since(t0)
	return p
}

func (p *proc) stop(b *testing.B) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		b.Errorf("reloadd ignored SIGTERM")
	}
}

// cpu returns utime+stime of the process from /proc/PID/stat.
func (p *proc) cpu(b *testing.B) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}

// mem returns VmRSS and VmHWM in bytes.
func (p *proc) mem(b *testing.B) (rss, hwm int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

type wsMsg struct {
	at time.Time
	m  map[string]any
}

type wsClient struct {
	conn *websocket.Conn
	msgs chan wsMsg
	done chan struct{}
}

func (p *proc) dial(b *testing.B) *wsClient {
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+p.addr+"/_reloadd/ws", nil)
	if err != nil {
		b.Fatal(err)
	}
	c := &wsClient{conn: conn, msgs: make(chan wsMsg, 1024), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			var m map[string]any
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			select {
			case c.msgs <- wsMsg{time.Now(), m}:
			default: // the benchmark drains between trials
			}
		}
	}()
	return c
}

func (c *wsClient) close() {
	c.conn.Close()
	<-c.done
}

// count returns how many build_complete messages are queued, and drops
// every queued message.
func (c *wsClient) count() int {
	n := 0
	for {
		select {
		case m := <-c.msgs:
			if m.m["type"] == "build_complete" {
				n++
			}
		default:
			return n
		}
	}
}

func (c *wsClient) drain() {
	for {
		select {
		case <-c.msgs:
		default:
			return
		}
	}
}

// awaitPath returns when a build_complete naming path arrived.
func (c *wsClient) awaitPath(path string, limit time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		select {
		case m := <-c.msgs:
			if m.m["type"] != "build_complete" {
				continue
			}
			paths, _ := m.m["paths"].([]any)
			if slices.Contains(paths, any(path)) {
				return m.at, nil
			}
		case <-c.done:
			return time.Time{}, errors.New("connection closed")
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}
