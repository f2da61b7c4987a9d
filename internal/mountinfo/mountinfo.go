// Package mountinfo tells which filesystem is mounted where, for reloadd:
// watcher/auto decides watch modes from it; tests and the bench suite use
// it to wait for FUSE mounts.
//
// The parsing is github.com/moby/sys/mountinfo's (the parser Docker,
// containerd and runc use); this package keeps reloadd's own small view of
// a mount, so that no dependency's type crosses reloadd's API.
package mountinfo

// Mount is one line of /proc/self/mountinfo that matters to reloadd.
type Mount struct {
	ID     int    // mount ID
	Parent int    // parent mount ID
	Point  string // mount point, unescaped
	FSType string // filesystem type, e.g. "ext4", "fuse.sshfs", "nfs4"
	Source string // mount source, e.g. "/dev/sda1", "host:/export"
}
