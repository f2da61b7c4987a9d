//go:build linux

package build

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkBuildTrue measures what running a command costs reloadd: a
// build of "true", from Build's call to its result, with the command run
// directly in its own process group (what reloadd did before the
// supervisor, and still does off Linux) and under the supervisor. The
// difference is the supervisor's price per build: starting a second
// process, the same binary re-executed, once per Runner (so outside the
// loop), then a request over a socket per build. cpu-ms/op is the CPU
// time of this process and all its reaped descendants per build: steadier
// than the wall time on a loaded machine.
func BenchmarkBuildTrue(b *testing.B) {
	for _, tc := range []struct {
		name   string
		direct bool
	}{
		{"direct", true},
		{"supervised", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := New(Options{Command: "true"})
			r.direct = tc.direct
			r.Build(context.Background(), nil) // the supervisor's start is paid once, not per build
			cpu0 := cpuTime()
			for b.Loop() {
				if res := r.Build(context.Background(), []string{"/src/a.txt"}); !res.OK {
					b.Fatalf("build failed: %+v", res)
				}
			}
			r.Close() // reaps the supervisor: its CPU time, and its shells', count from here
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkBuildDetachedDaemon measures a build whose script starts a
// daemon that leaves its process group ("setsid sleep 1004 &") and keeps
// its output open, with the default grace period: directly, the build
// lasted grace + drainAfterKill (4 s) and left the daemon running; under
// the supervisor it ends at the shell's exit and the daemon is stopped
// (SIGTERM, which sleep obeys at once). ms-after-exit/op is the part
// from the shell's exit to Build's return; the rest is the script's own
// work.
func BenchmarkBuildDetachedDaemon(b *testing.B) {
	for _, tc := range []struct {
		name   string
		direct bool
	}{
		{"direct", true},
		{"supervised", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			// The script waits until the daemon has left its group, as a
			// real build's remaining work would.
			pidfile := filepath.Join(b.TempDir(), "pid")
			r := New(Options{Command: `rm -f ` + pidfile + `; setsid sh -c 'echo $$ > ` + pidfile + `; exec sleep 1004' & while [ ! -s ` + pidfile + ` ]; do sleep 0.001; done`})
			r.direct = tc.direct
			defer r.Close()
			var after time.Duration
			for b.Loop() {
				if res := r.Build(context.Background(), nil); !res.OK {
					b.Fatalf("build failed: %+v", res)
				}
				after += r.afterExit
				if b, err := os.ReadFile(pidfile); err == nil {
					if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
						syscall.Kill(pid, syscall.SIGKILL) // the direct run leaves it behind
					}
				}
			}
			b.ReportMetric(float64(after.Microseconds())/1000/float64(b.N), "ms-after-exit/op")
		})
	}
}

// cpuTime returns the user and system time of this process and of its
// children that have been waited for (theirs in turn included).
func cpuTime() time.Duration {
	var self, kids syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
	var total time.Duration
	for _, tv := range []syscall.Timeval{self.Utime, self.Stime, kids.Utime, kids.Stime} {
		total += time.Duration(tv.Nano())
	}
	return total
}
