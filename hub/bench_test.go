package hub

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/reloadd/reloadd/internal/testenv"
)

// The benchmarks run the hub in this process and the browsers in a child
// process (this test binary again, running TestSwarmHelper), so that 10,000
// clients fit the file-descriptor limit and the hub's memory is measured
// alone. The child prints "ready" when every client has its hello, and
// "done BUILD UNIXNANO" when every client has build_complete BUILD, with
// the wall-clock time the last one read it. It exits when its stdin closes.

const (
	swarmEnv  = "RELOADD_HUB_SWARM" // ws URL,client count
	swarmDial = 64                  // parallel dials
)

// TestSwarmHelper is the client side of the benchmarks; it does nothing in
// a normal test run.
func TestSwarmHelper(t *testing.T) {
	spec := os.Getenv(swarmEnv)
	if spec == "" {
		t.Skip("helper process for the benchmarks")
	}
	url, ns, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(ns)
	if err != nil {
		t.Fatal(err)
	}
	raiseFDLimit(t, n+100)
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		out.Flush()
		outMu.Unlock()
	}

	var (
		mu     sync.Mutex
		counts = map[int64]int{}
		conns  []*websocket.Conn
		ready  sync.WaitGroup
		wg     sync.WaitGroup
	)
	receive := func(c *websocket.Conn) {
		defer wg.Done()
		first := true
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			at := time.Now().UnixNano()
			if first {
				first = false
				ready.Done()
				continue
			}
			var m struct {
				Type  string `json:"type"`
				Build int64  `json:"build"`
			}
			if json.Unmarshal(data, &m) != nil || m.Type != TypeBuildComplete {
				continue
			}
			mu.Lock()
			counts[m.Build]++
			last := counts[m.Build] == n
			mu.Unlock()
			if last {
				say("done %d %d", m.Build, at)
			}
		}
	}
	ready.Add(n)
	next := make(chan struct{})
	var dialers sync.WaitGroup
	for range swarmDial {
		dialers.Go(func() {
			for range next {
				c, _, err := websocket.DefaultDialer.Dial(url, nil)
				if err != nil {
					say("error %v", err)
					os.Exit(1)
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				wg.Add(1)
				go receive(c)
			}
		})
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	dialers.Wait()
	ready.Wait()
	say("ready")
	io.Copy(io.Discard, os.Stdin) // until the benchmark is done
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}

// swarm is the child process.
type swarm struct {
	once  sync.Once
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startSwarm(b *testing.B, url string, n int) *swarm {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSwarmHelper$", "-test.count=1", "-test.v=false")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", swarmEnv, url, n))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s := &swarm{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	b.Cleanup(s.stop)
	s.await(b, "ready")
	return s
}

// await returns the next line starting with prefix.
func (s *swarm) await(b *testing.B, prefix string) string {
	b.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				b.Fatalf("swarm exited waiting for %q", prefix)
			}
			if strings.HasPrefix(l, "error") {
				b.Fatalf("swarm: %s", l)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-timeout:
			b.Fatalf("swarm: no %q", prefix)
		}
	}
}

func (s *swarm) stop() {
	s.once.Do(func() {
		s.stdin.Close()
		s.cmd.Wait()
	})
}

// BenchmarkBroadcast measures the time from Complete of a build_complete
// until the last of N clients has read it (clients in another process,
// wall clock). Each iteration is one broadcast; p50 and p99 are reported.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			raiseFDLimit(b, n+100)
			h := New(Options{Epoch: "bench"})
			srv := httptest.NewServer(h)
			defer srv.Close()
			defer h.Close()
			sw := startSwarm(b, wsURL(srv, "/"), n)
			for h.Clients() != n {
				time.Sleep(time.Millisecond)
			}
			var ds []time.Duration
			b.ResetTimer()
			for i := range b.N {
				build := int64(i + 1)
				t0 := time.Now()
				if _, err := h.Complete(BuildComplete{Build: build,
					Paths: []string{"/site/index.html"}, URLs: []string{"/index.html"}, ChangedAt: t0.UnixMilli()}); err != nil {
					b.Fatal(err)
				}
				f := strings.Fields(sw.await(b, fmt.Sprintf("done %d ", build)))
				at, _ := strconv.ParseInt(f[2], 10, 64)
				ds = append(ds, time.Duration(at-t0.UnixNano()))
			}
			b.StopTimer()
			slices.Sort(ds)
			pct := func(q float64) float64 { return float64(testenv.Percentile(ds, q)) / float64(time.Millisecond) }
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(pct(1), "max-ms")
		})
	}
}

// BenchmarkIdleClientMemory measures the hub process's live heap plus
// goroutine stacks per connected idle client (after GC), with the clients
// in another process. The iteration count is irrelevant.
func BenchmarkIdleClientMemory(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			raiseFDLimit(b, n+100)
			h := New(Options{Epoch: "bench"})
			srv := httptest.NewServer(h)
			defer srv.Close()
			defer h.Close()
			before := liveBytes()
			sw := startSwarm(b, wsURL(srv, "/"), n)
			for h.Clients() != n {
				time.Sleep(time.Millisecond)
			}
			// Let every writer and reader settle into its idle wait.
			time.Sleep(200 * time.Millisecond)
			after := liveBytes()
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(after-before)/float64(n), "B/client")
			sw.stop()
		})
	}
}

// liveBytes is the heap in use plus goroutine stacks, after a full GC.
func liveBytes() int64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc) + int64(ms.StackInuse)
}
