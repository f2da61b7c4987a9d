//go:build unix

package siteindex

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time: on a loaded machine the
// wall-clock ns/op measures the queue for a core, this the work.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
