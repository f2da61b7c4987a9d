package stats

import "testing"

func TestPercentile(t *testing.T) {
	thirty := make([]int, 30)
	for i := range thirty {
		thirty[i] = i + 1
	}
	tests := []struct {
		in   []int
		q    float64
		want int
	}{
		{nil, 0.5, 0},
		{[]int{7}, 0.5, 7},
		{[]int{7}, 0.99, 7},
		{[]int{1, 2}, 0.5, 1},
		{[]int{1, 2, 3, 4}, 0.5, 2},
		{[]int{1, 2, 3, 4}, 0.75, 3},
		{[]int{1, 2, 3, 4}, 0.76, 4},
		{thirty, 0.50, 15},
		{thirty, 0.90, 27},
		{thirty, 0.99, 30},
		{thirty, 1, 30},
		{thirty, 0.001, 1},
	}
	for _, tc := range tests {
		if got := Percentile(tc.in, tc.q); got != tc.want {
			t.Errorf("Percentile(%v, %v) = %d, want %d", tc.in, tc.q, got, tc.want)
		}
	}
}
