package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/reloadd/reloadd/internal/mountinfo"
)

// bindfsMount is a FUSE mount of src at dir by `bindfs -f` (or another
// FUSE daemon in the foreground), the recipe of docs/TESTING.md for a deaf mount: a change written to src reaches dir with no
// inotify event on dir, as on Docker Desktop, VM shared folders and NFS.
// (internal/testenv's mount helpers are for tests; the suite runs outside
// the testing package, so it keeps this small one.)
type bindfsMount struct {
	src, dir string
	cmd      *exec.Cmd
	exited   chan struct{}
}

// pid is the FUSE daemon's process id.
func (m *bindfsMount) pid() int { return m.cmd.Process.Pid }

// errNoTool marks a figure that cannot run because a tool is missing.
var errNoTool = errors.New("tool missing")

// mountBindfs mounts src at dir and waits until dir is a mount point.
func mountBindfs(src, dir string) (*bindfsMount, error) {
	if _, err := exec.LookPath("bindfs"); err != nil {
		return nil, fmt.Errorf("bindfs is not installed (apt-get install bindfs fuse3): %w", errNoTool)
	}
	m, err := mountFUSE("bindfs", dir, "bindfs", "-f", src, dir)
	if m != nil {
		m.src = src
	}
	return m, err
}

// mountFUSE runs a FUSE daemon in the foreground (argv) and waits until
// dir is a mount point.
func mountFUSE(name, dir string, argv ...string) (*bindfsMount, error) {
	bin, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("%s is not installed: %w", argv[0], errNoTool)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return nil, fmt.Errorf("/dev/fuse is missing: %w", errNoTool)
	}
	m := &bindfsMount{dir: dir, exited: make(chan struct{})}
	m.cmd = exec.Command(bin, argv[1:]...)
	out := newEventLog()
	m.cmd.Stdout, m.cmd.Stderr = out, out
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { m.cmd.Wait(); close(m.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for !isMountPoint(dir) {
		select {
		case <-m.exited:
			return nil, fmt.Errorf("%s exited before mounting %s: %s", name, dir, out.String())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			m.unmount()
			return nil, fmt.Errorf("%s did not mount %s within 30s: %s", name, dir, out.String())
		}
	}
	return m, nil
}

// unmount unmounts and waits for the FUSE daemon to exit.
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
