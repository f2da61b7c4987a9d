// Package stats holds the one percentile rule reloadd reports with: the
// status page's histograms, the benchmarks and the bench suite.
package stats

import (
	"cmp"
	"math"
)

// Percentile returns the q-quantile (0 < q ≤ 1) of sorted by the nearest
// rank: the smallest value with at least q of the values at or below it.
// With 30 samples p99 is the maximum. It returns the zero value for an
// empty slice.
func Percentile[T cmp.Ordered](sorted []T, q float64) T {
	if len(sorted) == 0 {
		var zero T
		return zero
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
