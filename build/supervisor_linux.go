//go:build linux

package build

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The supervisor's timing (see the design notes in doc.go).
const (
	// killSweep is how often the supervisor repeats SIGKILL to whatever is
	// left once the grace period is over: a process forked between the
	// scan of /proc and the signal is caught by the next sweep.
	killSweep = 10 * time.Millisecond
	// unkillableWait bounds the wait for processes to go after SIGKILL.
	// The kernel completes SIGKILL within milliseconds unless a process is
	// blocked in uninterruptible I/O (a hung NFS server); reloadd must not
	// hang with it, so the supervisor reports them and exits.
	unkillableWait = 5 * time.Second
)

// init turns any binary that imports this package into the supervisor when
// it is started as one (argv[0] is superviseArg0): reloadd itself, and the
// test binaries of every package that runs commands through it, without
// their cooperation. It runs before main (and before TestMain) and never
// returns in that case.
func init() {
	if len(os.Args) > 0 && os.Args[0] == superviseArg0 {
		os.Exit(supervise(os.Args[1:]))
	}
}

// supervisor is the process between reloadd and its commands' shells. It
// runs on the main goroutine, which Go keeps on the main thread during
// init: a shell's parent-death signal is tied to the thread that forked
// it, and the main thread lives as long as the process.
type supervisor struct {
	parent int // reloadd's pid
	self   int
	conn   *net.UnixConn
	null   *os.File

	// The command running, if busy.
	busy     bool
	main     int // its shell's pid; 0 once reaped
	grace    time.Duration
	stopping bool
	graceC   <-chan time.Time
	sweep    *time.Ticker
	sweepC   <-chan time.Time
	giveUp   time.Time
}

// request is one request from reloadd: its fields, and the file descriptor
// that came with it, or -1.
type request struct {
	fields []string
	fd     int
}

func supervise(args []string) int {
	if len(args) != 2 || args[0] != superviseProto {
		fmt.Fprintf(os.Stderr, "%s: unexpected arguments %q (reloadd and its supervisor must be the same binary)\n", superviseArg0, args)
		return 2
	}
	parent, err := strconv.Atoi(args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: unexpected arguments %q\n", superviseArg0, args)
		return 2
	}
	if os.Getppid() != parent {
		return 1 // reloadd is already gone
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "%s: become a child subreaper: %v\n", superviseArg0, err)
		return 1
	}
	f := os.NewFile(3, "reloadd")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", superviseArg0, err)
		return 1
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", superviseArg0, err)
		return 1
	}
	s := &supervisor{parent: parent, self: os.Getpid(), conn: c.(*net.UnixConn), null: null}
	return s.run()
}

// report writes one line to reloadd; a reloadd that is gone does not read
// it, and that is no error here.
func (s *supervisor) report(format string, a ...any) {
	fmt.Fprintf(s.conn, format+"\n", a...)
}

func (s *supervisor) run() int {
	// SIGINT and SIGHUP stay ignored when reloadd was started ignoring
	// them (nohup), so that commands inherit that as they did before.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGTERM, syscall.SIGQUIT)
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGHUP} {
		if !signal.Ignored(sig) {
			signal.Notify(sigs, sig)
		}
	}
	reqs := make(chan request)
	go s.readRequests(reqs)
	eof := false
	for {
		if s.busy {
			mainDone, none := s.reap()
			if none {
				s.idle()
				s.report("done")
				continue
			}
			if mainDone {
				s.beginStop() // what the command left behind goes too
			}
		}
		if eof && !s.busy {
			return 0
		}
		select {
		case req, ok := <-reqs:
			if !ok {
				eof, reqs = true, nil
				if s.busy {
					s.beginStop() // reloadd closed the socket, or died
				}
				continue
			}
			s.handle(req)
		case sig := <-sigs:
			if sig == syscall.SIGCHLD {
				continue
			}
			if os.Getppid() != s.parent {
				// reloadd died: the parent-death signal. The socket's
				// end says so too, and whichever comes first acts.
				eof, reqs = true, nil
				if s.busy {
					s.beginStop()
				}
				continue
			}
			// reloadd lives: a thread of it that forked us ended
			// (golang/go#27505), or someone signalled us directly.
			// reloadd decides when its commands stop.
			s.report("ignored %s", strings.ReplaceAll(sig.String(), " ", "_"))
		case <-s.graceC:
			s.graceC = nil
			s.kill()
		case <-s.sweepC:
			if time.Now().After(s.giveUp) {
				pids, _ := descendants(s.self)
				list := strings.Trim(fmt.Sprint(pids), "[]")
				fmt.Fprintf(os.Stderr, "reloadd: processes %s did not end %v after SIGKILL (blocked in the kernel, on a hung network filesystem?); leaving them\n", list, unkillableWait)
				s.report("stuck %s", list)
				return 3
			}
			s.signalAll(syscall.SIGKILL)
		}
	}
}

