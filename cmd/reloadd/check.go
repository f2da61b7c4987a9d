package main

import (
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/reloadd/reloadd/watcher/auto"
)

// check is -check: it prints, per watched mount, the filesystem type, the
// mode -watch would use and why, and the inotify limits, then returns.
func check(cfg *config, stdout io.Writer) error {
	roots := make([]string, 0, len(cfg.dirs))
	for _, d := range cfg.dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return fmt.Errorf("watch %s: %w", d, err)
		}
		roots = append(roots, abs)
	}
	plan, err := auto.Detect(roots)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tFSTYPE\tMODE\tREASON")
	for _, c := range plan {
		mode, reason := c.Mode, c.Reason
		if cfg.watch != "auto" {
			mode, reason = auto.Mode(cfg.watch), "forced by -watch "+cfg.watch
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Path, c.FSType, mode, reason)
	}
	tw.Flush()
	l := auto.InotifyLimits()
	fmt.Fprintf(stdout, "\ninotify limits: fs.inotify.max_user_watches=%d max_user_instances=%d max_queued_events=%d\n",
		l.MaxUserWatches, l.MaxUserInstances, l.MaxQueuedEvents)
	return nil
}
