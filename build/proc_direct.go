package build

import (
	"errors"
	"os"
	"os/exec"
	"time"
)

// drainAfterKill bounds how long a direct command's output is still read
// after its group got SIGKILL. Processes in the group die at once and their
// end of the pipe closes with them; a process that left the group (setsid)
// and still holds the pipe would otherwise keep the build open forever.
const drainAfterKill = time.Second

// startDirect runs spec.command as "sh -c" directly, as the leader of its
// own process group: the implementation where there is no supervisor
// (macOS, the BSDs, Windows; Linux without /proc). Stopping reaches the
// group only; a process that leaves it (setsid) escapes, and nothing
// survives reloadd's own death by design.
//
// The waiter reaps the shell, asks what it left behind in its group to go
// (SIGTERM), gives it the grace period to close the output pipe, and kills
// the rest of the group (SIGKILL); exited and finished are then closed
// together.
func startDirect(spec procSpec) (*proc, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p := newProc(spec)
	p.finished = p.exited
	cmd := exec.Command("sh", "-c", spec.command)
	cmd.Dir = spec.dir
	cmd.Env = spec.env
	// An *os.File is handed to the child as is: no copying goroutine in
	// os/exec, so Wait returns when the shell exits, whatever its children
	// do with the pipe.
	cmd.Stdout = pw
	cmd.Stderr = pw
	setGroup(cmd)
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	pw.Close() // the children hold it now
	p.mainPid = cmd.Process.Pid
	p.stopFn = func() { p.stopDirect(cmd, spec.grace) }
	go p.copy(pr, spec.out)
	go p.waitDirect(cmd, pr, spec.grace)
	return p, nil
}

func (p *proc) waitDirect(cmd *exec.Cmd, pr *os.File, grace time.Duration) {
	defer close(p.exited)
	err := cmd.Wait()
	p.endAt = time.Now()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		p.err = err
	}
	if st := cmd.ProcessState; st != nil {
		p.known, p.code, p.why = true, st.ExitCode(), st.String()
	}
	signalGroup(cmd, sigTerm)
	timer := time.NewTimer(grace)
	select {
	case <-p.copied:
	case <-timer.C:
	}
	timer.Stop()
	signalGroup(cmd, sigKill)
	p.drain(pr, drainAfterKill)
	pr.Close()
}

// stopDirect sends SIGTERM to the group and SIGKILL once the grace period
// has passed, unless the waiter finished first.
func (p *proc) stopDirect(cmd *exec.Cmd, grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	signalGroup(cmd, sigTerm)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.exited:
		return
	case <-timer.C:
	}
	signalGroup(cmd, sigKill)
}