// handle carries out one request.
func (s *supervisor) handle(req request) {
	switch {
	case len(req.fields) >= 5 && req.fields[0] == "run":
		if req.fd < 0 || s.busy {
			s.report("err supervisor: a run request without output, or while busy")
			break
		}
		s.start(req.fields[1], req.fields[2], req.fields[3], req.fields[4], req.fields[5:], req.fd)
	case len(req.fields) == 1 && req.fields[0] == "stop":
		if s.busy {
			s.beginStop()
		}
	}
	if req.fd >= 0 {
		syscall.Close(req.fd)
	}
}

// start forks and execs "sh -c command" in a process group of its own,
// with out as its stdout and stderr.
func (s *supervisor) start(grace, dir, sh, command string, env []string, out int) {
	g, err := time.ParseDuration(grace)
	if err != nil {
		s.report("err supervisor: bad grace period %q", grace)
		return
	}
	pid, err := syscall.ForkExec(sh, []string{"sh", "-c", command}, &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: []uintptr{s.null.Fd(), uintptr(out), uintptr(out)},
		Sys: &syscall.SysProcAttr{
			Setpgid: true,
			// Should the supervisor itself be killed, the shell goes
			// with it (its descendants then escape: see doc.go).
			Pdeathsig: syscall.SIGKILL,
		},
	})
	if err != nil {
		if _, serr := os.Stat(dir); dir != "" && serr != nil {
			s.report("err chdir %s: %v", dir, unwrapPathError(serr))
		} else {
			s.report("err fork/exec %s: %v", sh, err)
		}
		return
	}
	s.busy, s.main, s.grace = true, pid, g
	s.report("pid %d", pid)
}

// unwrapPathError keeps the reason of a *PathError, whose path the caller
// names already.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// idle forgets the command that just ended.
func (s *supervisor) idle() {
	if s.sweep != nil {
		s.sweep.Stop()
	}
	*s = supervisor{parent: s.parent, self: s.self, conn: s.conn, null: s.null}
}

// beginStop asks every process of the command to go (SIGTERM), and
// arranges SIGKILL for those left after the grace period.
func (s *supervisor) beginStop() {
	if s.stopping {
		return
	}
	s.stopping = true
	s.signalAll(syscall.SIGTERM)
	if s.grace <= 0 {
		s.kill()
		return
	}
	s.graceC = time.After(s.grace)
}

// kill sends SIGKILL to every process of the command, now and every
// killSweep until they are gone.
func (s *supervisor) kill() {
	if s.sweep == nil {
		s.sweep = time.NewTicker(killSweep)
		s.sweepC = s.sweep.C
		s.giveUp = time.Now().Add(unkillableWait)
	}
	s.signalAll(syscall.SIGKILL)
}

