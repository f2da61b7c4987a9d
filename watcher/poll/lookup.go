package poll

import "time"

// Lookups. A forced stat of a name through FUSE costs two round trips to
// the server once the kernel's entry for the name has expired: a LOOKUP
// (the path walk revalidating the name) and the GETATTR the force asks for.
// The LOOKUP's answer carries the attributes, fresh from the server, and
// the kernel keeps them; so a plain stat of an expired name is just as
// true for half the cost (measured on bindfs: 10–13 µs of CPU against
// 18–23 µs, 32 µs of wall time against 57–61 µs). It is true only if the
// kernel's caches did expire since the name was last looked up, which
// depends on timeouts the server chose and nothing shows; a plain stat
// answered from the cache costs what a stat of a local file does, a
// round trip many times more. So the stat sweep of a share tries plain
// stats and times each one against the cost of a stat answered from the
// cache (one that cannot ask the server, AT_STATX_DONT_SYNC, measured on
// the last directory's names right after they were looked at): any plain
// stat about as fast as that may have come from the cache, and is asked
// again, forced. Where most are (the server keeps attributes for longer
// than the sweep takes, or a mount that answers from a cache: NFS,
// VirtioFS with cache=always), in more than three quarters of a window of
// lookupWindow directories, the sweep goes back to forced stats for a
// while (lookupBackoff, doubling up to lookupBackoffMax) and tries again.
// A plain stat timed slower than it was answered (the thread preempted)
// can still be a cached one; it is then stale by no more than the cache's
// lifetime, which the rest of the directory showed to be shorter than a
// sweep. Not on filesystems with a cache of known lifetime
// (Options.StatCache, sshfs: its own cache answers every stat), nor where
// the forced stat lies.
const (
	// lookupFast: a plain stat taking less than lookupFast times the
	// cached stat's cost, plus lookupSlack, may have come from the cache.
	lookupFast  = 2
	lookupSlack = 2 * time.Microsecond
	// lookupWindow is how many directories swept by plain stat the mount
	// is judged over: it goes back to forced stats when more than three
	// quarters of them had most answers timed like the cache's. Not every
	// one: the poller's own reads (the baseline's hashing, the fill pass,
	// hot files) keep some directories' names in the cache, while a mount
	// that keeps attributes longer than a sweep answers from the cache in
	// all of them.
	lookupWindow = 16
	// lookupBackoff is how long the sweep stays with forced stats after
	// most plain stats of a directory came from the cache; it doubles on
	// every failed retry, up to lookupBackoffMax.
	lookupBackoff    = 30 * time.Second
	lookupBackoffMax = 10 * time.Minute
	// lookupRefNames is how many names the cached stat is timed on.
	lookupRefNames = 4
)

// lookStater is implemented by directory handles that can stat an entry
// other than by a forced stat: plainly (the kernel's attributes if it
// deems them fresh, else one lookup) and from the cache alone (never
// asking the server).
type lookStater interface {
	lstatPlain(name string) (fstat, error)
	lstatCached(name string) (fstat, error)
}

// lookupState is what the stat sweep knows of plain stats on one share
// root.
type lookupState struct {
	// primed: a whole pass of the stat sweep has run since the start. The
	// first pass follows the baseline's look at every name, so its plain
	// stats would be answered from the cache and judge the mount wrongly.
	primed  bool
	ref     time.Duration // a stat answered from the cache costs this; 0: not measured yet
	until   time.Time     // forced stats only until then
	backoff time.Duration
	looks   int64 // plain stats made
	cached  int64 // of which timed like a cached answer (and asked again, forced)
	// winDirs and winCachedDirs count the current window's directories,
	// and those whose answers were mostly timed like the cache's.
	winDirs, winCachedDirs int
}

// plainNever reports whether plain stats are out of the question on sh's
// root: its filesystem keeps attributes for a known time (sshfs), or its
// forced stat lies.
func (sh *shareState) plainNever() bool { return sh.sticky || sh.verdict() == StatLies }

