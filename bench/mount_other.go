//go:build !linux

package main

import (
	"errors"
	"fmt"
)

// errNoTool marks a figure that cannot run because a tool is missing.
var errNoTool = errors.New("tool missing")

type bindfsMount struct{ src, dir string }

func mountBindfs(src, dir string) (*bindfsMount, error) {
	return nil, fmt.Errorf("bindfs mounts need Linux: %w", errNoTool)
}

func (m *bindfsMount) pid() int { return 0 }
func (m *bindfsMount) unmount() {}

type sshfsMount struct{ src, dir string }

func mountSSHFS(src, dir string, opts ...string) (*sshfsMount, error) {
	return nil, fmt.Errorf("sshfs mounts need Linux: %w", errNoTool)
}

func (m *sshfsMount) pid() int { return 0 }
func (m *sshfsMount) unmount() {}
