package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Design notes: connections and descriptors.
//
// Every browser tab holds a WebSocket and, after each page load, a few
// keep-alive connections; a misbehaving client can open thousands. Each is
// a file descriptor, and the builds (pipes), the -run app and the watchers
// (inotify, directory handles) need descriptors too: when the process runs
// out, builds fail with "pipe2: too many open files". So reloadd caps the
// connections it holds open at once, leaving a reserve of descriptors for
// everything else, and closes keep-alive connections idle for idleTimeout.
// A connection over the cap waits in the kernel's accept queue until one
// closes. Should the process still run out of descriptors, Accept backs off
// and the terminal says so once per episode, and again when it is over.
const (
	// idleTimeout closes keep-alive connections a browser left idle. A
	// browser opens a new one in a millisecond on loopback when it needs
	// one; WebSockets are not affected (they are hijacked, and the hub
	// pings them).
	idleTimeout = 30 * time.Second
	// minReserve and reserveShare size the descriptors kept back from
	// connections: the larger of the two.
	minReserve   = 256
	reserveShare = 4 // a quarter of the limit
	// minConns is the cap's floor, whatever the limit says.
	minConns = 64
	// acceptBackoffMax bounds the wait between Accept attempts while out of
	// descriptors.
	acceptBackoffMax = time.Second
)

// listen listens on addr with the connection cap of the design notes.
// onExhausted is called when Accept first fails for lack of descriptors
// (with the error) and when it works again (with nil).
func listen(addr string, onExhausted func(error)) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, unwrapOpError(err))
	}
	return newCappedListener(ln, maxConns(), onExhausted), nil
}

// maxConns is the connection cap for this process's descriptor limit.
func maxConns() int {
	limit := descriptorLimit()
	if limit <= 0 || limit > 1<<24 {
		return 1 << 16
	}
	return max(limit-max(minReserve, limit/reserveShare), minConns)
}

// cappedListener holds at most cap connections open at once, and rides out
// descriptor exhaustion (see the design notes).
type cappedListener struct {
	net.Listener
	slots       chan struct{} // one token per open connection
	closed      chan struct{}
	closeOnce   sync.Once
	onExhausted func(error)
	exhausted   atomic.Bool
}

func newCappedListener(ln net.Listener, cap int, onExhausted func(error)) *cappedListener {
	return &cappedListener{Listener: ln, slots: make(chan struct{}, cap), closed: make(chan struct{}), onExhausted: onExhausted}
}

// Accept waits for a free slot, then for a connection.
func (l *cappedListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.closed:
		return nil, net.ErrClosed
	}
	backoff := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			if l.exhausted.CompareAndSwap(true, false) && l.onExhausted != nil {
				l.onExhausted(nil)
			}
			return &cappedConn{Conn: c, release: l.release}, nil
		}
		if !isDescriptorExhaustion(err) {
			<-l.slots
			return nil, err
		}
		if l.exhausted.CompareAndSwap(false, true) && l.onExhausted != nil {
			l.onExhausted(err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-l.closed:
			t.Stop()
			<-l.slots
			return nil, net.ErrClosed
		}
		backoff = min(backoff*2, acceptBackoffMax)
	}
}

func (l *cappedListener) release() { <-l.slots }

// Close stops listening; connections already accepted stay open.
func (l *cappedListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// isDescriptorExhaustion reports whether err is the process (EMFILE) or
// the system (ENFILE) running out of file descriptors.
func isDescriptorExhaustion(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// cappedConn gives its slot back once, on the first Close.
type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// outOfDescriptors reports the start and the end of descriptor exhaustion.
func (d *daemon) outOfDescriptors(err error) {
	if err == nil {
		d.out.event("descriptors", "reloadd: file descriptors are available again; accepting connections", nil)
		return
	}
	limit := descriptorLimit()
	d.out.event("descriptors", fmt.Sprintf("reloadd: out of file descriptors (%v; limit %d): new connections wait until others close; raise the limit with ulimit -n", unwrapSyscall(err), limit),
		map[string]any{"error": err.Error(), "limit": limit})
}

func unwrapOpError(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return unwrapSyscall(oe.Err)
	}
	return err
}

func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}
