//go:build unix

package main

import "syscall"

// descriptorLimit is the process's soft limit on open files (which the Go
// runtime raises to the hard limit at start-up); 0 if unknown.
func descriptorLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int(min(rl.Cur, 1<<30))
}
