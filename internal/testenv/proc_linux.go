package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
