package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"

	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/auto"
)

// check is -check: it prints, per watched mount, the filesystem type, the
// mode and why, then the inotify limits, and returns. The plan is
// auto.PlanMounts with the run's roots, filter and -watch mode, the very
// plan auto.New watches: -check shows exactly what the run will do.
func check(cfg *config, stdout io.Writer) error {
	d, err := newLayout(cfg, stdout)
	if err != nil {
		return err
	}
	plan, err := auto.PlanMounts(d.roots, d.watchOptions(cfg))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tFSTYPE\tMODE\tREASON")
	for _, c := range plan {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Path, c.FSType, c.Mode, c.Reason)
	}
	tw.Flush()
	probeShares(stdout, plan)
	for _, r := range d.roots {
		if !slices.ContainsFunc(plan, func(c auto.Choice) bool { return c.Path == r }) {
			fmt.Fprintf(stdout, "\n%s: the ignore rules leave it out: nothing in it is watched\n", r)
		}
	}
	l := auto.InotifyLimits()
	fmt.Fprintf(stdout, "\ninotify limits: fs.inotify.max_user_watches=%d max_user_instances=%d max_queued_events=%d\n",
		l.MaxUserWatches, l.MaxUserInstances, l.MaxQueuedEvents)
	return nil
}

// probeShares prints, for each polled mount, what its poller would start
// from (auto.ProbeMount: a couple of seconds of looking, no watching): the
// verdict on a forced stat and why, what a stat and a read cost there, and
// how long a sweep of every file by stat would take.
func probeShares(stdout io.Writer, plan []auto.Choice) {
	for _, c := range plan {
		ps, err := auto.ProbeMount(c) // nil for a mount that is not polled
		if err != nil {
			fmt.Fprintf(stdout, "\n%s: %v\n", c.Path, err)
			continue
		}
		if ps == nil {
			continue
		}
		files := fmt.Sprintf("%d", ps.Files)
		if !ps.FilesComplete {
			files = "more than " + files
		}
		editing := ""
		if ps.SweepEditingMS > 0 {
			editing = fmt.Sprintf("; ≈ %.1f s while files change, at twice the CPU", ps.SweepEditingMS/1000)
		}
		look := ps.SweepStat
		if look == "" {
			look = "stat"
		}
		fmt.Fprintf(stdout, "\n%s: stat %s: %s\n  %s %.0f µs, read %.0f µs; %s files; a sweep by stat ≈ %.1f s (≤ %g%% of a core%s)\n",
			c.Path, ps.Stat, ps.StatWhy, look, ps.StatUS, ps.ReadUS, files, ps.SweepMS/1000, ps.SweepCPUPct, editing)
	}
}

// watchOptions are the watcher's options, the same for the run
// (newDaemon) and for -check.
func (l *layout) watchOptions(cfg *config) auto.Options {
	return auto.Options{
		Options:      watcher.Options{Filter: l.filter},
		Mode:         auto.Mode(cfg.watch),
		PollInterval: cfg.pollInterval,
	}
}
