package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Readiness polling: see [App.WaitReady].
const (
	// DefaultReadyTimeout bounds the wait for an app to accept connections:
	// generous enough for a JVM or a Rails app that loads for a while,
	// bounded so that an app listening on the wrong port is reported
	// instead of leaving the browser waiting forever.
	DefaultReadyTimeout = 30 * time.Second
	// readyFast is the dial interval during readyFastFor: a refused dial on
	// loopback costs tens of microseconds, so polling this often costs
	// little and finds a quick app (Go, Node) within a few milliseconds of
	// it listening.
	readyFast    = 5 * time.Millisecond
	readyFastFor = time.Second
	// readySlow is the interval after that: an app that took a second to
	// start will not notice 50 ms more.
	readySlow = 50 * time.Millisecond
	// dialTimeout bounds one dial attempt: loopback answers at once, but a
	// remote address that drops packets would otherwise eat the whole wait.
	dialTimeout = time.Second
)

// ErrNotReady is wrapped by the error WaitReady returns when the app did
// not accept connections in time.
var ErrNotReady = errors.New("build: app did not accept connections")

// AppOptions configure an [App].
type AppOptions struct {
	// Command is the shell command of the long-running app.
	Command string
	// Dir is the working directory; empty means the current one.
	Dir string
	// Output receives the app's stdout and stderr as they are written; nil
	// discards them (the last TailSize bytes are still kept for Exit).
	Output io.Writer
	// Grace is the SIGTERM-to-SIGKILL delay when the app is stopped; 0
	// means DefaultGrace, NoGrace none.
	Grace time.Duration
	// TailSize is how much output Exit.Output keeps; 0 means
	// DefaultTailSize.
	TailSize int
	// CheckAddr, when set, is the host:port the app is to listen on
	// (-proxy's): Start then refuses to start the app while something
	// else already accepts connections there, and returns a
	// *PortInUseError naming it (see [CheckPort]). Without the check a
	// stale app would answer the readiness probe in the new one's place.
	CheckAddr string
}

// Exit describes how an app process ended.
type Exit struct {
	// ExitCode is the exit status, -1 if it was killed by a signal.
	ExitCode int
	// Reason is the status in words: "exit status 3", "signal: killed".
	Reason string
	// Output is the tail of its stdout and stderr.
	Output string
}

// ExitError is returned by WaitReady when the app ended before it accepted
// a connection.
type ExitError struct{ Exit Exit }

func (e *ExitError) Error() string {
	return "build: app exited before accepting connections (" + e.Exit.Reason + ")"
}

// App manages reloadd's -run command: at most one app at a time, started
// by Start, replaced by the next Start, stopped by Stop. An app is its main
// process (the shell) and, where the supervisor runs (Linux), every
// process it starts, also one that calls setsid; elsewhere its process
// group.
//
// App is not safe for concurrent use: one goroutine owns it (reloadd's
// build loop, which also watches Exited). Each app has two goroutines;
// Stop, Start and Close wait for those of the app they stop.
type App struct {
	opts   AppOptions
	sup    *link // the supervisor process, started by the first Start
	cur    *proc // the running (or exited, not yet reaped) app; nil if none
	reaped *proc // an app that exited and was reaped, whose leftovers may still be stopping
}

// NewApp returns an App that runs nothing yet.
func NewApp(opts AppOptions) *App {
	opts.Grace = graceOrDefault(opts.Grace)
	if opts.TailSize <= 0 {
		opts.TailSize = DefaultTailSize
	}
	return &App{opts: opts}
}

// Command returns the configured command.
func (a *App) Command() string { return a.opts.Command }

// Start stops the running app, if any, gracefully and waits for it; then,
// unless CheckAddr finds something else listening, it starts the command
// again.
func (a *App) Start() error {
	a.Stop()
	if a.opts.CheckAddr != "" {
		if err := CheckPort(a.opts.CheckAddr); err != nil {
			return err
		}
	}
	p, err := startProc(procSpec{
		command:  a.opts.Command,
		dir:      a.opts.Dir,
		env:      os.Environ(),
		out:      a.opts.Output,
		tailSize: a.opts.TailSize,
		grace:    a.opts.Grace,
	}, &a.sup)
	if err != nil {
		return fmt.Errorf("build: start app %q: %w", a.opts.Command, err)
	}
	a.cur = p
	return nil
}

