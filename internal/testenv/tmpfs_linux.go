package testenv

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// Tmpfs mounts a small tmpfs at dir (which must exist), in this machine's
// mount namespace, and unmounts it in t.Cleanup. It skips the test (fails
// it under RELOADD_CI) when the process may not mount: that needs root
// (CAP_SYS_ADMIN).
func Tmpfs(t testing.TB, dir string) {
	t.Helper()
	if err := unix.Mount("reloadd-test", dir, "tmpfs", 0, "size=4m,mode=0755"); err != nil {
		if errors.Is(err, unix.EPERM) {
			Missing(t, "mounting a tmpfs needs root (CAP_SYS_ADMIN)")
		}
		t.Fatalf("mount tmpfs at %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			// Still busy: detach it, so a failed test cannot leave a
			// mount behind, and say so.
			unix.Unmount(dir, unix.MNT_DETACH)
			t.Errorf("cleanup: umount %s: %v", dir, err)
		}
	})
}
