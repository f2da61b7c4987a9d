// Command bench is reloadd's time-to-reload suite. It builds the daemon,
// runs it against real files and real clients, and prints a Markdown table
// of latency percentiles with the machine, date and command.
//
//	go run ./bench          # full run
//	go run ./bench -quick   # a smoke-test subset
//
// The figures are measurements, never assertions: CI runs -quick only to
// check that the suite works.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

func numCPU() int { return runtime.NumCPU() }

func main() {
	quick := flag.Bool("quick", false, "run a small subset quickly (smoke test)")
	trials := flag.Int("trials", 50, "measured trials per figure")
	flag.Parse()
	if err := runSuite(os.Stdout, *quick, *trials); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func runSuite(w *os.File, quick bool, trials int) error {
	warmup := 5
	if quick {
		trials, warmup = 5, 1
	}
	tmp, err := os.MkdirTemp("", "reloadd-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin, err := buildReloadd(tmp)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Machine: %s. Date: %s. Command: `go run ./bench %s`.\n\n",
		machine(), time.Now().UTC().Format("2006-01-02"), strings.Join(os.Args[1:], " "))
	fmt.Fprintln(w, "| figure | n | p50 ms | p90 ms | p99 ms | max ms |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"write → build_complete (WebSocket), native, default settle (10 ms)", nil},
		{"write → build_complete (WebSocket), native, -debounce 0", []string{"-debounce", "0"}},
		{"write → build_complete (WebSocket), native, default settle, -build true", []string{"-build", "true"}},
		{"write → build_complete (WebSocket), native, -debounce 0, -build true", []string{"-debounce", "0", "-build", "true"}},
	} {
		ds, err := wsLatency(bin, c.args, warmup, trials)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		s := summarize(ds)
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", c.name, s.n, fmtMS(s.p50), fmtMS(s.p90), fmtMS(s.p99), fmtMS(s.max))
	}
	return nil
}
