// Package mountinfo reads Linux's /proc/self/mountinfo: which filesystem
// is mounted where. watcher/auto decides watch modes from it; tests and the
// bench suite use it to wait for FUSE mounts.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo that matters to reloadd.
type Mount struct {
	ID     int    // mount ID
	Parent int    // parent mount ID
	Point  string // mount point, unescaped
	FSType string // filesystem type, e.g. "ext4", "fuse.sshfs", "nfs4"
	Source string // mount source, e.g. "/dev/sda1", "host:/export"
}

// Parse parses the format of /proc/self/mountinfo (proc(5)).
// Malformed lines are an error: a kernel that prints something else is
// better reported than guessed at.
func Parse(r io.Reader) ([]Mount, error) {
	var ms []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseMountLine(line)
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		ms = append(ms, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	return ms, nil
}

// parseMountLine parses
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//	(1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
func parseMountLine(line string) (Mount, error) {
	f := strings.Fields(line)
	sep := slices.Index(f, "-")
	if sep < 6 || len(f) < sep+3 {
		return Mount{}, fmt.Errorf("malformed: %q", line)
	}
	id, err1 := strconv.Atoi(f[0])
	parent, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return Mount{}, fmt.Errorf("malformed ids: %q", line)
	}
	return Mount{
		ID:     id,
		Parent: parent,
		Point:  unescapeOctal(f[4]),
		FSType: f[sep+1],
		Source: unescapeOctal(f[sep+2]),
	}, nil
}

// unescapeOctal undoes the kernel's \ooo escapes of space, tab, newline and
// backslash in mountinfo fields.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// IsMountPoint reports whether dir is a mount point, by
// /proc/self/mountinfo (false where there is none).
func IsMountPoint(dir string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	mounts, err := Parse(f)
	if err != nil {
		return false
	}
	dir = filepath.Clean(dir)
	for _, m := range mounts {
		if m.Point == dir {
			return true
		}
	}
	return false
}