// readRequests reads requests from reloadd until the socket ends, then
// closes out.
func (s *supervisor) readRequests(out chan<- request) {
	defer close(out)
	hdr := make([]byte, 4)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		// The descriptor comes with the first bytes of its request.
		n, oobn, _, _, err := s.conn.ReadMsgUnix(hdr, oob)
		if err != nil || n == 0 {
			return
		}
		fd := receivedFD(oob[:oobn])
		if _, err := io.ReadFull(s.conn, hdr[n:]); err != nil {
			return
		}
		size := binary.BigEndian.Uint32(hdr)
		if size > maxRequest {
			return // not reloadd talking: stop as if it had gone
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(s.conn, payload); err != nil {
			return
		}
		out <- request{fields: strings.Split(string(payload), "\x00"), fd: fd}
	}
}

// receivedFD returns the first descriptor passed in oob and closes any
// others, or returns -1.
func receivedFD(oob []byte) int {
	fd := -1
	msgs, _ := unix.ParseSocketControlMessage(oob)
	for _, m := range msgs {
		fds, _ := unix.ParseUnixRights(&m)
		for _, f := range fds {
			if fd < 0 {
				fd = f
			} else {
				syscall.Close(f)
			}
		}
	}
	return fd
}

// reap collects every child that has ended, reporting the shell's status
// when it is among them. It returns whether the shell has ended by now and
// whether no child is left at all: as a child subreaper, the supervisor
// then has no descendant either, since every orphan of the command is
// re-parented to it.
func (s *supervisor) reap() (mainDone, none bool) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.ECHILD:
			return s.main == 0, true
		case err != nil || pid <= 0:
			return s.main == 0, false
		case pid == s.main:
			code, sig, core := ws.ExitStatus(), 0, 0
			if ws.Signaled() {
				code, sig = -1, int(ws.Signal())
			}
			if ws.CoreDump() {
				core = 1
			}
			s.report("exit %d %d %d", code, sig, core)
			s.main = 0
		}
	}
}

// signalAll sends sig to every descendant; SIGTERM comes with SIGCONT, so
// that a stopped process (Ctrl-Z'd, or traced) can act on it.
func (s *supervisor) signalAll(sig syscall.Signal) {
	pids, tree := descendants(s.self)
	for _, pid := range pids {
		signalDescendant(pid, sig, tree)
		if sig == syscall.SIGTERM {
			signalDescendant(pid, syscall.SIGCONT, tree)
		}
	}
}

// signalDescendant signals pid, which a scan of /proc found below us,
// unless it has been replaced meanwhile by an unrelated process of the same
// number: the pid is pinned with a pidfd, and then its parent is checked to
// be one of ours. (pid_max can be as low as 32768, so reuse is possible on
// a busy machine, if unlikely within microseconds.)
func signalDescendant(pid int, sig syscall.Signal, tree map[int]bool) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if err == syscall.ENOSYS { // before Linux 5.3
			syscall.Kill(pid, sig)
		}
		return // gone already
	}
	defer syscall.Close(fd)
	if ppid, ok := parentOf(pid); !ok || !tree[ppid] {
		return
	}
	unix.PidfdSendSignal(fd, sig, nil, 0)
}

// descendants returns the processes below root, parents before children,
// and the set of root and all of them, from one scan of /proc/*/stat.
// (/proc/PID/task/TID/children would be quicker, but it needs
// CONFIG_PROC_CHILDREN, which not every kernel has.) The scan only runs
// when something is left to stop, never for a command that leaves nothing
// behind.
func descendants(root int) ([]int, map[int]bool) {
	tree := map[int]bool{root: true}
	d, err := os.Open("/proc")
	if err != nil {
		return nil, tree
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	children := map[int][]int{}
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			if !tree[c] {
				tree[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out, tree
}

// parentOf reads process pid's parent from /proc/PID/stat.
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	return parseStatPPid(string(b))
}

// parseStatPPid returns the ppid field of a /proc/PID/stat line: "pid
// (comm) state ppid ...", where comm may hold spaces and parentheses.
func parseStatPPid(s string) (int, bool) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}
