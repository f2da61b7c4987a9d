package poll

import (
	"time"

	"golang.org/x/sys/unix"
)

// processCPU returns the CPU time (user and system) the whole process has
// used, from the scheduler's own count (CLOCK_PROCESS_CPUTIME_ID: exact,
// where getrusage's can be sampled at the timer tick). The sweeps of
// shares charge their budget with it rather than with their own thread's
// time: each look through FUSE also costs the Go runtime's monitor and the
// threads that take over while the loop waits in the kernel, about as much
// again, and the budget is meant for what the process costs.
func processCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
