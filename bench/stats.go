package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/reloadd/reloadd/internal/stats"
)

// summary summarises a sample of latencies.
type summary struct {
	n                  int
	p50, p90, p99, max time.Duration
}

// summarize computes nearest-rank percentiles: pq is the smallest sample
// with at least q of the samples at or below it. With 30 samples p99 is the
// maximum; the table says n so readers can tell.
func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return stats.Percentile(s, q) }
	return summary{n: len(s), p50: at(0.50), p90: at(0.90), p99: at(0.99), max: s[len(s)-1]}
}

// fmtMS formats a duration in milliseconds with precision suited to its size.
func fmtMS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2f", ms)
	case ms < 1000:
		return fmt.Sprintf("%.1f", ms)
	default:
		return fmt.Sprintf("%.0f", ms)
	}
}

// msDuration converts fractional milliseconds to a Duration.
func msDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
