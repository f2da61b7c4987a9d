//go:build linux

package auto

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/reloadd/reloadd/internal/mountinfo"
)

// Detect reads the mount table (/proc/thread-self/mountinfo) and statfs(2)
// and plans the roots.
func Detect(roots []string) ([]Choice, error) {
	mounts, err := mountinfo.Read()
	if err != nil {
		return nil, fmt.Errorf("auto: %w", err)
	}
	return Plan(roots, mounts, statfsType), nil
}

func statfsType(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Type), nil
}

// Limits are the kernel's inotify limits for this user.
type Limits struct {
	MaxUserWatches   int `json:"max_user_watches"`
	MaxUserInstances int `json:"max_user_instances"`
	MaxQueuedEvents  int `json:"max_queued_events"`
}

// InotifyLimits reads the limits from /proc/sys/fs/inotify (0 where
// unreadable).
func InotifyLimits() Limits {
	read := func(name string) int {
		b, err := os.ReadFile("/proc/sys/fs/inotify/" + name)
		if err != nil {
			return 0
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	return Limits{
		MaxUserWatches:   read("max_user_watches"),
		MaxUserInstances: read("max_user_instances"),
		MaxQueuedEvents:  read("max_queued_events"),
	}
}
