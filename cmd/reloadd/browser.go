package main

import (
	"fmt"
	"math"
	"net"
	"slices"
	"sync"

	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/internal/hostpolicy"
	"github.com/reloadd/reloadd/internal/stats"
)

// The browser side of the daemon: the hub, the HTTP surface in front of it,
// and what browsers report back.

// newHub builds the hub with reloadd's origin policy: no Origin, the
// listening host or a loopback name on any port, or an -allow-host name.
func (d *daemon) newHub() *hub.Hub {
	return hub.New(hub.Options{
		Epoch:       d.epoch,
		CheckOrigin: hostpolicy.New(d.cfg.addr, d.cfg.allowHosts).CheckOrigin,
		OnReloaded:  d.reloaded,
	})
}

// warnIfExposed prints a warning when reloadd listens on an address other
// machines can reach.
func (d *daemon) warnIfExposed(actual string) {
	if msg := exposureWarning(d.cfg.addr, actual); msg != "" {
		d.out.event("warning", msg, map[string]any{"addr": actual})
	}
}

// exposureWarning returns the warning for listening on configured (the
// -addr value; actual is the bound address), or "" when it is loopback
// only.
func exposureWarning(configured, actual string) string {
	host, _, err := net.SplitHostPort(configured)
	if err != nil {
		return ""
	}
	if host != "" && hostpolicy.IsLoopbackName(host) {
		return ""
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return fmt.Sprintf("reloadd: warning: listening on %s, which is not loopback: other machines on the network can read the served files and watch your builds", actual)
	}
	return fmt.Sprintf("reloadd: warning: listening on all interfaces (%s): other machines on the network can read the served files and watch your builds; "+
		"pages must be opened by IP address, a loopback name or an -allow-host name", actual)
}

// reloaded records a browser's timing report: in its save's breakdown
// (saves.go), in the latency histograms of /_reloadd/status, and with -log
// json as a "reloaded" line.
func (d *daemon) reloaded(r hub.Reloaded) {
	if r.Load <= 0 {
		return
	}
	what := "page loaded"
	switch {
	case r.CSSSwap && r.ImgSwap:
		what = "stylesheets and images swapped"
	case r.CSSSwap:
		what = "stylesheet swapped"
	case r.ImgSwap:
		what = "image swapped"
	}
	d.latency.add(r)
	d.saves.report(r) // the terminal's line for the save, the dashboard
	d.out.record("reloaded", fmt.Sprintf("build %d  saved → %s %.0f ms", r.Build, what, r.Load),
		map[string]any{"build": r.Build, "load_ms": r.Load, "dom_content_loaded_ms": r.DOMContentLoaded,
			"received_ms": r.Received, "css_swap": r.CSSSwap, "img_swap": r.ImgSwap})
}

// reloadLatency holds the save → screen figures browsers report, one
// histogram for full reloads and one for in-place swaps. Safe for
// concurrent use.
type reloadLatency struct {
	mu      sync.Mutex
	reloads histogram
	swaps   histogram
}

func (l *reloadLatency) add(r hub.Reloaded) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.CSSSwap || r.ImgSwap {
		l.swaps.add(r.Load)
	} else {
		l.reloads.add(r.Load)
	}
}

// latencyStatus is the "reload_latency" object of /_reloadd/status.
type latencyStatus struct {
	PageLoaded histogramStatus `json:"page_loaded"` // save → the reloaded page's load event
	Swapped    histogramStatus `json:"swapped"`     // save → swapped stylesheets or images loaded
}

func (l *reloadLatency) snapshot() latencyStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return latencyStatus{PageLoaded: l.reloads.status(), Swapped: l.swaps.status()}
}

// Design notes: bucketBoundsMS spans what a save → screen time can be, from
// a CSS swap (~10 ms) through the 70 ms a native reload targets to builds
// that take seconds. recentSamples bounds the memory of the percentiles,
// which describe the recent past; the bucket counts cover the whole run.
var bucketBoundsMS = []float64{10, 25, 50, 75, 100, 150, 250, 500, 1000, 2500, 5000, 10000}

const recentSamples = 1000

// histogram counts timings in fixed buckets and keeps the most recent
// samples for percentiles.
type histogram struct {
	count  int
	sum    float64
	counts []int // len(bucketBoundsMS)+1; the last is the overflow
	recent []float64
	next   int // ring position in recent once it is full
}

func (h *histogram) add(ms float64) {
	if h.counts == nil {
		h.counts = make([]int, len(bucketBoundsMS)+1)
	}
	h.count++
	h.sum += ms
	i, _ := slices.BinarySearch(bucketBoundsMS, ms)
	h.counts[i]++
	if len(h.recent) < recentSamples {
		h.recent = append(h.recent, ms)
	} else {
		h.recent[h.next] = ms
		h.next = (h.next + 1) % recentSamples
	}
}

type histogramStatus struct {
	Count   int      `json:"count"`
	MeanMS  float64  `json:"mean_ms"`
	P50MS   float64  `json:"p50_ms"` // percentiles over the last 1,000 reports
	P90MS   float64  `json:"p90_ms"`
	P99MS   float64  `json:"p99_ms"`
	MaxMS   float64  `json:"max_ms"`
	Buckets []bucket `json:"buckets"`
}

// bucket counts reports of at most LeMS milliseconds (and more than the
// previous bucket's); LeMS is null for the last, unbounded one.
type bucket struct {
	LeMS  *float64 `json:"le_ms"`
	Count int      `json:"count"`
}

func (h *histogram) status() histogramStatus {
	s := histogramStatus{Count: h.count, Buckets: make([]bucket, len(bucketBoundsMS)+1)}
	for i := range s.Buckets {
		if i < len(bucketBoundsMS) {
			s.Buckets[i].LeMS = &bucketBoundsMS[i]
		}
		if h.counts != nil {
			s.Buckets[i].Count = h.counts[i]
		}
	}
	if h.count == 0 {
		return s
	}
	s.MeanMS = round1(h.sum / float64(h.count))
	sorted := slices.Clone(h.recent)
	slices.Sort(sorted)
	at := func(q float64) float64 { return round1(stats.Percentile(sorted, q)) }
	s.P50MS, s.P90MS, s.P99MS, s.MaxMS = at(0.50), at(0.90), at(0.99), round1(sorted[len(sorted)-1])
	return s
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }
