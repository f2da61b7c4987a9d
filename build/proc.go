package build

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"time"
)

// drainAfterKill bounds how long a process's output is still read after its
// group got SIGKILL. Processes in the group die at once and their end of
// the pipe closes with them; a process that left the group (setsid) and
// still holds the pipe would otherwise keep the build open forever.
const drainAfterKill = time.Second

// proc is one "sh -c" command running as the leader of its own process
// group, its stdout and stderr copied to a writer and kept in a tail.
//
// It runs two goroutines: copy (the pipe to the writers) and wait (reaps
// the shell, then cleans up the group and drains the output). When exited
// is closed, both have finished and the group has been sent SIGKILL.
type proc struct {
	cmd    *exec.Cmd
	tail   *tail
	grace  time.Duration
	exited chan struct{} // closed by wait

	// Set by wait before exited is closed.
	state  *os.ProcessState
	err    error // from Wait, other than a non-zero exit
	copied chan struct{}
}

type procSpec struct {
	command  string
	dir      string
	env      []string
	out      io.Writer
	tailSize int
	grace    time.Duration
}

// startProc starts spec.command. The caller must wait for exited (stop
// does) before dropping the proc.
func startProc(spec procSpec) (*proc, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := &proc{
		tail:   newTail(spec.tailSize),
		grace:  spec.grace,
		exited: make(chan struct{}),
		copied: make(chan struct{}),
	}
	cmd := exec.Command("sh", "-c", spec.command)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	// An *os.File is handed to the child as is: no copying goroutine in
	// os/exec, so Wait returns when the shell exits, whatever its children
	// do with the pipe.
	cmd.Stdout = pw
	cmd.Stderr = pw
	setGroup(cmd)
	p.cmd = cmd
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close() // the children hold it now
	go p.copy(pr, spec.out)
	go p.wait(pr)
	return p, nil
}

// copy moves output from the pipe to the tail and to out until EOF or until
// wait closes the pipe. A failing out (a closed terminal) is dropped, never
// allowed to stall the command.
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

// wait reaps the shell, then asks whatever it left behind in its group to
// go (SIGTERM), gives it the grace period to close the output pipe, and
// kills the rest of the group (SIGKILL).
func (p *proc) wait(pr *os.File) {
	defer close(p.exited)
	err := p.cmd.Wait()
	p.state = p.cmd.ProcessState
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		p.err = err
	}
	signalGroup(p.cmd, sigTerm)
	timer := time.NewTimer(p.grace)
	select {
	case <-p.copied:
	case <-timer.C:
	}
	timer.Stop()
	signalGroup(p.cmd, sigKill)
	timer = time.NewTimer(drainAfterKill)
	select {
	case <-p.copied:
	case <-timer.C:
		pr.Close() // someone outside the group holds the pipe: stop reading
		<-p.copied
	}
	timer.Stop()
	pr.Close()
}

// stop ends the process group: SIGTERM, then SIGKILL once the grace period
// has passed, and waits until the shell has been reaped and the group
// killed.
func (p *proc) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	signalGroup(p.cmd, sigTerm)
	timer := time.NewTimer(p.grace)
	defer timer.Stop()
	select {
	case <-p.exited:
		return
	case <-timer.C:
	}
	signalGroup(p.cmd, sigKill)
	<-p.exited
}

// exitCode is the shell's exit status, or -1 if it was killed by a signal
// or has not exited. Only valid after exited is closed.
func (p *proc) exitCode() int {
	if p.state == nil {
		return -1
	}
	return p.state.ExitCode()
}

// reason describes how the process ended: "exit status 2", "signal: killed".
// Only valid after exited is closed.
func (p *proc) reason() string {
	switch {
	case p.err != nil:
		return p.err.Error()
	case p.state == nil:
		return "did not run"
	default:
		return p.state.String()
	}
}

// pid returns the shell's process id, which is also its process group id.
func (p *proc) pid() int { return p.cmd.Process.Pid }
