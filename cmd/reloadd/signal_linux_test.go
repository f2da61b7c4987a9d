package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

// TestSignalStopsEverythingAndExitsZero runs the real command (this test
// binary re-executed as reloadd), with a build and an app that both spawn
// children and partly ignore SIGTERM; it signals reloadd in the middle of
// a build and checks that it exits 0 and leaves no process behind.
func TestSignalStopsEverythingAndExitsZero(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			root := t.TempDir()
			src, logs := filepath.Join(root, "src"), filepath.Join(root, "logs")
			must(t, os.Mkdir(src, 0o755))
			must(t, os.Mkdir(logs, 0o755))
			mode := filepath.Join(src, "mode")
			writeFile(t, mode, "fast")
			buildPids, appPids := filepath.Join(logs, "build.pids"), filepath.Join(logs, "app.pids")
			// A slow build: a child that obeys SIGTERM, one that ignores it.
			buildCmd := `if grep -q slow ` + shq(mode) + `; then sleep 60 & a=$!; (trap '' TERM; exec sleep 60) & b=$!; echo $$ $a $b > ` + shq(buildPids) + `; wait; fi`
			// An app whose shell ignores SIGTERM, with a child that obeys it.
			appCmd := `sleep 60 & a=$!; trap '' TERM; echo $$ $a > ` + shq(appPids) + `; while :; do sleep 0.05; done`
			p := startReloaddProcess(t, "-grace", "300ms", "-build", buildCmd, "-run", appCmd, src)

			app := testenv.ReadPids(t, appPids, 2)
			writeFile(t, mode, "slow")
			bld := testenv.ReadPids(t, buildPids, 3)
			assertAlive(t, append(app, bld...)...)

			if code := p.signal(t, sig); code != 0 {
				t.Errorf("reloadd exited %d after %v, want 0; output:\n%s", code, sig, p.out)
			}
			testenv.WaitGone(t, app[0], app...)
			testenv.WaitGone(t, bld[0], bld...)
		})
	}
}
