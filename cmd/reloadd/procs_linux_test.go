package main

import (
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

// assertAlive fails unless every pid is running.
func assertAlive(t *testing.T, pids ...int) {
	t.Helper()
	for _, p := range pids {
		if !testenv.Alive(p) {
			t.Fatalf("process %d is not running", p)
		}
	}
}
