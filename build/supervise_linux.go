//go:build linux

package build

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The supervisor (see doc.go) is this binary re-executed from
// /proc/self/exe with argv
//
//	reloadd-supervise v1 PARENT-PID
//
// in a process group of its own, with the parent-death signal SIGTERM and
// one end of a Unix stream socket pair as file 3. It serves one owner (a
// Runner or an App), one command at a time, until the socket closes.
//
// Requests, reloadd → supervisor: a 4-byte big-endian length, then that
// many bytes of NUL-separated fields:
//
//	run GRACE DIR SH COMMAND ENV...   with the write end of the output pipe
//	                                  attached (SCM_RIGHTS): start COMMAND
//	stop                              stop the running command
//
// End of file on the socket (reloadd closed it, or died) means: stop the
// running command, then exit.
//
// Reports, supervisor → reloadd, one line each:
//
//	pid N                the command started; N is its shell's pid
//	err TEXT             it could not start
//	exit CODE SIG CORE   the shell ended: exit status CODE (-1 when
//	                     killed), signal number SIG (0 when it exited), CORE
//	                     1 if it dumped core
//	ignored SIGNAL       a signal reached the supervisor while reloadd lived
//	                     (the parent-death signal of one of reloadd's
//	                     threads, golang/go#27505); it is ignored
//	stuck PID...         processes still there unkillableWait after SIGKILL;
//	                     the supervisor gives up on them and exits
//	done                 every process of the command is gone
const (
	superviseArg0  = "reloadd-supervise"
	superviseProto = "v1"
	selfExe        = "/proc/self/exe"
	// maxRequest bounds a request the supervisor accepts: the environment
	// and the command, which Linux bounds to far less.
	maxRequest = 64 << 20
)

// supervisorUsable reports whether this process can re-execute itself as
// the supervisor: /proc is mounted (not so in some chroots and minimal
// containers, where commands run directly instead).
var supervisorUsable = sync.OnceValue(func() bool {
	_, err := os.Stat(selfExe)
	return err == nil
})

// link is reloadd's end of one supervisor process. Its owner uses it from
// one goroutine, one command at a time; while a command runs, that
// command's waiter goroutine reads the reports, and stop may write.
type link struct {
	cmd  *exec.Cmd
	conn *net.UnixConn
	r    *bufio.Reader
	dead bool // the supervisor exited and was reaped (set by a waiter)
}

// startLink starts a supervisor.
func startLink() (*link, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("supervisor: %w", os.NewSyscallError("socketpair", err))
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "supervisor"), os.NewFile(uintptr(fds[1]), "supervisor")
	defer theirs.Close()
	c, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	cmd := &exec.Cmd{
		Path:       selfExe,
		Args:       []string{superviseArg0, superviseProto, strconv.Itoa(os.Getpid())},
		Stderr:     os.Stderr, // for its own crash, if ever
		ExtraFiles: []*os.File{theirs},
		SysProcAttr: &syscall.SysProcAttr{
			// Its own group: the terminal's Ctrl-C and hangup reach
			// reloadd, which decides; never the supervisor.
			Setpgid: true,
			// A second way to learn that reloadd died, besides the end
			// of the socket; see the thread caveat in doc.go.
			Pdeathsig: syscall.SIGTERM,
		},
	}
	if err := cmd.Start(); err != nil {
		c.Close()
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	return &link{cmd: cmd, conn: c.(*net.UnixConn), r: bufio.NewReader(c)}, nil
}

// send writes one request, with fd attached if it is not nil.
func (l *link) send(fd *os.File, fields ...string) error {
	payload := strings.Join(fields, "\x00")
	frame := make([]byte, 4+len(payload))
	binary.BigEndian.PutUint32(frame, uint32(len(payload)))
	copy(frame[4:], payload)
	var oob []byte
	if fd != nil {
		oob = unix.UnixRights(int(fd.Fd()))
	}
	n, _, err := l.conn.WriteMsgUnix(frame, oob, nil)
	if err == nil && n < len(frame) {
		_, err = l.conn.Write(frame[n:])
	}
	return err
}

// close ends the supervisor (it stops a command still running first) and
// reaps it.
func (l *link) close() {
	l.conn.Close()
	if !l.dead {
		l.cmd.Wait()
		l.dead = true
	}
}

// errLinkDied means the supervisor went away before answering.
var errLinkDied = errors.New("supervisor: exited")

