// Package testenv holds helpers shared by reloadd's tests: finding the real
// tools they drive (Chromium, bindfs, editors), and deadline-bounded waits.
//
// Tests that need a tool skip when it is missing on a developer's machine;
// with RELOADD_CI=1 (set by .ci/run) a missing tool fails the test instead,
// so CI can never pass by skipping.
package testenv

import (
	"bytes"
	"cmp"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/stats"
)

// WaitLimit bounds every wait in tests: generous, because CI runs on a
// loaded 2-core machine, and only reached when something is broken.
const WaitLimit = 20 * time.Second

// CI reports whether missing tools must fail tests (RELOADD_CI=1).
func CI() bool { return os.Getenv("RELOADD_CI") == "1" }

// Need returns the path of the named program, or skips the test (fails it
// under RELOADD_CI) when it is not installed.
func Need(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" is not installed")
	}
	return p
}

// Missing skips the test with reason, or fails it under RELOADD_CI.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if CI() {
		t.Fatalf("RELOADD_CI=1 and %s", reason)
	}
	t.Skip(reason)
}

// Eventually polls cond every few milliseconds until it returns true, and
// fails the test if it has not within WaitLimit. what describes the
// condition for the failure message.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	EventuallyShow(t, what, cond, nil)
}

// EventuallyShow is Eventually with, on failure, what show returns: the
// state the condition last looked at (a process's output, a status).
func EventuallyShow(t testing.TB, what string, cond func() bool, show func() string) {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			if show != nil {
				t.Fatalf("timed out after %v waiting for %s; %s", WaitLimit, what, show())
			}
			t.Fatalf("timed out after %v waiting for %s", WaitLimit, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Buffer is a bytes.Buffer that goroutines under test and the test itself
// can share: a daemon's output, a logger's.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// FreeAddr returns a loopback host:port nobody listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Percentile is stats.Percentile, the nearest-rank rule every figure
// reloadd reports uses.
func Percentile[T cmp.Ordered](sorted []T, q float64) T { return stats.Percentile(sorted, q) }