// lookupOK reports whether the sweep of a directory on sh's root may use plain
// stats at now.
func (sh *shareState) lookupOK(now time.Time) bool {
	return !sh.plainNever() && sh.lookup.primed && sh.lookup.ref > 0 && !now.Before(sh.lookup.until)
}

// lookupDir is a directory handle for one directory of the stat sweep.
// With plain set it stats by plain stat, forced again for any answer
// timed like the cache's; without, it stats as the handle does (forced)
// and only remembers names. Either way it keeps the last names it
// stat'ed, on which the cached stat is timed afterwards.
type lookupDir struct {
	dirHandle
	ls        lookStater
	plain     bool
	threshold time.Duration
	looks     int
	cached    int
	last      [lookupRefNames]string
	nlast     int
}

func (d *lookupDir) lstat(name string) (fstat, error) {
	d.last[d.nlast%lookupRefNames] = name
	d.nlast++
	if !d.plain {
		return d.dirHandle.lstat(name)
	}
	t0 := time.Now()
	st, err := d.ls.lstatPlain(name)
	if err != nil {
		return st, err
	}
	d.looks++
	if time.Since(t0) < d.threshold {
		d.cached++
		return d.dirHandle.lstat(name)
	}
	return st, nil
}

// lookupHandle returns the handle the sweep of a directory of sh's root
// should stat through: h itself where plain stats are never used, else a
// lookupDir around it.
func (sh *shareState) lookupHandle(h dirHandle, now time.Time) dirHandle {
	ls, ok := h.(lookStater)
	if !ok || sh.plainNever() {
		return h
	}
	return &lookupDir{dirHandle: h, ls: ls, plain: sh.lookupOK(now), threshold: lookupFast*sh.lookup.ref + lookupSlack}
}

// lookupDone records how the sweep of one directory went (h as returned
// by lookupHandle), and times the cached stat on the last few names it
// looked at, for the next directory.
func (sh *shareState) lookupDone(h dirHandle, now time.Time) {
	ld, ok := h.(*lookupDir)
	if !ok {
		return
	}
	l := &sh.lookup
	if ld.plain {
		l.looks += int64(ld.looks)
		l.cached += int64(ld.cached)
		if ld.looks > 0 {
			l.winDirs++
			if 2*ld.cached > ld.looks {
				l.winCachedDirs++
			}
		}
		if l.winDirs >= lookupWindow {
			if 4*l.winCachedDirs > 3*l.winDirs {
				// The cache answered nearly everywhere: it outlives a
				// sweep here.
				l.backoff = min(max(2*l.backoff, lookupBackoff), lookupBackoffMax)
				l.until = now.Add(l.backoff)
			} else if 8*l.winCachedDirs < l.winDirs {
				l.backoff = 0
			}
			l.winDirs, l.winCachedDirs = 0, 0
		}
	}
	var best time.Duration
	for _, name := range ld.last[:min(ld.nlast, lookupRefNames)] {
		t0 := time.Now()
		if _, err := ld.ls.lstatCached(name); err != nil {
			continue
		}
		if d := time.Since(t0); best == 0 || d < best {
			best = d
		}
	}
	if best > 0 {
		l.ref = best
	}
}

// lookupWhy describes how the stat sweep of sh's root stats, for the
// status.
func (sh *shareState) lookupWhy(now time.Time) string {
	l := &sh.lookup
	switch {
	case sh.plainNever():
		return "forced stat"
	case l.looks == 0 && !l.primed:
		return "forced stat (plain stats tried from the second sweep on)"
	case l.looks == 0:
		return "forced stat (plain stats not tried yet)"
	case !sh.lookupOK(now):
		return "forced stat: most plain stats were answered from the kernel's cache (tried again in " + (l.until.Sub(now).Round(time.Second)).String() + ")"
	}
	return "plain stat, one lookup where a forced stat takes two (" + itoa(l.cached) + " of " + itoa(l.looks) + " answered as fast as the cache, asked again forced)"
}
