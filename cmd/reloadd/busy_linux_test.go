package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

func TestRestartPolicyKillsTheWholeGroup(t *testing.T) {
	root := t.TempDir()
	src, logs := filepath.Join(root, "src"), filepath.Join(root, "logs")
	must(t, os.Mkdir(src, 0o755))
	must(t, os.Mkdir(logs, 0o755))
	mode := filepath.Join(src, "mode")
	writeFile(t, mode, "fast")
	writeFile(t, filepath.Join(logs, "n"), "0")
	// A slow build spawns a child and a child shell whose own child ignores
	// SIGTERM; it records all their pids.
	buildCmd := `n=$(( $(cat "` + logs + `/n") + 1 )); echo $n > "` + logs + `/n"
if grep -q slow ` + shq(mode) + `; then
  sleep 60 & a=$!
  sh -c 'trap "" TERM; sleep 60 & echo $! > "` + logs + `/grand.'$n'"; wait' & b=$!
  echo $$ $a $b > "` + logs + `/pids.$n"
  wait
fi`
	d := startDaemon(t, testenv.FreeAddr(t), "-on-busy", "restart", "-grace", "200ms", "-build", buildCmd, src)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)

	writeFile(t, mode, "slow")
	ws.expect("build_start 2", isBuild("build_start", 2))
	pids := append(testenv.ReadPids(t, filepath.Join(logs, "pids.2"), 3), testenv.ReadPids(t, filepath.Join(logs, "grand.2"), 1)...)
	assertAlive(t, pids...)

	// A change while it runs: build 2's whole group goes, and build 3 has
	// the union of the changes.
	other := filepath.Join(src, "other")
	writeFile(t, mode, "fast")
	writeFile(t, other, "x")
	done, skipped := ws.expect("build_complete", isType("build_complete"))
	testenv.WaitGone(t, pids[0], pids...)
	for _, m := range skipped {
		if m["build"] == float64(2) && m["type"] != "build_start" {
			t.Errorf("the cancelled build 2 was announced: %v", m)
		}
	}
	got := done["paths"].([]any)
	if !slices.Contains(got, any(mode)) || !slices.Contains(got, any(other)) {
		t.Errorf("build %v paths = %v, want both %s and %s", done["build"], got, mode, other)
	}
	testenv.Eventually(t, "the cancelled line", func() bool {
		return strings.Contains(d.out.String(), "build 2  ") && strings.Contains(d.out.String(), "cancelled")
	})
}

func TestBuildTimeoutIsReported(t *testing.T) {
	src := t.TempDir()
	mode := filepath.Join(src, "mode")
	writeFile(t, mode, "ok")
	d := startDaemon(t, testenv.FreeAddr(t), "-build-timeout", "300ms", "-grace", "100ms",
		"-build", `if grep -q hang `+shq(mode)+`; then echo hanging; sleep 60; fi`, src)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)
	writeFile(t, mode, "hang")
	failed, _ := ws.expect("build_failed 2", isBuild("build_failed", 2))
	out := failed["output"].(string)
	if failed["exit_code"] != float64(-1) || !strings.Contains(out, "timed out after 300ms") || !strings.Contains(out, "hanging") {
		t.Errorf("build_failed = %v", failed)
	}
}
