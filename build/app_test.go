//go:build linux

package build

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
)

func newTestApp(t *testing.T, command string) (*App, *testenv.Buffer) {
	t.Helper()
	out := &testenv.Buffer{}
	a := NewApp(AppOptions{Command: command, Output: out, Grace: testGrace})
	t.Cleanup(func() { a.Close() })
	return a, out
}

func waitExited(t *testing.T, a *App) Exit {
	t.Helper()
	select {
	case <-a.Exited():
		return a.Reap()
	case <-time.After(testenv.WaitLimit):
		t.Fatal("app did not exit")
		return Exit{}
	}
}

func TestAppCrashIsReported(t *testing.T) {
	a, out := newTestApp(t, `echo 'listening <b>soon</b>'; echo 'panic: boom' >&2; exit 3`)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	ex := waitExited(t, a)
	want := "listening <b>soon</b>\npanic: boom\n"
	if ex.ExitCode != 3 || ex.Reason != "exit status 3" || ex.Output != want {
		t.Errorf("exit = %+v", ex)
	}
	if out.String() != want {
		t.Errorf("terminal got %q", out.String())
	}
	if a.Running() || a.Exited() != nil {
		t.Error("app still counted as running after Reap")
	}
}

func TestAppStopIsGraceful(t *testing.T) {
	a, out := newTestApp(t, `trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.01; done`)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the app to be up", func() bool { return strings.Contains(out.String(), "up") })
	pgid := a.Pid()
	a.Stop()
	if !strings.Contains(out.String(), "bye") {
		t.Errorf("app did not get to run its SIGTERM handler; output %q", out.String())
	}
	testenv.WaitGone(t, pgid, pgid)
	a.Stop() // idempotent
}

func TestAppStopKillsTheGroupAfterGrace(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pids")
	a, _ := newTestApp(t, `trap '' TERM; sleep 60 & echo $$ $! > `+pidfile+`; while :; do sleep 0.01; done`)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	pids := testenv.ReadPids(t, pidfile, 2)
	a.Stop()
	testenv.WaitGone(t, pids[0], pids...)
}

func TestAppStartReplacesTheRunningProcess(t *testing.T) {
	dir := t.TempDir()
	a, _ := newTestApp(t, `echo $$ >> `+filepath.Join(dir, "pids")+`; sleep 60 & wait`)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	first := testenv.ReadPids(t, filepath.Join(dir, "pids"), 1)[0]
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitGone(t, first, first)
	second := testenv.ReadPids(t, filepath.Join(dir, "pids"), 2)[1]
	if second == first || !testenv.Alive(second) {
		t.Errorf("second process %d (first %d) not running", second, first)
	}
	select {
	case <-a.Exited():
		t.Error("stopping the first process was reported as an exit")
	default:
	}
}

func TestAppWaitReady(t *testing.T) {
	t.Run("returns once the port accepts", func(t *testing.T) {
		addr := testenv.FreeAddr(t)
		a, _ := newTestApp(t, "sleep 60")
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		res := make(chan error, 1)
		go func() { res <- a.WaitReady(context.Background(), addr, testenv.WaitLimit) }()
		// Nothing listens yet, so WaitReady cannot have succeeded: listen
		// now, and it must come through this listener.
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		conn, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if err := <-res; err != nil {
			t.Errorf("WaitReady = %v", err)
		}
	})
	t.Run("times out when nothing listens", func(t *testing.T) {
		addr := testenv.FreeAddr(t)
		a, _ := newTestApp(t, "sleep 60")
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		err := a.WaitReady(context.Background(), addr, 200*time.Millisecond)
		if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("WaitReady = %v, want ErrNotReady naming %s and the refusal", err, addr)
		}
		if !a.Running() {
			t.Error("a timeout must leave the app running (the caller decides)")
		}
	})
	t.Run("reports an app that exits first", func(t *testing.T) {
		a, _ := newTestApp(t, "echo 'cannot bind: address in use'; exit 1")
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		err := a.WaitReady(context.Background(), testenv.FreeAddr(t), testenv.WaitLimit)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Exit.ExitCode != 1 || ee.Exit.Output != "cannot bind: address in use\n" {
			t.Errorf("WaitReady = %v, want an ExitError with the output", err)
		}
		if a.Running() {
			t.Error("the exited app was not reaped")
		}
	})
	t.Run("stops when the context is cancelled", func(t *testing.T) {
		a, _ := newTestApp(t, "sleep 60")
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := a.WaitReady(ctx, testenv.FreeAddr(t), testenv.WaitLimit); !errors.Is(err, context.Canceled) {
			t.Errorf("WaitReady = %v, want context.Canceled", err)
		}
	})
	t.Run("nothing running", func(t *testing.T) {
		a, _ := newTestApp(t, "true")
		if err := a.WaitReady(context.Background(), testenv.FreeAddr(t), time.Second); err == nil {
			t.Error("WaitReady without a running app succeeded")
		}
	})
}
