package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reloadd/reloadd/internal/mountinfo"
)

// Mount is a FUSE filesystem mounted for a test: bindfs of a directory, or
// sshfs of a directory through a loopback sshd. Changes made in Src reach
// Dir without any inotify event on Dir: a deaf mount, as Docker Desktop,
// VM shared folders and network filesystems are.
//
// The mount is unmounted, and its processes stopped, in t.Cleanup.
type Mount struct {
	// Src is the backing directory (write here to change things "from the
	// other side").
	Src string
	// Dir is the mount point.
	Dir string

	t    testing.TB
	argv []string // the FUSE daemon's command line, run in the foreground

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Bindfs mounts src at mnt with `bindfs -f` and waits until mnt is a mount
// point. It skips the test (fails it under RELOADD_CI) when bindfs or
// /dev/fuse is missing.
func Bindfs(t testing.TB, src, mnt string) *Mount {
	t.Helper()
	return BindfsWith(t, src, mnt, "")
}

// BindfsWith is Bindfs with mount options (bindfs -o OPTS: its own, and
// FUSE's such as attr_timeout=SECONDS); "" is none.
func BindfsWith(t testing.TB, src, mnt, opts string) *Mount {
	t.Helper()
	bin := Need(t, "bindfs")
	needFuse(t)
	argv := []string{bin, "-f"}
	if opts != "" {
		argv = append(argv, "-o", opts)
	}
	m := &Mount{Src: src, Dir: mnt, t: t, argv: append(argv, src, mnt)}
	t.Cleanup(func() { m.unmount() })
	if err := m.Mount(); err != nil {
		t.Fatal(err)
	}
	return m
}

func needFuse(t testing.TB) {
	t.Helper()
	Need(t, "fusermount")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		Missing(t, "/dev/fuse is missing")
	}
}

// Mount mounts again after Unmount (or for the first time), and waits until
// the mount point is mounted.
func (m *Mount) Mount() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return fmt.Errorf("%s is already mounted", m.Dir)
	}
	cmd := exec.Command(m.argv[0], m.argv[1:]...)
	var out Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", m.argv[0], err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(WaitLimit)
	for !IsMountPoint(m.Dir) {
		select {
		case <-done:
			return fmt.Errorf("%s exited before mounting %s:\n%s", filepath.Base(m.argv[0]), m.Dir, out.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("%s did not mount %s within %v:\n%s", filepath.Base(m.argv[0]), m.Dir, WaitLimit, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	m.cmd, m.done = cmd, done
	return nil
}

// Unmount unmounts with fusermount -u and waits for the FUSE daemon to
// exit. The mount point shows the (usually empty) directory below again.
func (m *Mount) Unmount() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.unmountLocked()
}

func (m *Mount) unmount() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.unmountLocked(); err != nil {
		m.t.Errorf("cleanup: %v", err)
	}
}

func (m *Mount) unmountLocked() error {
	if m.cmd == nil {
		return nil
	}
	var err error
	for i := 0; ; i++ {
		out, uerr := exec.Command("fusermount", "-u", m.Dir).CombinedOutput()
		if uerr == nil {
			break
		}
		// Busy (a process still has a file open): retry briefly, then
		// detach lazily so a failed test cannot leave a mount behind.
		if i == 50 {
			exec.Command("fusermount", "-u", "-z", m.Dir).Run()
			err = fmt.Errorf("fusermount -u %s: %v: %s", m.Dir, uerr, strings.TrimSpace(string(out)))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-m.done:
	case <-time.After(WaitLimit):
		m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
	return err
}

// Kill kills the FUSE daemon without unmounting: the mount point then
// answers ENOTCONN ("transport endpoint is not connected"), as a crashed
// FUSE daemon or a dead network connection does. Unmount cleans up after.
func (m *Mount) Kill() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		m.cmd.Process.Kill()
		<-m.done
	}
}

// IsMountPoint reports whether dir is a mount point (see
// mountinfo.IsMountPoint).
func IsMountPoint(dir string) bool { return mountinfo.IsMountPoint(dir) }

// SSHFS mounts src at mnt over sshfs, served by a throwaway sshd on a free
// loopback port (the recipe in docs/TESTING.md). Through sshfs a stat can show
// old attributes for ~20 s after a change in src, while reading the file
// sees the new bytes at once. opts are more sshfs -o options.
func SSHFS(t testing.TB, src, mnt string, opts ...string) *Mount {
	t.Helper()
	sshfs := Need(t, "sshfs")
	needFuse(t)
	keygen := Need(t, "ssh-keygen")
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		Missing(t, "sshd is not installed (apt-get install openssh-server)")
	}
	dir, err := os.MkdirTemp("", "reloadd-sshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	key, hostKey := filepath.Join(dir, "key"), filepath.Join(dir, "host_key")
	for _, k := range []string{key, hostKey} {
		if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := filepath.Join(dir, "sshd_config")
	conf := fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
AuthorizedKeysFile %s
PidFile %s
Subsystem sftp internal-sftp
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
`, port, hostKey, auth, filepath.Join(dir, "sshd.pid"))
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	d := exec.Command(sshd, "-D", "-e", "-f", cfg)
	var dout Buffer
	d.Stdout, d.Stderr = &dout, &dout
	if err := d.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	ddone := make(chan struct{})
	go func() { d.Wait(); close(ddone) }()
	t.Cleanup(func() {
		d.Process.Kill()
		<-ddone
	})
	Eventually(t, "sshd to listen", func() bool {
		select {
		case <-ddone:
			t.Fatalf("sshd exited:\n%s", dout.String())
		default:
		}
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	u := ""
	if name := os.Getenv("USER"); name != "" {
		u = name + "@"
	}
	m := &Mount{Src: src, Dir: mnt, t: t, argv: []string{sshfs, "-f", "-p", fmt.Sprint(port),
		"-o", strings.Join(append([]string{"IdentityFile=" + key, "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null",
			"BatchMode=yes", "LogLevel=ERROR"}, opts...), ","),
		u + "127.0.0.1:" + src, mnt}}
	t.Cleanup(func() { m.unmount() }) // runs before sshd is killed
	if err := m.Mount(); err != nil {
		t.Fatalf("%v\nsshd:\n%s", err, dout.String())
	}
	return m
}
