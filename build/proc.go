package build

import (
	"io"
	"os"
	"sync/atomic"
	"time"
)

// drainAfterExit bounds how long a supervised command's output is still
// read once its main process has exited (see the design notes in doc.go):
// what its leftovers print while they handle SIGTERM is kept, and a
// leftover that holds the output open does not hold up the build.
const drainAfterExit = 100 * time.Millisecond

// proc is one "sh -c" command: its main process (the shell), everything it
// starts, and its stdout and stderr, copied as one stream to a writer and
// kept in a tail.
//
// It runs two goroutines: copy (the output pipe to the writers) and a
// waiter, which differs between the supervised (Linux) and the direct
// implementation. exited is closed when the main process has ended and its
// output has been drained; finished when every process of the command is
// gone and both goroutines have ended.
type proc struct {
	tail     *tail
	mainPid  int
	exited   chan struct{} // closed by the waiter
	finished chan struct{} // closed by the waiter; the same channel as exited when direct
	copied   chan struct{} // closed by copy

	// Set by the waiter before exited is closed.
	known bool      // the main process's status is known
	code  int       // its exit status, -1 if it was killed by a signal
	why   string    // "exit status 3", "signal: killed"
	err   error     // why the status is not known, or an error other than the exit
	endAt time.Time // when the end of the main process was learnt (benchmarks)

	// stop ends the command (see [proc.stop]); set by the implementation.
	stopFn func()

	ignored atomic.Int32 // signals the supervisor received while reloadd lived (tests)
}

type procSpec struct {
	command  string
	dir      string
	env      []string
	out      io.Writer
	tailSize int
	grace    time.Duration
	direct   bool // bypass the supervisor even where it is available (benchmarks)
}

// startProc starts spec.command: through the supervisor *sup where this
// platform has one (see doc.go), starting it if *sup is nil or dead;
// directly in its own process group otherwise. The caller must wait for
// finished (stop does) before dropping the proc or starting another one on
// the same supervisor, and close *sup when it is done with it.
func startProc(spec procSpec, sup **link) (*proc, error) {
	if !spec.direct && supervisorUsable() {
		return startSupervised(spec, sup)
	}
	return startDirect(spec)
}

func newProc(spec procSpec) *proc {
	return &proc{
		tail:     newTail(spec.tailSize),
		exited:   make(chan struct{}),
		finished: make(chan struct{}),
		copied:   make(chan struct{}),
		code:     -1,
	}
}

// copy moves output from the pipe to the tail and to out until EOF or until
// the waiter closes the pipe. A failing out (a closed terminal) is dropped,
// never allowed to stall the command.
func (p *proc) copy(pr *os.File, out io.Writer) {
	defer close(p.copied)
	buf := make([]byte, 32<<10)
	for {
		n, err := pr.Read(buf)
		if n > 0 {
			p.tail.Write(buf[:n])
			if out != nil {
				if _, werr := out.Write(buf[:n]); werr != nil {
					out = nil
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// drain waits until the output pipe reaches EOF (everyone holding it has
// closed it) or until limit has passed; then it stops reading.
func (p *proc) drain(pr *os.File, limit time.Duration) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-p.copied:
	case <-timer.C:
		pr.Close() // someone still holds the pipe: stop reading
		<-p.copied
	}
}

// stop ends the command gracefully: SIGTERM to each of its processes, then
// SIGKILL to those left once the grace period has passed. It returns when
// every process of the command is gone. It is safe to call more than once,
// also after the command has exited by itself.
func (p *proc) stop() {
	p.stopFn()
	<-p.finished
}

// exitCode is the main process's exit status, or -1 if it was killed by a
// signal or its status is unknown. Only valid after exited is closed.
func (p *proc) exitCode() int { return p.code }

// reason describes how the main process ended: "exit status 2", "signal:
// killed". Only valid after exited is closed.
func (p *proc) reason() string {
	switch {
	case p.err != nil:
		return p.err.Error()
	case !p.known:
		return "did not run"
	default:
		return p.why
	}
}

// pid returns the shell's process id, which is also its process group id.
func (p *proc) pid() int { return p.mainPid }
