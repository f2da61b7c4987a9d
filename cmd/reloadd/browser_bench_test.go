package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/reloadd/reloadd/internal/testenv"
)

// BenchmarkWriteToPageReloaded measures save → page reloaded in headless
// Chromium with native watching: from just before os.WriteFile of
// index.html to the reloaded page's load event (the browser's
// performance.timeOrigin + loadEventEnd; same machine, same clock). The
// daemon runs in-process. Each iteration is one save; p50/p90 of the load
// event and p50 of DOMContentLoaded are reported.
//
//	go test -run '^$' -bench WriteToPageReloaded -benchtime 30x ./cmd/reloadd
func BenchmarkWriteToPageReloaded(b *testing.B) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"settle=default", nil},
		{"debounce=0", []string{"-debounce", "0"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := testenv.Chromium(b)
			site := b.TempDir()
			index := filepath.Join(site, "index.html")
			pageN := func(n int) []byte {
				return fmt.Appendf(nil, `<!doctype html><html><head><title>t</title></head><body><h1 id="title">%d</h1></body></html>`, n)
			}
			if err := os.WriteFile(index, pageN(0), 0o644); err != nil {
				b.Fatal(err)
			}
			addr := benchDaemon(b, append(c.args, site)...)
			if err := chromedp.Do(ctx, chromedp.Navigate("http://"+addr+"/")); err != nil {
				b.Fatal(err)
			}
			testenv.WaitJS(b, ctx, `!!window.__reloadd && __reloadd.connected`)

			const warmup = 3
			var load, dcl []float64
			b.ResetTimer()
			for i := range warmup + b.N {
				time.Sleep(time.Duration(20+rand.IntN(30)) * time.Millisecond)
				wctx, cancel := context.WithTimeout(ctx, testenv.WaitLimit)
				loaded := chromedp.Events(wctx, cdppage.LoadEventFired) // subscribed from here on
				t0 := float64(time.Now().UnixMicro()) / 1000
				if err := os.WriteFile(index, pageN(i+1), 0o644); err != nil {
					b.Fatal(err)
				}
				for _, err := range loaded {
					if err != nil {
						b.Fatalf("save %d: no reload: %v", i+1, err)
					}
					break
				}
				cancel()
				testenv.WaitJS(b, ctx, fmt.Sprintf(`document.getElementById("title").textContent === "%d" && performance.getEntriesByType("navigation")[0].loadEventEnd > 0`, i+1))
				tm, err := chromedp.Run(ctx, chromedp.Evaluate[[2]float64](
					`(n => [performance.timeOrigin + n.loadEventEnd, performance.timeOrigin + n.domContentLoadedEventEnd])(performance.getEntriesByType("navigation")[0])`))
				if err != nil {
					b.Fatal(err)
				}
				if i >= warmup {
					load = append(load, tm[0]-t0)
					dcl = append(dcl, tm[1]-t0)
				}
			}
			b.StopTimer()
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(percentile(load, 0.50), "p50-ms")
			b.ReportMetric(percentile(load, 0.90), "p90-ms")
			b.ReportMetric(percentile(dcl, 0.50), "dcl-p50-ms")
		})
	}
}

func percentile(v []float64, q float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return testenv.Percentile(s, q)
}

// benchDaemon runs reloadd in-process for a benchmark and returns its
// address.
func benchDaemon(b *testing.B, args ...string) string {
	b.Helper()
	addr := testenv.FreeAddr(b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	out := &testenv.Buffer{}
	go func() { done <- run(ctx, append([]string{"-addr", addr}, args...), out, out) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	testenv.Eventually(b, "reloadd to answer", func() bool {
		resp, err := http.Get("http://" + addr + "/_reloadd/status")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	return addr
}
