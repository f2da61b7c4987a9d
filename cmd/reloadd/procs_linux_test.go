package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

// readPids reads the whitespace-separated pids a script wrote to path,
// waiting until the file holds want of them.
func readPids(t *testing.T, path string, want int) []int {
	t.Helper()
	var pids []int
	testenv.Eventually(t, fmt.Sprintf("%d pids in %s", want, path), func() bool {
		b, _ := os.ReadFile(path)
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
		return len(pids) >= want
	})
	return pids
}

// assertGone waits until none of pids is alive and process group pgid is
// empty (zombies count as gone: they have exited).
func assertGone(t *testing.T, pgid int, pids ...int) {
	t.Helper()
	testenv.Eventually(t, fmt.Sprintf("processes %v and group %d to be gone", pids, pgid), func() bool {
		for _, p := range pids {
			if testenv.Alive(p) {
				return false
			}
		}
		return len(testenv.GroupMembers(pgid)) == 0
	})
}

// assertAlive fails unless every pid is running.
func assertAlive(t *testing.T, pids ...int) {
	t.Helper()
	for _, p := range pids {
		if !testenv.Alive(p) {
			t.Fatalf("process %d is not running", p)
		}
	}
}
