package main

import (
	"fmt"
	"strings"

	"github.com/reloadd/reloadd/watcher/auto"
)

// newBackend starts the watcher: per mount, the mode -watch asks for, or
// with -watch auto the one that mount needs (see watcher/auto), and prints
// one line per mount saying which and why.
func (d *daemon) newBackend() (*auto.Watcher, error) {
	w, err := auto.New(d.roots, d.watchOptions())
	if err != nil {
		return nil, err
	}
	d.watch = w
	return w, nil
}

// printMounts prints the start-up explanation: one line per mount.
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
