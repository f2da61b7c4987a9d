package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// DefaultGrace is how long a process group gets between SIGTERM and SIGKILL:
// enough for a server to finish the requests in flight and close its
// database, short enough that a restart does not feel stuck.
const DefaultGrace = 3 * time.Second

// NoGrace, as a Grace option, sends SIGKILL right after SIGTERM.
const NoGrace time.Duration = -1

// Environment variables the build command gets.
const (
	// EnvChanged holds the changed paths, newline-separated; empty for the
	// start-up build.
	EnvChanged = "RELOADD_CHANGED"
	// EnvChangedFile, when set, names a file that holds the changed paths,
	// newline-separated; RELOADD_CHANGED is then empty. reloadd uses it when
	// the list is too long for an environment variable (a git checkout of
	// thousands of files).
	EnvChangedFile = "RELOADD_CHANGED_FILE"
)

// maxEnvChanged is the longest path list passed in RELOADD_CHANGED itself.
// Linux refuses to exec with a single environment string over 128 KiB
// (MAX_ARG_STRLEN); past this bound the list goes to a file instead.
const maxEnvChanged = 96 << 10

// Options configure a [Runner]. The zero value runs no command: every build
// succeeds at once.
type Options struct {
	// Command is the shell command to run; empty means no build step.
	Command string
	// Dir is the working directory; empty means the current one.
	Dir string
	// Output receives the command's stdout and stderr as they are written;
	// nil discards them (they are still kept for Result.Output). It is
	// written from one goroutine at a time.
	Output io.Writer
	// Grace is the SIGTERM-to-SIGKILL delay; 0 means DefaultGrace, NoGrace
	// none.
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
	// ExitCode is the command's exit status; -1 if it did not exit by
	// itself (killed by a signal, timed out, cancelled, never started).
	ExitCode int
	// Output is the tail of stdout and stderr, interleaved as written.
	Output string
	// Duration is the wall time of the build.
	Duration time.Duration
	// Err says why the build did not succeed, when it is not simply a
	// non-zero exit: it could not start, was killed by a signal, timed out,
	// or was cancelled.
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

// Runner runs builds, one at a time. Build may be called from one goroutine
// at a time. Each Build starts two goroutines and waits for both before it
// returns.
type Runner struct {
	opts Options
}

// New returns a runner.
func New(opts Options) *Runner {
	opts.Grace = graceOrDefault(opts.Grace)
	if opts.TailSize <= 0 {
		opts.TailSize = DefaultTailSize
	}
	return &Runner{opts: opts}
}

// Command returns the configured command.
func (r *Runner) Command() string { return r.opts.Command }

// Build runs the command once with changed in RELOADD_CHANGED and returns
// when it has finished and its process group has been killed. Cancelling
// ctx stops the whole group: SIGTERM, then SIGKILL after the grace period;
// the result then wraps ErrCancelled. A build that exits by itself in the
// same instant keeps its real result.
func (r *Runner) Build(ctx context.Context, changed []string) Result {
	start := time.Now()
	if r.opts.Command == "" {
		return Result{OK: true}
	}
	if ctx.Err() != nil {
		return Result{ExitCode: -1, Err: ErrCancelled}
	}
	if r.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, r.opts.Timeout, ErrTimeout)
		defer cancel()
	}
	env, cleanup, err := changedEnv(changed)
	if err != nil {
		return Result{ExitCode: -1, Duration: time.Since(start), Err: fmt.Errorf("build: %w", err)}
	}
	defer cleanup()
	p, err := startProc(procSpec{
		command:  r.opts.Command,
		dir:      r.opts.Dir,
		env:      env,
		out:      r.opts.Output,
		tailSize: r.opts.TailSize,
		grace:    r.opts.Grace,
	})
	if err != nil {
		return Result{ExitCode: -1, Duration: time.Since(start), Err: fmt.Errorf("build: start %q: %w", r.opts.Command, err)}
	}
	stopped := false
	select {
	case <-p.exited:
	case <-ctx.Done():
		select {
		case <-p.exited: // it finished by itself: that result counts
		default:
			p.stop()
			stopped = true
		}
	}
	res := Result{Output: p.tail.String(), Duration: time.Since(start), ExitCode: p.exitCode()}
	switch {
	case stopped && errors.Is(context.Cause(ctx), ErrTimeout):
		res.Err = fmt.Errorf("%w after %v", ErrTimeout, r.opts.Timeout)
		res.ExitCode = -1
	case stopped:
		res.Err = ErrCancelled
		res.ExitCode = -1
	case p.err != nil:
		res.Err = fmt.Errorf("build: %w", p.err)
	case res.ExitCode < 0:
		res.Err = fmt.Errorf("build: %s", p.reason())
	default:
		res.OK = res.ExitCode == 0
	}
	return res
}

func graceOrDefault(g time.Duration) time.Duration {
	switch {
	case g == 0:
		return DefaultGrace
	case g < 0:
		return 0
	}
	return g
}

// changedEnv returns the environment for a build of changed, and a function
// that removes the list file if one was needed.
func changedEnv(changed []string) (env []string, cleanup func(), err error) {
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvChanged+"=") && !strings.HasPrefix(kv, EnvChangedFile+"=") {
			env = append(env, kv)
		}
	}
	list := strings.Join(changed, "\n")
	if len(list) <= maxEnvChanged {
		return append(env, EnvChanged+"="+list), func() {}, nil
	}
	f, err := os.CreateTemp("", "reloadd-changed-")
	if err != nil {
		return nil, nil, fmt.Errorf("write the changed paths: %w", err)
	}
	_, werr := f.WriteString(list + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(f.Name())
		return nil, nil, fmt.Errorf("write the changed paths: %w", werr)
	}
	return append(env, EnvChanged+"=", EnvChangedFile+"="+f.Name()), func() { os.Remove(f.Name()) }, nil
}
