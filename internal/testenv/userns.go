package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// InotifyLimited re-runs the test binary's test named child (a -test.run
// pattern) in a new user namespace whose inotify limit sysctl
// ("max_inotify_watches" or "max_inotify_instances", under
// /proc/sys/user) is value, with env added, and returns its combined
// output. The kernel itself then refuses watches (ENOSPC) or instances
// (EMFILE), without touching the machine's settings:
//
//	unshare -U -r sh -c 'echo 20 > /proc/sys/user/max_inotify_watches; exec TEST -test.run=CHILD'
//
// The test is skipped (failed under RELOADD_CI) where user namespaces are
// not available; a child that fails fails the test.
func InotifyLimited(t testing.TB, sysctl, value, child string, env ...string) []byte {
	t.Helper()
	Need(t, "unshare")
	script := fmt.Sprintf(`echo %s > /proc/sys/user/%s && exec "$0" -test.run='%s' -test.v`, value, sysctl, child)
	cmd := exec.Command("unshare", "-U", "-r", "sh", "-c", script, os.Args[0])
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil && bytes.Contains(out, []byte("unshare failed")) {
		Missing(t, "user namespaces are not available: "+strings.TrimSpace(string(out)))
	}
	if err != nil {
		t.Fatalf("child %s: %v\n%s", child, err, out)
	}
	return out
}

// InMountNamespace re-runs the test binary's test named child (a -test.run
// pattern) as root in new user and mount namespaces, with env added, and
// returns its combined output. The child can mount and unmount
// filesystems that allow it in a user namespace (tmpfs) for real; the
// mounts vanish with the child, and the machine's mount table never sees
// them:
//
//	unshare -U -r -m sh -c 'exec TEST -test.run=CHILD'
//
// The test is skipped (failed under RELOADD_CI) where user namespaces are
// not available; a child that fails, or does not run, fails the test.
func InMountNamespace(t testing.TB, child string, env ...string) []byte {
	t.Helper()
	Need(t, "unshare")
	cmd := exec.Command("unshare", "-U", "-r", "-m", "--propagation", "private", "sh", "-c",
		fmt.Sprintf(`exec "$0" -test.run='%s' -test.v`, child), os.Args[0])
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil && bytes.Contains(out, []byte("unshare failed")) {
		Missing(t, "user namespaces are not available: "+strings.TrimSpace(string(out)))
	}
	if err != nil {
		t.Fatalf("child %s: %v\n%s", child, err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS")) {
		t.Fatalf("child %s did not run:\n%s", child, out)
	}
	return out
}
