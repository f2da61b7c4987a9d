package main

import (
	"os"
	"testing"
	"time"
)

// TestQuickSuite runs the suite's smoke subset: it checks that every figure
// can be measured, never what the figures are.
func TestQuickSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := runSuite(f, true, 0); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkWriteToBuildComplete reports write → build_complete latency at a
// WebSocket client, native watching, for the default settle window and for
// -debounce 0. Each iteration is one save; p50/p99 are reported as metrics.
func BenchmarkWriteToBuildComplete(b *testing.B) {
	bin, err := buildReloadd(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"settle=default", nil},
		{"debounce=0", []string{"-debounce", "0"}},
		{"settle=default/build=true", []string{"-build", "true"}},
		{"debounce=0/build=true", []string{"-debounce", "0", "-build", "true"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ds, err := wsLatency(bin, c.args, 3, b.N)
			if err != nil {
				b.Fatal(err)
			}
			s := summarize(ds)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(s.p50)/float64(time.Millisecond), "p50-ms")
			b.ReportMetric(float64(s.p99)/float64(time.Millisecond), "p99-ms")
		})
	}
}
