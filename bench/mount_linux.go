package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/reloadd/reloadd/internal/mountinfo"
)

// bindfsMount is a FUSE mount of src at dir by `bindfs -f`, the recipe of
// docs/TESTING.md for a deaf mount: a change written to src reaches dir with no
// inotify event on dir, as on Docker Desktop, VM shared folders and NFS.
// (internal/testenv's mount helpers are for tests; the suite runs outside
// the testing package, so it keeps this small one.)
type bindfsMount struct {
	src, dir string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// errNoTool marks a figure that cannot run because a tool is missing.
var errNoTool = errors.New("tool missing")

// mountBindfs mounts src at dir and waits until dir is a mount point.
func mountBindfs(src, dir string) (*bindfsMount, error) {
	bin, err := exec.LookPath("bindfs")
	if err != nil {
		return nil, fmt.Errorf("bindfs is not installed (apt-get install bindfs fuse3): %w", errNoTool)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, fmt.Errorf("/dev/fuse is missing: %w", errNoTool)
	}
	m := &bindfsMount{src: src, dir: dir, exited: make(chan struct{})}
	m.cmd = exec.Command(bin, "-f", src, dir)
	out := newEventLog()
	m.cmd.Stdout, m.cmd.Stderr = out, out
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start bindfs: %w", err)
	}
	go func() { m.cmd.Wait(); close(m.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for !isMountPoint(dir) {
		select {
		case <-m.exited:
			return nil, fmt.Errorf("bindfs exited before mounting %s: %s", dir, out.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.unmount()
			return nil, fmt.Errorf("bindfs did not mount %s within 30s: %s", dir, out.String())
		}
	}
	return m, nil
}

// unmount unmounts and waits for bindfs to exit.
func (m *bindfsMount) unmount() {
	for _, tool := range []string{"fusermount3", "fusermount"} {
		if exec.Command(tool, "-u", m.dir).Run() == nil {
			break
		}
	}
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		<-m.exited
	}
}

// isMountPoint reports whether dir is a mount point.
func isMountPoint(dir string) bool { return mountinfo.IsMountPoint(dir) }
