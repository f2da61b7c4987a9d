package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

// wsLatency measures write → build_complete at a WebSocket client: it starts
// reloadd with args on a fresh site, then writes index.html trials times
// (after warmup writes that are not counted), with random gaps between
// writes, and returns one latency per trial.
func wsLatency(bin string, args []string, warmup, trials int) ([]time.Duration, error) {
	site, err := os.MkdirTemp("", "reloadd-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(site)
	index := filepath.Join(site, "index.html")
	if err := os.WriteFile(index, []byte("<h1>0</h1>"), 0o644); err != nil {
		return nil, err
	}
	d, err := startDaemon(bin, append(args, site)...)
	if err != nil {
		return nil, err
	}
	defer d.stop()
	c, err := dialWS(d.addr)
	if err != nil {
		return nil, err
	}
	defer c.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, _, err = c.await(ctx, "hello")
	cancel()
	if err != nil {
		return nil, fmt.Errorf("hello: %w", err)
	}
	var out []time.Duration
	for i := range warmup + trials {
		time.Sleep(time.Duration(20+rand.IntN(30)) * time.Millisecond)
		t0 := time.Now()
		if err := os.WriteFile(index, fmt.Appendf(nil, "<h1>%d</h1>", i+1), 0o644); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var at time.Time
		for {
			var m map[string]any
			at, m, err = c.await(ctx, "build_complete")
			// Only a build of this write counts: not the start-up build
			// (no paths; with -build it may come after hello), nor a late
			// second build of the previous write (-debounce 0 can split a
			// write's truncate and data into two builds).
			paths, _ := m["paths"].([]any)
			at0, _ := m["changed_at"].(float64)
			if err != nil || (len(paths) > 0 && int64(at0) >= t0.UnixMilli()) {
				break
			}
		}
		cancel()
		if err != nil {
			return nil, fmt.Errorf("trial %d: no build_complete: %w\n%s", i, err, d.out)
		}
		if i >= warmup {
			out = append(out, at.Sub(t0))
		}
	}
	return out, nil
}
