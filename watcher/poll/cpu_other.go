//go:build !linux

package poll

import "time"

// processCPU is not measured here: sweeps are bounded by wall time alone.
func processCPU() time.Duration { return 0 }
