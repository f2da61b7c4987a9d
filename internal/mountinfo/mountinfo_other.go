//go:build !linux

package mountinfo

import (
	"errors"
	"io"
)

var errNotLinux = errors.New("mountinfo: /proc/self/mountinfo is Linux-only")

// Parse parses the format of /proc/self/mountinfo: Linux only.
func Parse(io.Reader) ([]Mount, error) { return nil, errNotLinux }

// Read returns this process's mounts: Linux only.
func Read() ([]Mount, error) { return nil, errNotLinux }

// IsMountPoint reports false off Linux.
func IsMountPoint(string) bool { return false }
