//go:build !linux

package main

import "time"

// fileCtime is Linux-only for now: elsewhere no write time is known.
func fileCtime(string) (time.Time, bool) { return time.Time{}, false }