// startSupervised runs spec.command through the supervisor *lp, starting
// one if there is none or if the last one has died.
func startSupervised(spec procSpec, lp **link) (*proc, error) {
	for attempt := 0; ; attempt++ {
		if *lp != nil && (*lp).dead {
			(*lp).close()
			*lp = nil
		}
		if *lp == nil {
			l, err := startLink()
			if err != nil {
				return nil, err
			}
			*lp = l
		}
		p, err := (*lp).run(spec)
		if !errors.Is(err, errLinkDied) {
			return p, err
		}
		(*lp).close()
		*lp = nil
		if attempt > 0 { // a fresh one failed too
			return nil, err
		}
	}
}

// run asks the supervisor to start spec.command and waits for its pid.
func (l *link) run(spec procSpec) (*proc, error) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		return nil, err
	}
	dir := spec.dir
	if dir == "" {
		// The supervisor's own directory is reloadd's when it started;
		// the command runs in reloadd's current one, as it always did.
		dir, _ = os.Getwd()
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	fields := append([]string{"run", spec.grace.String(), dir, sh, spec.command}, spec.env...)
	err = l.send(outW, fields...)
	outW.Close() // the supervisor has its own copy now
	if err != nil {
		outR.Close()
		return nil, fmt.Errorf("%w (%v)", errLinkDied, err)
	}
	var line, verb, arg string
	ignored := int32(0)
	for {
		line, err = l.r.ReadString('\n')
		if err != nil {
			outR.Close()
			return nil, l.died()
		}
		verb, arg, _ = strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		if verb != "ignored" { // reported while it was idle
			break
		}
		ignored++
	}
	pid, perr := strconv.Atoi(arg)
	switch {
	case verb == "pid" && perr == nil:
	case verb == "err":
		outR.Close()
		return nil, errors.New(arg)
	default:
		outR.Close()
		return nil, fmt.Errorf("supervisor: unexpected report %q", line)
	}
	p := newProc(spec)
	p.mainPid = pid
	p.ignored.Store(ignored)
	var once sync.Once
	p.stopFn = func() {
		once.Do(func() {
			select {
			case <-p.finished:
			default:
				l.send(nil, "stop") // a dead supervisor stopped everything already
			}
		})
	}
	go p.copy(outR, spec.out)
	go p.waitSupervised(l, outR)
	return p, nil
}

// died reaps a supervisor that closed its end, and says how it ended.
func (l *link) died() error {
	err := l.cmd.Wait()
	l.dead = true
	if err == nil {
		err = errors.New("exit status 0")
	}
	return fmt.Errorf("%w (%v)", errLinkDied, err)
}

// waitSupervised follows the supervisor's reports on the command: at the
// shell's exit it drains the output and closes exited; once every process
// of the command is gone it closes finished.
func (p *proc) waitSupervised(l *link, outR *os.File) {
	defer close(p.finished)
	defer outR.Close()
	exited := false
	for {
		line, err := l.r.ReadString('\n')
		if err != nil {
			// The supervisor died: killed from outside. Its children got
			// SIGKILL as it died (see doc.go).
			err := l.died()
			if !exited {
				p.err = fmt.Errorf("the command's status is unknown: %w", err)
				p.drain(outR, drainAfterExit)
				close(p.exited)
			}
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		switch verb {
		case "exit":
			if exited {
				continue
			}
			p.endAt = time.Now()
			p.known, p.code, p.why = parseExit(arg)
			if !p.known {
				p.err = fmt.Errorf("supervisor: bad report %q", line)
			}
			p.drain(outR, drainAfterExit)
			close(p.exited)
			exited = true
		case "ignored":
			p.ignored.Add(1)
		case "done":
			if !exited {
				p.err = errors.New("supervisor: the command ended without a status")
				p.drain(outR, drainAfterExit)
				close(p.exited)
			}
			return
		}
	}
}

// parseExit reads "CODE SIG CORE" into an exit code and the words that
// os.ProcessState would use for it.
func parseExit(s string) (ok bool, code int, why string) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return false, -1, ""
	}
	c, err1 := strconv.Atoi(f[0])
	sig, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || sig < 0 || (sig == 0 && c < 0) || (f[2] != "0" && f[2] != "1") {
		return false, -1, ""
	}
	if sig == 0 {
		why = "exit status " + strconv.Itoa(c)
	} else {
		c = -1
		why = "signal: " + syscall.Signal(sig).String()
	}
	if f[2] == "1" {
		why += " (core dumped)"
	}
	return true, c, why
}
