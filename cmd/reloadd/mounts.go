package main

import (
	"fmt"
	"strings"
)

// printMounts prints the start-up explanation of the watcher: one line per
// mount, with its filesystem, its mode and why.
func (d *daemon) printMounts() {
	ms := d.watch.Mounts()
	width := 0
	for _, m := range ms {
		width = max(width, len(d.out.short([]string{m.Path})))
	}
	for _, m := range ms {
		path := d.out.short([]string{m.Path})
		line := fmt.Sprintf("  %-*s  %s  %s  (%s)", width, path, m.FSType, m.Mode, m.Reason)
		d.out.event("mount", strings.TrimRight(line, " "), map[string]any{
			"path": m.Path, "fstype": m.FSType, "mode": m.Mode, "reason": m.Reason,
			"dirs": m.Dirs, "files": m.Files,
		})
	}
}
