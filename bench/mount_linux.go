package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// bindfsMount is a FUSE mount of src at dir by `bindfs -f`, the recipe of
// TESTING.md for a deaf mount: a change written to src reaches dir with no
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

// isMountPoint reports whether dir is a mount point, from
// /proc/self/mountinfo (field 5 is the mount point, with octal escapes).
func isMountPoint(dir string) bool {
	dir = filepath.Clean(dir)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == dir {
			return true
		}
	}
	return false
}

// unescapeMountinfo undoes the kernel's \ooo escapes (space, tab, newline,
// backslash) in a mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + (c - '0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
