package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/stats"
)

// BenchmarkSoak is the long run of issue 13: 5,000 saves at 50 a second
// (100 s) into a small site, with 20 WebSocket clients connected, against
// the real binary. It reports whether anything was lost — every save must
// reach every client in a build_complete that names its file and whose
// first change is no earlier than the save (coalescing is fine) — and
// whether the daemon grows: its RSS and open descriptors at the start and
// the end. It is a benchmark, not a test, so CI's default run skips it:
//
//	go test -run '^$' -bench Soak -benchtime 1x -timeout 10m ./bench
//
// RELOADD_SOAK_SAVES and RELOADD_SOAK_RATE change the size (default 5000 at
// 50/s).
func BenchmarkSoak(b *testing.B) {
	saves := envInt("RELOADD_SOAK_SAVES", 5000)
	rate := envInt("RELOADD_SOAK_RATE", 50)
	const clients, files = 20, 10
	bin := reloaddBinary(b)
	for range b.N {
		site := b.TempDir()
		if err := writeSite(site); err != nil {
			b.Fatal(err)
		}
		paths := make([]string, files)
		for i := range paths {
			paths[i] = filepath.Join(site, fmt.Sprintf("page%d.html", i))
			if err := os.WriteFile(paths[i], []byte("<p>0</p>"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(saves/rate)*time.Second+5*time.Minute)
		d, err := startDaemon(ctx, bin, site)
		if err != nil {
			b.Fatal(err)
		}
		cs := make([]*wsClient, clients)
		for i := range cs {
			if cs[i], _, err = dialWS(ctx, d.addr); err != nil {
				b.Fatal(err)
			}
		}
		// Each client records, per file, the latest build_complete time
		// naming it, by the build's changed_at.
		type seen struct {
			mu   sync.Mutex
			last map[string]int64 // path → latest changed_at (Unix ms) built
			at   map[string]time.Time
		}
		views := make([]*seen, clients)
		var wg sync.WaitGroup
		for i, c := range cs {
			v := &seen{last: map[string]int64{}, at: map[string]time.Time{}}
			views[i] = v
			wg.Add(1)
			go func() {
				defer wg.Done()
				for m := range c.msgs {
					if m.Type != "build_complete" {
						continue
					}
					v.mu.Lock()
					for _, p := range m.Paths {
						v.last[p] = max(v.last[p], m.ChangedAt)
						v.at[p] = m.At
					}
					v.mu.Unlock()
				}
			}()
		}
		mem0, _ := memoryOf(d.pid())
		fds0 := openFDs(d.pid())

		b.ResetTimer()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		writes := make([]time.Time, saves)
		for i := range saves {
			<-tick.C
			p := paths[i%files]
			if writes[i], err = writeFile(p, fmt.Appendf(nil, "<p>%d</p>", i+1)); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
		// The last save of each file must reach every client.
		lastWrite := map[string]time.Time{}
		for i, t := range writes {
			lastWrite[paths[i%files]] = t
		}
		deadline := time.Now().Add(time.Minute)
		lost := 0
		var lat []time.Duration
		for _, v := range views {
			for p, t := range lastWrite {
				for {
					v.mu.Lock()
					got, at := v.last[p], v.at[p]
					v.mu.Unlock()
					if got >= t.UnixMilli() {
						lat = append(lat, at.Sub(t))
						break
					}
					if time.Now().After(deadline) {
						lost++
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		}
		b.StopTimer()
		mem1, _ := memoryOf(d.pid())
		fds1 := openFDs(d.pid())
		st, _ := d.status()
		for _, c := range cs {
			c.close()
		}
		wg.Wait()
		d.stop()
		cancel()
		slices.Sort(lat)
		b.ReportMetric(float64(lost), "lost")
		b.ReportMetric(float64(st.Build), "builds")
		b.ReportMetric(float64(mem0.rss)/1024, "rss-start-MiB")
		b.ReportMetric(float64(mem1.rss)/1024, "rss-end-MiB")
		b.ReportMetric(float64(fds0), "fds-start")
		b.ReportMetric(float64(fds1), "fds-end")
		b.ReportMetric(float64(stats.Percentile(lat, 0.5))/1e6, "last-save-p50-ms")
		if lost > 0 {
			b.Errorf("%d of %d (client, file) pairs never got the file's last save", lost, clients*files)
		}
	}
}

// openFDs counts the descriptors pid has open (-1 when unknown).
func openFDs(pid int) int {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1
	}
	return len(es)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
