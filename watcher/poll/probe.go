package poll

import (
	"fmt"
	"path/filepath"
	"time"
)

// Probe limits: -check should answer in about a second or two, even on a
// large tree through a slow server.
const (
	// DefaultProbeTime bounds how long Probe looks.
	DefaultProbeTime = 2 * time.Second
	// probeReads is how many files Probe reads to measure a read.
	probeReads = 32
)

// Probe looks at the tree at root the way the poller would, for a short
// while (limit; 0 means DefaultProbeTime), without watching it: it counts
// the files (as far as it gets), measures what one stat and one read cost
// there, and estimates how long a sweep of every file by stat would take
// within the share budget. The stat is the one the share's sweep will
// use (RootStats.SweepStat): a plain stat where plain stats may be
// tried, a forced one elsewhere. The verdict is where the poller
// would start: from the filesystem type (opts.Stat, opts.MountType), as no
// change has been read yet. It is for reloadd -check.
func Probe(root string, opts Options, limit time.Duration) (RootStats, error) {
	if limit <= 0 {
		limit = DefaultProbeTime
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return RootStats{}, fmt.Errorf("poll: probe %s: %w", root, err)
	}
	local, fstype := statTrusted(abs)
	trusted := local
	switch opts.Stat {
	case StatTrust:
		trusted = true
	case StatDistrust:
		trusted = false
	}
	fsys := &osFS{force: !trusted, limit: opts.MaxHashSizeOrDefault()}
	filter := opts.FilterOrDefault()
	rs := RootStats{Path: abs, Stat: StatLocal, StatWhy: "local disk filesystem (" + fstype + "): the kernel keeps the stat"}
	// sh: on a share the probe stats as the sweep will once its first
	// pass has run (lookup.go): plainly where it may, one lookup where a
	// forced stat takes two, forced again where the answer was timed like
	// the kernel's cache's.
	var sh *shareState
	if !trusted {
		sh = shareStateFor(opts)
		sh.lookup.primed = true
		rs.Stat, rs.StatWhy = sh.initial, sh.why+" (not watching: no changes read)"
	}
	deadline := time.Now().Add(limit)
	var stat, read cost
	files, complete := 0, true
	var toRead []string
	dirs := []string{abs}
	for len(dirs) > 0 {
		if time.Now().After(deadline) {
			complete = false
			break
		}
		dir := dirs[len(dirs)-1]
		dirs = dirs[:len(dirs)-1]
		h, err := fsys.openDir(dir)
		if err != nil {
			if dir == abs {
				return rs, fmt.Errorf("poll: probe %s: %w", root, unwrapPath(err))
			}
			continue
		}
		names, err := h.names()
		if err != nil {
			h.close()
			continue
		}
		if sh != nil {
			h = sh.lookupHandle(h, time.Now())
		}
		w0, c0 := time.Now(), processCPU()
		n := 0
		for _, name := range names {
			st, err := h.lstat(name)
			if err != nil {
				continue
			}
			n++
			p := join(dir, name)
			if filter.Match(p, st.mode.IsDir()) {
				continue
			}
			switch {
			case st.mode.IsDir():
				dirs = append(dirs, p)
			case hashable(st.mode):
				files++
				if len(toRead) < probeReads {
					toRead = append(toRead, p)
				}
			default:
				files++
			}
		}
		stat.add(time.Since(w0), processCPU()-c0, n)
		if sh != nil {
			sh.lookupDone(h, time.Now())
		}
		h.close()
	}
	if sh != nil {
		rs.SweepStat = "forced stat"
		if l := &sh.lookup; 2*l.cached < l.looks {
			rs.SweepStat = "plain stat"
		}
	}
	for _, p := range toRead {
		if time.Now().After(deadline.Add(limit / 4)) {
			break
		}
		w0, c0 := time.Now(), processCPU()
		if _, _, err := fsys.hash(p, 0); err == nil {
			read.add(time.Since(w0), processCPU()-c0, 1)
		}
	}
	rs.StatCost, rs.StatCPU, rs.ReadCost, rs.ReadCPU = stat.wall, stat.cpu, read.wall, read.cpu
	budget, wall, floor := DefaultColdBudget, 1.0, DefaultColdPeriod
	if !trusted {
		budget, wall, floor = DefaultShareBudget, shareWall, sharePeriod
		if opts.StatCache > 0 {
			floor = max(floor, opts.StatCache+statCacheMargin)
		}
	}
	if opts.ColdBudget > 0 {
		budget = opts.ColdBudget
	}
	rs.SweepCPU = budget
	est := func(budget float64) time.Duration {
		if trusted {
			// Local sweeps are paced by wall time alone.
			return max(floor, time.Duration(float64(files)*float64(stat.wall)/budget))
		}
		return max(floor,
			time.Duration(float64(files)*float64(stat.cpu)/budget),
			time.Duration(float64(files)*float64(stat.wall)/wall))
	}
	rs.SweepTime = est(budget)
	if !trusted {
		rs.SweepTimeEditing = est(startBoost * budget)
	}
	rs.ProbedFiles, rs.ProbeComplete = files, complete
	return rs, nil
}
