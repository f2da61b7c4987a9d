package mountinfo

import (
	"fmt"
	"io"
	"path/filepath"

	moby "github.com/moby/sys/mountinfo"
)

// Parse parses the format of /proc/self/mountinfo (proc(5)). A line
// without the mandatory fields or the "-" separator is an error: a kernel
// that prints something else is better reported than guessed at. (Mount
// and parent IDs are not checked: reloadd does not use them, and the
// parser reads a non-number as 0.)
func Parse(r io.Reader) ([]Mount, error) {
	infos, err := moby.GetMountsFromReader(r, nil)
	if err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	return convert(infos), nil
}

// Read returns this process's mounts, from /proc/thread-self/mountinfo
// (the calling thread's mount namespace, which is the one its path lookups
// use).
func Read() ([]Mount, error) {
	infos, err := moby.GetMounts(nil)
	if err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	return convert(infos), nil
}

func convert(infos []*moby.Info) []Mount {
	ms := make([]Mount, len(infos))
	for i, in := range infos {
		ms[i] = Mount{ID: in.ID, Parent: in.Parent, Point: in.Mountpoint, FSType: in.FSType, Source: in.Source}
	}
	return ms
}

// IsMountPoint reports whether dir is a mount point, by the mount table
// (false when it cannot be read). A FUSE mount whose daemon has died is
// still a mount point; asking the table, rather than stat or openat2,
// never touches the mount itself.
func IsMountPoint(dir string) bool {
	dir = filepath.Clean(dir)
	infos, err := moby.GetMounts(moby.SingleEntryFilter(dir))
	return err == nil && len(infos) > 0
}
