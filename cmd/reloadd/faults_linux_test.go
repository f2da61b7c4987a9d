package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
)

// cappedRole runs a cappedListener in a process whose descriptor limit is
// 48, with a cap far above it, so that Accept meets the kernel's own
// EMFILE. It prints its address, then one line per report, and holds every
// connection until the peer closes it.
func cappedRole() int {
	must := func(err error) {
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
	must(syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 48, Max: 48}))
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	ln := newCappedListener(raw, 1000, func(err error) {
		if err != nil {
			fmt.Println("exhausted:", err)
		} else {
			fmt.Println("recovered")
		}
	})
	fmt.Println("addr", raw.Addr())
	for {
		c, err := ln.Accept()
		must(err)
		go func() {
			c.Read(make([]byte, 1)) // until the peer closes
			c.Close()
		}()
	}
}

// TestDescriptorExhaustionIsReportedOnceAndRecovered uses the real EMFILE
// of a child whose descriptor limit is 48: 80 connections exhaust it; the
// report comes once, and when the connections close, accepting resumes and
// says so.
func TestDescriptorExhaustionIsReportedOnceAndRecovered(t *testing.T) {
	cmd := exec.Command(testBinary(t))
	cmd.Env = append(os.Environ(), roleEnv+"=capped")
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the child exited")
			}
			return l
		case <-time.After(testenv.WaitLimit):
			t.Fatal("no line from the child")
			return ""
		}
	}
	first := next()
	addr, ok := strings.CutPrefix(first, "addr ")
	if !ok {
		t.Fatalf("child said %q", first)
	}
	var conns []net.Conn
	for range 80 {
		c, err := net.Dial("tcp", addr)
		must(t, err)
		conns = append(conns, c)
	}
	if l := next(); !strings.HasPrefix(l, "exhausted:") || !strings.Contains(l, "too many open files") {
		t.Fatalf("want one exhaustion report naming EMFILE, got %q", l)
	}
	for _, c := range conns {
		c.Close()
	}
	if l := next(); l != "recovered" {
		t.Fatalf("want the recovery report, got %q", l)
	}
}
