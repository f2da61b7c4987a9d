//go:build linux

package build

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// BenchmarkBuildTrue measures what running a command costs reloadd: a
// build of "true", from Build's call to its result, with the command run
// directly in its own process group (what reloadd did before the
// supervisor, and still does off Linux) and under the supervisor. The
// difference is the supervisor's price per build: starting a second
// process, the same binary re-executed. Run it without -race: the race
// runtime makes every start of the binary much slower than reloadd's.
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
			defer r.Close()
			for b.Loop() {
				if res := r.Build(context.Background(), []string{"/src/a.txt"}); !res.OK {
					b.Fatalf("build failed: %+v", res)
				}
			}
		})
	}
}

// BenchmarkBuildDetachedDaemon measures a build whose script starts a
// daemon that leaves its process group ("setsid sleep 1004 &") and keeps
// its output open, with the default grace period: directly, the build
// lasted grace + drainAfterKill (4 s) and left the daemon running; under
// the supervisor it ends at the shell's exit and the daemon is stopped
// (SIGTERM, which sleep obeys at once).
func BenchmarkBuildDetachedDaemon(b *testing.B) {
	for _, tc := range []struct {
		name   string
		direct bool
	}{
		{"direct", true},
		{"supervised", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := New(Options{Command: "setsid sleep 1004 & echo $!"})
			r.direct = tc.direct
			defer r.Close()
			for b.Loop() {
				res := r.Build(context.Background(), nil)
				if !res.OK {
					b.Fatalf("build failed: %+v", res)
				}
				if pid, err := strconv.Atoi(strings.TrimSpace(res.Output)); err == nil {
					syscall.Kill(pid, syscall.SIGKILL) // the direct run leaves it behind
				}
			}
		})
	}
}
