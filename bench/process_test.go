package main

import (
	"fmt"
	"net/http"
	"os/exec"
	"syscall"
	"time"
)

var lookPath = exec.LookPath

// process is a server other than reloadd that a test runs as a child.
type process struct {
	cmd    *exec.Cmd
	log    *eventLog
	exited chan struct{}
}

func startProcess(bin string, args ...string) (*process, error) {
	p := &process{cmd: exec.Command(bin, args...), log: newEventLog(), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	return p, nil
}

// stop sends SIGTERM, then SIGKILL after a while, and waits.
func (p *process) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopLimit):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

// waitHTTP polls url until it answers 200 or limit passes.
func waitHTTP(url string, limit time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer within %v", url, limit)
}
