package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/reloadd/reloadd/internal/testenv"
)

// BenchmarkSaveToBuildCompleteDashboards measures what dashboards cost a
// save: save → build_complete at a WebSocket client (from the rename that
// saves index.html to the client's reading the message), with
//
//   - none: no dashboard;
//   - blank-tabs=10: ten more headless Chromium tabs, on about:blank — the
//     baseline for the next one: idle headless tabs cost CPU by themselves
//     (with the test flags that keep background tabs running, ten of them
//     take about a core), which is not the dashboard's doing;
//   - dashboard-tabs=10: ten tabs of the dashboard, each following every
//     save live;
//   - ws-dashboards=10: ten WebSocket dashboard clients that only read:
//     reloadd's own share of the cost.
//
// A tab of the site is open in every case, so that each save also reloads
// a page and brings a report (which dashboards are sent). The daemon runs
// in-process with native watching and the default settle window; saves are
// atomic renames, 100–200 ms apart (gap=150ms: back to back, the next save
// comes while the dashboards draw the last one) or 400–600 ms apart
// (gap=500ms: saves by hand). Reported: p50, p90 and mean latency,
// the browser's CPU per save (all its processes, from /proc), and for the
// dashboard tabs their redraws, script time and messages per save.
//
//	go test -run '^$' -bench SaveToBuildCompleteDashboards -benchtime 200x ./cmd/reloadd
func BenchmarkSaveToBuildCompleteDashboards(b *testing.B) {
	for _, gap := range []time.Duration{150 * time.Millisecond, 500 * time.Millisecond} {
		for _, kind := range []string{"none", "blank-tabs=10", "dashboard-tabs=10", "ws-dashboards=10"} {
			b.Run(fmt.Sprintf("gap=%v/%s", gap, kind), func(b *testing.B) { benchDashboards(b, gap, kind) })
		}
	}
}

// benchDashboards is one case of BenchmarkSaveToBuildCompleteDashboards.
func benchDashboards(b *testing.B, gap time.Duration, kind string) {
	ctx := testenv.Chromium(b)
	site, scratch := b.TempDir(), b.TempDir()
	index := filepath.Join(site, "index.html")
	pageN := func(n int) []byte {
		return fmt.Appendf(nil, `<!doctype html><html><head><title>t</title></head><body><h1 id="title">%d</h1></body></html>`, n)
	}
	if err := os.WriteFile(index, pageN(0), 0o644); err != nil {
		b.Fatal(err)
	}
	addr := benchDaemon(b, site)
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
		b.Fatal(err)
	}
	testenv.WaitJS(b, ctx, `!!window.__reloadd && __reloadd.connected`)
	dashTabs := openDashboards(b, ctx, addr, kind)

	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/_reloadd/ws", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	await := func(typ string) map[string]any {
		for {
			conn.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
			var m map[string]any
			if err := conn.ReadJSON(&m); err != nil {
				b.Fatal(err)
			}
			if m["type"] == typ {
				return m
			}
		}
	}
	await("hello")

	const warmup = 5
	var lat []float64
	cpu0 := browserCPU(ctx)
	b.ResetTimer()
	for i := range warmup + b.N {
		time.Sleep(gap - 50*time.Millisecond + rand.N(100*time.Millisecond))
		// An atomic save (as most editors do), written outside the
		// watched tree: one event, one build.
		tmp := filepath.Join(scratch, "index.html")
		if err := os.WriteFile(tmp, pageN(i+1), 0o644); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := os.Rename(tmp, index); err != nil {
			b.Fatal(err)
		}
		if m := await("build_complete"); m["build"] != float64(i+1) {
			b.Fatalf("save %d: build_complete %v", i+1, m["build"])
		}
		if i >= warmup {
			lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
		}
	}
	b.StopTimer()
	cpu := browserCPU(ctx) - cpu0
	// The page's reloads happened along.
	testenv.WaitJS(b, ctx, fmt.Sprintf(`document.getElementById("title").textContent === "%d"`, warmup+b.N))
	n := float64(warmup + b.N)
	if len(dashTabs) > 0 {
		st, err := chromedp.Run(dashTabs[0], chromedp.Evaluate[[3]float64](`[__dash.renders, __dash.renderMS, __dash.messages]`))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(st[0]/n, "redraws/save")
		b.ReportMetric(st[1]/n, "script-ms/save") // wall time, layout and paint not included
		b.ReportMetric(st[2]/n, "messages/save")
	}
	mean := 0.0
	for _, v := range lat {
		mean += v
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(percentile(lat, 0.50), "p50-ms")
	b.ReportMetric(percentile(lat, 0.90), "p90-ms")
	b.ReportMetric(mean/float64(len(lat)), "mean-ms")
	b.ReportMetric(float64(cpu.Milliseconds())/n, "browser-cpu-ms/save")
}

// openDashboards opens what kind asks for besides the site's tab, and
// returns the dashboard tabs.
func openDashboards(b *testing.B, ctx context.Context, addr, kind string) []context.Context {
	var tabs []context.Context
	for range 10 {
		switch kind {
		case "none":
			return nil
		case "ws-dashboards=10":
			c, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/_reloadd/ws?dashboard=1", nil)
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					if _, _, err := c.ReadMessage(); err != nil {
						return
					}
				}
			}()
			b.Cleanup(func() {
				c.Close()
				<-done
			})
			continue
		}
		tab, cancel := chromedp.NewContext(ctx)
		b.Cleanup(cancel)
		u := "about:blank"
		if kind == "dashboard-tabs=10" {
			u = "http://" + addr + "/_reloadd/"
		}
		if err := chromedp.Do(tab, chromedp.Navigate(u)); err != nil {
			b.Fatal(err)
		}
		if kind == "dashboard-tabs=10" {
			testenv.WaitJS(b, tab, `!!window.__dash && __dash.connected`)
			tabs = append(tabs, tab)
		}
	}
	return tabs
}
