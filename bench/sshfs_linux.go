package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// sshfsMount is src mounted at dir by `sshfs -f` through a throwaway sshd
// on a free loopback port (the recipe of docs/TESTING.md): a real network
// filesystem, whose stat shows a change late (sshfs's own attribute cache)
// while a read sees it at once. (internal/testenv has the same for tests;
// the suite runs outside the testing package.)
type sshfsMount struct {
	src, dir string
	tmp      string // keys, config, pid file
	sshd     *exec.Cmd
	sshdDone chan struct{}
	fuse     *bindfsMount // the sshfs process, waited for like bindfs
}

// mountSSHFS mounts src at dir and waits until dir is a mount point. opts
// are more sshfs -o options.
func mountSSHFS(src, dir string, opts ...string) (*sshfsMount, error) {
	for _, tool := range []string{"sshfs", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed (apt-get install sshfs openssh-server): %w", tool, errNoTool)
		}
	}
	const sshd = "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		return nil, fmt.Errorf("sshd is not installed (apt-get install openssh-server): %w", errNoTool)
	}
	tmp, err := os.MkdirTemp("", "reloadd-bench-sshd-")
	if err != nil {
		return nil, err
	}
	m := &sshfsMount{src: src, dir: dir, tmp: tmp}
	fail := func(err error) (*sshfsMount, error) {
		m.unmount()
		return nil, err
	}
	key, hostKey := filepath.Join(tmp, "key"), filepath.Join(tmp, "host_key")
	for _, k := range []string{key, hostKey} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k).CombinedOutput(); err != nil {
			return fail(fmt.Errorf("ssh-keygen: %v: %s", err, out))
		}
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		return fail(err)
	}
	auth := filepath.Join(tmp, "authorized_keys")
	if err := os.WriteFile(auth, pub, 0o600); err != nil {
		return fail(err)
	}
	addr, err := freeAddr()
	if err != nil {
		return fail(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	cfg := filepath.Join(tmp, "sshd_config")
	conf := fmt.Sprintf("ListenAddress 127.0.0.1\nPort %s\nHostKey %s\nAuthorizedKeysFile %s\nPidFile %s\n"+
		"Subsystem sftp internal-sftp\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n"+
		"KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
		port, hostKey, auth, filepath.Join(tmp, "sshd.pid"))
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return fail(err)
	}
	m.sshd = exec.Command(sshd, "-D", "-e", "-f", cfg)
	out := newEventLog()
	m.sshd.Stdout, m.sshd.Stderr = out, out
	if err := m.sshd.Start(); err != nil {
		return fail(fmt.Errorf("start sshd: %w", err))
	}
	m.sshdDone = make(chan struct{})
	go func() { m.sshd.Wait(); close(m.sshdDone) }()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		select {
		case <-m.sshdDone:
			return fail(fmt.Errorf("sshd exited: %s", out.String()))
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("sshd did not listen within 30s: %s", out.String()))
		}
	}
	user := ""
	if u := os.Getenv("USER"); u != "" {
		user = u + "@"
	}
	o := strings.Join(append([]string{"IdentityFile=" + key, "StrictHostKeyChecking=no",
		"UserKnownHostsFile=/dev/null", "BatchMode=yes", "LogLevel=ERROR"}, opts...), ",")
	m.fuse, err = mountFUSE("sshfs", dir, "sshfs", "-f", "-p", port, "-o", o, user+"127.0.0.1:"+src, dir)
	if err != nil {
		return fail(err)
	}
	return m, nil
}

// pid is the sshfs process (the FUSE daemon).
func (m *sshfsMount) pid() int { return m.fuse.cmd.Process.Pid }

// unmount unmounts, stops sshd and removes the keys. Idempotent.
func (m *sshfsMount) unmount() {
	if m.fuse != nil {
		m.fuse.unmount()
		m.fuse = nil
	}
	if m.sshd != nil {
		m.sshd.Process.Kill()
		<-m.sshdDone
		m.sshd = nil
	}
	os.RemoveAll(m.tmp)
}
