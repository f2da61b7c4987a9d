package build

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// portCheckTimeout bounds CheckPort's dial. A listener on loopback answers
// within microseconds; an address that drops packets counts as free rather
// than delaying the app's start by more.
const portCheckTimeout = 500 * time.Millisecond

// maxHolders bounds how many processes a PortInUseError names: a
// pre-forking server shares its socket among many workers, and the first
// few say who it is.
const maxHolders = 4

// ErrPortInUse is wrapped by the error CheckPort returns.
var ErrPortInUse = errors.New("build: address already accepts connections")

// PortInUseError says that something already accepts connections at an
// address an app is about to listen on, and, where the platform tells,
// which processes hold the listening socket.
type PortInUseError struct {
	// Addr is the address checked, as given.
	Addr string
	// Holders are the processes found holding the listening socket (at
	// most maxHolders), lowest pid first. Empty when it could not be
	// told: not Linux, or the processes belong to another user.
	Holders []PortHolder
}

// PortHolder is a process that holds a listening socket.
type PortHolder struct {
	Pid int
	// Command is its command line, arguments separated by spaces (cut
	// at 200 bytes); empty if it could not be read.
	Command string
}

func (e *PortInUseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "something already accepts connections at %s", e.Addr)
	if len(e.Holders) == 0 {
		b.WriteString(" (which process could not be told: another user's, in a container, or not on this machine); stop it, or give the app another port")
		return b.String()
	}
	b.WriteString(": ")
	for i, h := range e.Holders {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "pid %d", h.Pid)
		if h.Command != "" {
			fmt.Fprintf(&b, " (%s)", h.Command)
		}
	}
	b.WriteString("; stop it, or give the app another port")
	return b.String()
}

// Unwrap returns ErrPortInUse.
func (e *PortInUseError) Unwrap() error { return ErrPortInUse }

// CheckPort reports whether something already accepts TCP connections at
// addr (host:port), the address an app is about to listen on: it returns
// nil when a dial fails for any reason (refused, unreachable, no such
// host: the app's own start will say more), and a *PortInUseError when a
// connection succeeds. On Linux that error names the processes holding the
// listening socket (from /proc/net/tcp and /proc/net/tcp6, matched to
// /proc/PID/fd), when they are this user's or reloadd runs as root.
//
// Call it before starting the app, with nothing of reloadd's own
// listening there (App.Start with CheckAddr does it after stopping the
// previous app).
func CheckPort(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, portCheckTimeout)
	if err != nil {
		return nil
	}
	remote, _ := conn.RemoteAddr().(*net.TCPAddr)
	conn.Close()
	e := &PortInUseError{Addr: addr}
	if remote != nil {
		e.Holders = portHolders(remote)
	}
	return e
}
