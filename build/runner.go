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
	// EnvChangedFile0 names a file that holds the changed paths, each
	// followed by a NUL byte, as "find -print0" writes them: the one form
	// that any path survives, newlines included (an environment string
	// cannot hold NUL). It is set for every build with changes, whatever
	// their number, and the file is removed when the build ends. Read it
	// with "xargs -0 -a "$RELOADD_CHANGED_FILE0" CMD" or
	// "while IFS= read -r -d '' f; do ...; done < "$RELOADD_CHANGED_FILE0"".
	EnvChangedFile0 = "RELOADD_CHANGED_FILE0"
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
	// Timeout kills a build whose command runs longer (counted from its
	// start); 0 means none.
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

// Runner runs builds, one at a time. Build and Close may be called from
// one goroutine at a time. Each Build starts two goroutines, which end when
// every process of the build is gone: when Build returns, or, if the build
// left processes behind, once they have been stopped (the next Build and
// Close wait for that).
type Runner struct {
	opts   Options
	direct bool  // bypass the supervisor (benchmarks)
	sup    *link // the supervisor process, started by the first Build
	prev   *proc // the last build, whose leftovers may still be stopping

	afterExit time.Duration // from the shell's exit to Build's return, last build (benchmarks)
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

// Build runs the command once with changed in RELOADD_CHANGED (and
// RELOADD_CHANGED_FILE0) and returns when its main process (the shell) has
// exited and its output has been read. What the command left running is
// then stopped: SIGTERM at once, SIGKILL after the grace period. Where the
// supervisor runs (Linux) that reaches every descendant, also one that
// called setsid, and Build does not wait for it: a leftover that holds the
// output open delays the result by drainAfterExit at most, and the next
// Build (or Close) waits until the leftovers are gone. Elsewhere it
// reaches the process group, and Build returns once that has been killed.
//
// Cancelling ctx stops every process of the build: SIGTERM, then SIGKILL
// after the grace period; Build returns when they are gone, and the result
// wraps ErrCancelled. A build that exits by itself in the same instant
// keeps its real result.
func (r *Runner) Build(ctx context.Context, changed []string) Result {
	start := time.Now()
	if r.opts.Command == "" {
		return Result{OK: true}
	}
	if ctx.Err() != nil {
		return Result{ExitCode: -1, Err: ErrCancelled}
	}
	r.settle()
	if ctx.Err() != nil {
		return Result{ExitCode: -1, Err: ErrCancelled}
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
		direct:   r.direct,
	}, &r.sup)
	if err != nil {
		return Result{ExitCode: -1, Duration: time.Since(start), Err: fmt.Errorf("build: start %q: %w", r.opts.Command, err)}
	}
	r.prev = p
	if r.opts.Timeout > 0 {
		// From the command's start: the first build's start includes the
		// supervisor's, which is no part of the command's time.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, r.opts.Timeout, ErrTimeout)
		defer cancel()
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
	r.afterExit = time.Since(p.endAt)
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

// settle waits until the processes of the previous build are gone, so that
// no two builds' processes overlap.
func (r *Runner) settle() {
	if r.prev != nil {
		<-r.prev.finished
		r.prev = nil
	}
}

// Close waits until the processes the last build left behind have been
// stopped (at most the grace period, since they got SIGTERM when it ended)
// and its goroutines have ended; then it ends the supervisor process. It is
// idempotent; a Runner may still be used after Close.
func (r *Runner) Close() error {
	r.settle()
	if r.sup != nil {
		r.sup.close()
		r.sup = nil
	}
	return nil
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
// that removes the list files it wrote.
func changedEnv(changed []string) (env []string, cleanup func(), err error) {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name != EnvChanged && name != EnvChangedFile && name != EnvChangedFile0 {
			env = append(env, kv)
		}
	}
	var files []string
	cleanup = func() {
		for _, f := range files {
			os.Remove(f)
		}
	}
	if len(changed) > 0 {
		var b strings.Builder
		for _, p := range changed {
			b.WriteString(p)
			b.WriteByte(0)
		}
		name, err := writeTemp("reloadd-changed0-", b.String())
		if err != nil {
			return nil, nil, err
		}
		files = append(files, name)
		env = append(env, EnvChangedFile0+"="+name)
	}
	list := strings.Join(changed, "\n")
	if len(list) <= maxEnvChanged {
		return append(env, EnvChanged+"="+list), cleanup, nil
	}
	name, err := writeTemp("reloadd-changed-", list+"\n")
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	files = append(files, name)
	return append(env, EnvChanged+"=", EnvChangedFile+"="+name), cleanup, nil
}

// writeTemp writes content to a new temporary file and returns its name.
func writeTemp(pattern, content string) (string, error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("write the changed paths: %w", err)
	}
	_, werr := f.WriteString(content)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("write the changed paths: %w", werr)
	}
	return f.Name(), nil
}