// Stop stops the running app: SIGTERM to each of its processes, SIGKILL to
// those left after the grace period; it returns once they are gone (and,
// for an app that exited by itself, once what it left behind is gone). An
// exit that Exited reported and that was not reaped is dropped. Stop does
// nothing when nothing runs.
func (a *App) Stop() {
	if a.cur != nil {
		a.cur.stop()
		a.cur = nil
	}
	if a.reaped != nil {
		<-a.reaped.finished
		a.reaped = nil
	}
}

// Close stops the app (see Stop) and ends the supervisor process. It is
// idempotent; an App may still be started after Close.
func (a *App) Close() error {
	a.Stop()
	if a.sup != nil {
		a.sup.close()
		a.sup = nil
	}
	return nil
}

// Running reports whether a process has been started and not stopped or
// reaped (it may have exited by itself a moment ago: see Exited).
func (a *App) Running() bool { return a.cur != nil }

// Pid returns the process id of the running shell, which is also its
// process group id; 0 when nothing runs.
func (a *App) Pid() int {
	if a.cur == nil {
		return 0
	}
	return a.cur.pid()
}

// Output returns what the running process has written so far (its last
// TailSize bytes); "" when nothing runs.
func (a *App) Output() string {
	if a.cur == nil {
		return ""
	}
	return a.cur.tail.String()
}

// Exited returns a channel that is closed when the running app's main
// process ends by itself (crashes, or exits) and its output has been read.
// It is nil when nothing runs, so that a select on it waits. After it
// fires, call Reap. What the app left running is stopped from then on
// (SIGTERM, SIGKILL after the grace period); the next Start, Stop or
// Close waits until it is gone.
func (a *App) Exited() <-chan struct{} {
	if a.cur == nil {
		return nil
	}
	return a.cur.exited
}

// Reap returns how the process that Exited reported ended, and forgets it.
// It must only be called after Exited's channel was closed.
func (a *App) Reap() Exit {
	p := a.cur
	a.cur = nil
	<-p.exited
	a.reaped = p
	return Exit{ExitCode: p.exitCode(), Reason: p.reason(), Output: p.tail.String()}
}

// WaitReady waits until addr (host:port) accepts a TCP connection. It
// returns nil then; an *ExitError (the process is reaped) if the app ends
// first; an error wrapping ErrNotReady after timeout (0 means
// DefaultReadyTimeout); or ctx's error.
func (a *App) WaitReady(ctx context.Context, addr string, timeout time.Duration) error {
	if a.cur == nil {
		return errors.New("build: app is not running")
	}
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	start := time.Now()
	deadline := start.Add(timeout)
	d := net.Dialer{}
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last error
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-a.cur.exited:
			return &ExitError{Exit: a.Reap()}
		case <-timer.C:
		}
		dctx, cancel := context.WithTimeout(ctx, max(min(time.Until(deadline), dialTimeout), time.Millisecond))
		conn, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			conn.Close()
			return nil
		}
		if last == nil || !errors.Is(err, context.DeadlineExceeded) {
			last = err // a refusal says more than our own deadline cutting a dial short
		}
		now := time.Now()
		if !now.Before(deadline) {
			return fmt.Errorf("%w at %s within %v (last: %v)", ErrNotReady, addr, timeout, unwrapDialError(last))
		}
		wait := readyFast
		if now.Sub(start) > readyFastFor {
			wait = readySlow
		}
		timer.Reset(min(wait, deadline.Sub(now)))
	}
}

// unwrapDialError keeps the useful end of a dial error ("connection
// refused"), without the op and addresses the caller already prints.
func unwrapDialError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err
		}
		return oe.Err
	}
	return err
}
