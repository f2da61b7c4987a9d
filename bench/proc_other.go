//go:build !linux

package main

import (
	"runtime"
	"time"
)

func cpuTime(pid int) (time.Duration, error) { return 0, errNotLinux }
func memoryOf(pid int) (memory, error)       { return memory{}, errNotLinux }
func raiseNOFILE() (uint64, error)           { return 0, errNotLinux }
func kernelRelease() string                  { return runtime.GOOS }
func cpuModel() string                       { return "?" }
func fsType(path string) string              { return "?" }
