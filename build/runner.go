// Package build runs reloadd's -build command: through "sh -c", in its own
// process group (so cancelling it reaches every process it spawned), with
// its output streamed to the terminal and the last 64 KiB kept for the
// browser's error overlay.
package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// DefaultGrace is how long a process group gets between SIGTERM and SIGKILL.
const DefaultGrace = 3 * time.Second

// EnvChanged names the environment variable that holds the changed paths,
// newline-separated, for the build command.
const EnvChanged = "RELOADD_CHANGED"

// Options configure a [Runner]. The zero value runs no command: every build
// succeeds at once.
type Options struct {
	// Command is the shell command to run; empty means no build step.
	Command string
	// Dir is the working directory; empty means the current one.
	Dir string
	// Output receives the command's stdout and stderr as they are written;
	// nil discards them (they are still kept for Result.Output).
	Output io.Writer
	// Grace is the SIGTERM-to-SIGKILL delay; 0 means DefaultGrace.
	Grace time.Duration
	// Timeout kills a build that runs longer; 0 means none.
	Timeout time.Duration
	// TailSize is how much output Result.Output keeps; 0 means
	// DefaultTailSize.
	TailSize int
}

// Result is the outcome of one build.
type Result struct {
	// OK is true when the command exited 0 (or there is no command).
	OK bool
	// ExitCode is the command's exit status; -1 if it did not exit by itself.
	ExitCode int
	// Output is the tail of stdout and stderr, interleaved as written.
	Output string
	// Duration is the wall time of the build.
	Duration time.Duration
	// Err says why the build did not succeed, when it is not simply a
	// non-zero exit: it could not start, timed out, or was cancelled.
	Err error
}

// Errors wrapped by Result.Err.
var (
	// ErrTimeout means the build ran past Options.Timeout and was killed.
	ErrTimeout = errors.New("build: timed out")
	// ErrCancelled means the build's context was cancelled (a restart, or
	// shutdown) and the build was stopped.
	ErrCancelled = errors.New("build: cancelled")
)

// Runner runs builds, one at a time. Build is safe to call from one
// goroutine at a time; the Runner starts no goroutines of its own that
// outlive a Build call.
type Runner struct {
	opts Options
}

// New returns a runner.
func New(opts Options) *Runner {
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	if opts.TailSize <= 0 {
		opts.TailSize = DefaultTailSize
	}
	if opts.Output == nil {
		opts.Output = io.Discard
	}
	return &Runner{opts: opts}
}

// Command returns the configured command.
func (r *Runner) Command() string { return r.opts.Command }

// Build runs the command once with changed in RELOADD_CHANGED and returns
// when it and its process group have finished. Cancelling ctx stops the
// whole group: SIGTERM, then SIGKILL after the grace period.
func (r *Runner) Build(ctx context.Context, changed []string) Result {
	start := time.Now()
	if r.opts.Command == "" {
		return Result{OK: true}
	}
	if r.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, r.opts.Timeout, ErrTimeout)
		defer cancel()
	}
	out := newTail(r.opts.TailSize)
	w := io.MultiWriter(out, r.opts.Output)
	cmd := exec.Command("sh", "-c", r.opts.Command)
	cmd.Dir = r.opts.Dir
	cmd.Env = append(os.Environ(), EnvChanged+"="+strings.Join(changed, "\n"))
	cmd.Stdout = w
	cmd.Stderr = w
	// A background process that keeps stdout open must not hold the build
	// forever once the command itself has exited.
	cmd.WaitDelay = r.opts.Grace
	setGroup(cmd)
	if err := cmd.Start(); err != nil {
		return Result{ExitCode: -1, Duration: time.Since(start), Err: fmt.Errorf("build: start %q: %w", r.opts.Command, err)}
	}
	waitErr := r.wait(ctx, cmd)
	res := Result{Output: out.String(), Duration: time.Since(start), ExitCode: -1}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	switch {
	case ctx.Err() != nil:
		if cause := context.Cause(ctx); errors.Is(cause, ErrTimeout) {
			res.Err = fmt.Errorf("%w after %v", ErrTimeout, r.opts.Timeout)
		} else {
			res.Err = ErrCancelled
		}
	case waitErr != nil:
		var exit *exec.ExitError
		if !errors.As(waitErr, &exit) {
			res.Err = fmt.Errorf("build: %w", waitErr)
		}
	default:
		res.OK = res.ExitCode == 0
	}
	return res
}

// wait waits for cmd; on cancellation it stops the process group gracefully.
func (r *Runner) wait(ctx context.Context, cmd *exec.Cmd) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	signalGroup(cmd, sigTerm)
	timer := time.NewTimer(r.opts.Grace)
	defer timer.Stop()
	select {
	case err := <-done:
		signalGroup(cmd, sigKill) // children that ignored SIGTERM while the leader left
		return err
	case <-timer.C:
	}
	signalGroup(cmd, sigKill)
	return <-done
}
