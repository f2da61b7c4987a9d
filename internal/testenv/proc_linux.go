package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// ProcState returns the state letter of process pid from /proc (R, S, D,
// T, Z, ...), its process group id, and whether the process exists at all.
func ProcState(pid int) (state byte, pgid int, ok bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid pgrp ...; comm may contain spaces and parens.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, 0, false
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 3 {
		return 0, 0, false
	}
	pgid, _ = strconv.Atoi(f[2])
	return f[0][0], pgid, true
}

// Alive reports whether process pid exists and is not a zombie (a zombie
// has exited; only its parent has not collected the status yet).
func Alive(pid int) bool {
	st, _, ok := ProcState(pid)
	return ok && st != 'Z' && st != 'X'
}

// GroupMembers returns the live (non-zombie) processes whose process group
// is pgid.
func GroupMembers(pgid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, g, ok := ProcState(pid)
		if ok && g == pgid && st != 'Z' && st != 'X' {
			pids = append(pids, pid)
		}
	}
	return pids
}

// ReadPids reads the whitespace-separated pids a script wrote to path,
// waiting until the file holds want of them.
func ReadPids(t testing.TB, path string, want int) []int {
	t.Helper()
	var pids []int
	Eventually(t, fmt.Sprintf("%d pids in %s", want, path), func() bool {
		b, _ := os.ReadFile(path)
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				pids = append(pids, n)
			}
		}
		return len(pids) >= want
	})
	return pids
}

// WaitGone waits until none of pids is alive and process group pgid (if
// not 0) is empty; zombies count as gone: they have exited.
func WaitGone(t testing.TB, pgid int, pids ...int) {
	t.Helper()
	Eventually(t, fmt.Sprintf("processes %v and group %d to be gone", pids, pgid), func() bool {
		for _, p := range pids {
			if Alive(p) {
				return false
			}
		}
		return pgid == 0 || len(GroupMembers(pgid)) == 0
	})
}
