//go:build !linux

package poll

import "time"

// threadCPU is not measured here: sweeps are bounded by wall time alone.
func threadCPU() time.Duration { return 0 }
