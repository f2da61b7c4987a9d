package poll

import (
	"slices"
	"time"
)

// Shares: roots on filesystems whose stat the kernel does not keep itself
// (FUSE, NFS, SMB, 9p, VirtioFS, vboxsf ...). See the design notes in
// doc.go ("Shares") for the reasoning and the constants' reasons.
const (
	// DefaultShareBudget is the share of one core (the process's CPU
	// time) the stat sweep of shares may use; Options.ColdBudget overrides
	// it.
	DefaultShareBudget = 0.075
	// sharePeriod is the shortest time a stat sweep of shares takes (the
	// local sweep's is Options.ColdPeriod, 2 s): on a small share the CPU
	// budget does not bind, and a sweep a second keeps the first save of
	// any file within about a second.
	sharePeriod = time.Second
	// startBoost multiplies the stat sweep's budget for startWindow after
	// the start (the first saves come then, and the read sweep is still
	// filling in hashes: a one-time cost, like the fill pass's), for
	// longer if the first sweep has not ended by then (sshfs: its first
	// visits wait for the cache's entries to expire; at most
	// firstSweepWindow after the start, in case a root stays down), and
	// while anything is hot (someone is editing: see sched.boostFor).
	startBoost       = 2.0
	startWindow      = 30 * time.Second
	firstSweepWindow = 3 * time.Minute
	// cacheDueMargin is added to Options.StatCache for a directory's next
	// visit on a cache-bound share: sshfs stamps its entries in whole
	// seconds (up to 1 s more), and a visit is timed at its tick's start.
	cacheDueMargin = 1500 * time.Millisecond
	// statCacheMargin is added to Options.StatCache for the shortest stat
	// sweep: sshfs stamps its cache entries in whole seconds, and the
	// sweep's order changes a little from pass to pass.
	statCacheMargin = 2 * time.Second
	// shareWall bounds the share of wall time the stat sweep may keep the
	// loop busy (mostly waiting for the server): the rest is for hot
	// files, hints and the other sweeps.
	shareWall = 0.5
	// readBudgetLies, readBudgetSafe and readBudgetFill are the read
	// sweep's CPU shares: where stat lies (reads are then the only quick
	// way to see a change), where it has told the truth (a safety net), and
	// while files are still without a hash (it doubles as the fill pass).
	readBudgetLies = 0.03
	readBudgetSafe = 0.01
	readBudgetFill = 0.05
	// readWall bounds the read sweep's share of wall time.
	readWall = 0.2
	// readHead is how many of the most recently modified files the read
	// sweep reads again after every readSlice files of the whole tree: the
	// files most likely to be edited are read most often.
	readHead  = 256
	readSlice = 1024
	// evidenceRing is how many recent observations the verdict weighs;
	// evidenceMin is how many (all truthful) it takes to call a forced
	// stat truthful.
	evidenceRing = 16
	evidenceMin  = 3
	// maxLies bounds the files whose stat is awaited after a lie (for the
	// lag measurement).
	maxLies = 256
	// costAlpha is the weight of a new sample in the cost averages.
	costAlpha = 0.1
)

// StatVerdict says whether a forced stat on a root's filesystem shows a
// change of a file's content at once.
type StatVerdict string

// The verdicts.
const (
	// StatLocal: a local disk filesystem; the kernel keeps the stat.
	StatLocal StatVerdict = "local"
	// StatUnproven: no evidence yet; the filesystem type suggests a
	// forced stat tells the truth, and the poller sweeps by stat.
	StatUnproven StatVerdict = "unproven"
	// StatTruthful: recent content changes all showed in the forced stat.
	StatTruthful StatVerdict = "truthful"
	// StatLies: a recent content change did not show in the forced stat
	// (sshfs's own cache: until it expires, ~20 s). The poller still
	// sweeps by stat (it bounds the delay to the cache's lifetime) and
	// reads the most recently modified files as often as its budget
	// allows.
	StatLies StatVerdict = "lies"
)

// observation is what judge learnt about the stat from one look that read
// the content.
type observation uint8

const (
	obsNone     observation = iota
	obsHeld                 // the content changed, and so did the stat
	obsLied                 // the content changed, the stat did not
	obsStatOnly             // the stat moved, the content did not (a touch, or a stat catching up)
)

// cost is a moving average of one kind of look.
type cost struct {
	wall, cpu time.Duration
	n         int64
}

func (c *cost) add(wall, cpu time.Duration, units int) {
	if units <= 0 {
		return
	}
	w, p := wall/time.Duration(units), cpu/time.Duration(units)
	if c.n == 0 {
		c.wall, c.cpu = w, p
	} else {
		c.wall += time.Duration(costAlpha * float64(w-c.wall))
		c.cpu += time.Duration(costAlpha * float64(p-c.cpu))
	}
	c.n += int64(units)
}

// shareState is what the poller learns about a share root.
type shareState struct {
	initial StatVerdict // from the filesystem type
	why     string      // the reason for initial
	// sticky: initial is lies because of a cache of known lifetime
	// (Options.StatCache); truthful evidence cannot overturn it.
	sticky  bool
	ring    uint32 // the last observations, newest in bit 0: 1 = lied
	nring   int
	held    int64 // content changes the stat showed
	lied    int64 // content changes it did not
	lagMax  time.Duration
	lagLast time.Duration
	lies    map[fileRef]time.Time // files whose stat has not caught up yet

	stat, read cost // per look
	lookup     lookupState
	sweepTime  time.Duration
	readTime   time.Duration
	readStart  time.Time
}

func newShareState(lies bool) *shareState {
	s := &shareState{initial: StatUnproven, why: "the filesystem type suggests a forced stat asks the server"}
	if lies {
		s.initial = StatLies
		s.why = "sshfs keeps its own attribute cache (20 s unless -o cache_timeout): a forced stat does not reach the server"
	}
	return s
}

// shareStateFor is a share root's starting state for the caller's
// options: a forced stat lies from the start on sshfs (MountType) and
// wherever the filesystem keeps attributes for a known time (StatCache),
// and for the latter no evidence overturns that.
func shareStateFor(o Options) *shareState {
	s := newShareState(o.StatCache > 0 || o.MountType == "fuse.sshfs" || o.MountType == "sshfs")
	s.sticky = o.StatCache > 0
	return s
}

// verdict weighs the evidence: any recent lie makes it lies; evidenceMin
// truthful observations and no lie make it truthful; else the filesystem
// type decides.
func (s *shareState) verdict() StatVerdict {
	mask := uint32(1)<<s.nring - 1
	switch {
	case s.ring&mask != 0:
		return StatLies
	case s.nring >= evidenceMin && !s.sticky:
		return StatTruthful
	}
	return s.initial
}

// observe records one observation of file ref at now.
func (s *shareState) observe(o observation, ref fileRef, now time.Time) {
	switch o {
	case obsHeld, obsLied:
		s.ring <<= 1
		if o == obsLied {
			s.ring |= 1
			s.lied++
			if s.lies == nil {
				s.lies = make(map[fileRef]time.Time)
			}
			if _, ok := s.lies[ref]; !ok && len(s.lies) < maxLies {
				s.lies[ref] = now
			}
		} else {
			s.held++
		}
		s.nring = min(s.nring+1, evidenceRing)
	}
	if o == obsHeld || o == obsStatOnly {
		if at, ok := s.lies[ref]; ok {
			delete(s.lies, ref)
			s.lagLast = now.Sub(at)
			s.lagMax = max(s.lagMax, s.lagLast)
		}
	}
}

// share returns the share state of directory di's root, or nil for a
// local root.
func (t *tree) share(di int32) *shareState { return t.roots[t.dirs[di].root].share }

// observed records what the last judge learnt, for file name of di.
func (t *tree) observed(di int32, name string) {
	o := t.obs
	t.obs = obsNone
	if o == obsNone {
		return
	}
	if sh := t.share(di); sh != nil {
		sh.observe(o, fileRef{dir: di, gen: t.dirs[di].gen, name: name}, t.now)
	}
}

// statProven reports whether directory di is on a share whose forced
// stat has proved truthful (evidence, not the filesystem type).
func (t *tree) statProven(di int32) bool {
	sh := t.share(di)
	return sh != nil && sh.verdict() == StatTruthful
}

// lies reports whether the forced stat of directory di's filesystem is
// known to lie.
func (t *tree) lies(di int32) bool {
	sh := t.share(di)
	return sh != nil && sh.verdict() == StatLies
}

// RootStats describes what the poller knows of one root: how far a forced
// stat can be trusted there and why, and what looking costs. Durations
// are zero until measured.
type RootStats struct {
	Path string
	// Stat is the verdict; StatWhy says what it rests on.
	Stat    StatVerdict
	StatWhy string
	// StatShowed and StatMissed count content changes the poller read
	// whose forced stat had, or had not, changed with them; StatLagMax is
	// the longest it took such a stat to catch up.
	StatShowed, StatMissed int64
	StatLagMax             time.Duration
	// StatCost and ReadCost are the average wall time of one forced stat
	// and of one read of a file (open, read, hash, close), and StatCPU
	// and ReadCPU the process's CPU time for them.
	StatCost, StatCPU time.Duration
	ReadCost, ReadCPU time.Duration
	// SweepTime is how long the last sweep of every file by stat took;
	// ReadSweepTime the last pass of the read sweep over every file.
	SweepTime, ReadSweepTime time.Duration
	// SweepCPU is the share of one core the sweeps of this root may use;
	// SweepBoost says why the stat sweep's part of it is doubled now ("":
	// it is not).
	SweepCPU   float64
	SweepBoost string
	// SweepStat says how the stat sweep stats a file: forced, or plain
	// where that asks the server for half the cost (and how often a plain
	// stat was answered from the kernel's cache instead).
	SweepStat string
	// PlainStats counts the sweep's plain stats, PlainCached those timed
	// like an answer from the kernel's cache (and asked again, forced).
	PlainStats, PlainCached int64
	// ProbedFiles is, from Probe, how many files it counted, and
	// ProbeComplete whether that is all of them (it looks for a limited
	// time); SweepTime is then its estimate, and SweepTimeEditing the
	// estimate while the sweep is boosted (something changed in the last
	// minute; zero for a local tree). Zero from Stats.
	ProbedFiles      int
	ProbeComplete    bool
	SweepTimeEditing time.Duration
}

// rootStats describes the roots, for Stats.
func (s *sched) rootStats() []RootStats {
	t := s.t
	out := make([]RootStats, 0, len(t.roots))
	for _, r := range t.roots {
		rs := RootStats{Path: r.path, Stat: StatLocal, StatWhy: "local disk filesystem (" + r.fstype + "): the kernel keeps the stat"}
		if sh := r.share; sh != nil {
			rs.Stat = sh.verdict()
			rs.StatWhy = s.why(sh)
			rs.StatShowed, rs.StatMissed, rs.StatLagMax = sh.held, sh.lied, sh.lagMax
			rs.StatCost, rs.StatCPU = sh.stat.wall, sh.stat.cpu
			rs.ReadCost, rs.ReadCPU = sh.read.wall, sh.read.cpu
			rs.SweepTime, rs.ReadSweepTime = sh.sweepTime, sh.readTime
			rs.SweepCPU, rs.SweepBoost = s.cold.cpuBudget+s.readBudget(sh), s.boost
			rs.SweepStat = sh.lookupWhy(t.now)
			rs.PlainStats, rs.PlainCached = sh.lookup.looks, sh.lookup.cached
		}
		out = append(out, rs)
	}
	return out
}

// why explains a share's verdict.
func (s *sched) why(sh *shareState) string {
	switch v := sh.verdict(); {
	case v == StatLies && sh.lied > 0:
		return "a change was read whose forced stat had not moved (" + itoa(sh.lied) + " of " + itoa(sh.lied+sh.held) + " changes so far)"
	case v == StatTruthful:
		return "the last " + itoa(int64(sh.nring)) + " changes read all showed in the forced stat"
	case sh.sticky:
		return sh.why + "; the stat sweep waits for the cache to expire (a change a later stat shows proves nothing)"
	}
	return sh.why + " (no changes read yet)"
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}

// sweepShareDir looks at directory di of a share: its names (a listing,
// compared with the index) and a stat of each entry (forced, or plain
// where that asks the server: see lookup.go), the content read only where
// the stat moved. It returns the number of looks.
func (s *sched) sweepShareDir(di int32) int {
	t := s.t
	if !t.live(di) || t.dirs[di].flags&dDenied != 0 {
		return 1
	}
	if t.dirs[di].parent < 0 && !t.rootOK(di) {
		return 1
	}
	n := len(t.dirs[di].ents) + 1
	h, err := t.fsOf(di).openDir(t.dirs[di].path)
	if err != nil {
		t.dirFailed(di, err)
		return 1
	}
	defer h.close()
	names, err := h.names()
	if err != nil {
		t.dirFailed(di, err)
		return 1
	}
	if !t.sameNameList(di, names) {
		t.timedRescan(di)
		return n
	}
	sh := t.share(di)
	lh := sh.lookupHandle(h, t.now)
	for i := range t.dirs[di].ents {
		if !t.live(di) {
			break
		}
		t.checkFile(di, i, lh, false, false)
	}
	sh.lookupDone(lh, t.now)
	return n
}

// sameNameList reports whether names (a listing of directory di) are
// the names in the index.
func (t *tree) sameNameList(di int32, names []string) bool {
	d := &t.dirs[di]
	if len(names) != len(d.ents) {
		return false
	}
	for _, n := range names {
		if _, ok := d.find(n); !ok {
			return false
		}
	}
	return true
}

// recencyOrder returns the live directories, those holding the most
// recently modified files first: the files most likely to be edited are
// looked at first in every pass.
func (t *tree) recencyOrder(dst []int32) []int32 {
	type dirAge struct {
		di    int32
		mtime int64
	}
	ages := make([]dirAge, 0, t.ndirs)
	for di := range t.dirs {
		d := &t.dirs[di]
		if !t.live(int32(di)) {
			continue
		}
		m := d.mtime
		for i := range d.ents {
			m = max(m, d.ents[i].mtime)
		}
		ages = append(ages, dirAge{int32(di), m})
	}
	slices.SortFunc(ages, func(a, b dirAge) int {
		if a.mtime != b.mtime {
			if a.mtime > b.mtime {
				return -1
			}
			return 1
		}
		return int(a.di - b.di)
	})
	dst = dst[:0]
	for _, a := range ages {
		dst = append(dst, a.di)
	}
	return dst
}

// keptOrder returns order without its dead directories, and with the live
// ones it lacks (made since) at its end: the stat sweep's order on
// cache-bound shares, whose visits are timed to the cache's expiry.
func (t *tree) keptOrder(order []int32) []int32 {
	in := make([]bool, len(t.dirs))
	out := order[:0]
	for _, di := range order {
		if int(di) < len(in) && !in[di] && t.live(di) {
			in[di] = true
			out = append(out, di)
		}
	}
	for di := range t.dirs {
		if !in[di] && t.live(int32(di)) {
			out = append(out, int32(di))
		}
	}
	return out
}

// readOrder returns the hashable files of shares, the most recently
// modified first, and whether any of them has no hash yet.
func (t *tree) readOrder(dst []fileRef) ([]fileRef, bool) {
	type fileAge struct {
		ref   fileRef
		mtime int64
	}
	var ages []fileAge
	unfilled := false
	for di := range t.dirs {
		d := &t.dirs[di]
		if d.flags&dLive == 0 || t.roots[d.root].share == nil || t.roots[d.root].down {
			continue
		}
		for i := range d.ents {
			e := &d.ents[i]
			if e.flags&(fIgnored|fBig) != 0 || !hashable(e.mode) {
				continue
			}
			unfilled = unfilled || e.flags&fHashed == 0
			ages = append(ages, fileAge{fileRef{dir: int32(di), gen: d.gen, name: d.name(e)}, e.mtime})
		}
	}
	slices.SortFunc(ages, func(a, b fileAge) int {
		switch {
		case a.mtime > b.mtime:
			return -1
		case a.mtime < b.mtime:
			return 1
		}
		return 0
	})
	dst = dst[:0]
	for _, a := range ages {
		dst = append(dst, a.ref)
	}
	return dst, unfilled
}

// readBudget is the read sweep's CPU share for a share root.
func (s *sched) readBudget(sh *shareState) float64 {
	switch {
	case s.unfilled:
		return readBudgetFill
	case sh.verdict() == StatLies:
		return readBudgetLies
	}
	return readBudgetSafe
}

// sweepRead reads files of shares within the read budget: the readHead
// most recently modified ones after every readSlice of all of them (in
// order of recency), so that a change a stat does not show yet is seen
// soonest where it is likeliest. A read that finds a change reports it,
// and is evidence for the verdict. Files the baseline left without a hash
// get one here.
func (s *sched) sweepRead(el time.Duration) {
	t := s.t
	if !s.hasShare {
		return
	}
	if len(s.readRefs) == 0 || s.rfull >= len(s.readRefs) {
		if len(s.readRefs) > 0 {
			s.readPasses++
			for _, r := range t.roots {
				if r.share != nil && !r.share.readStart.IsZero() {
					r.share.readTime = t.now.Sub(r.share.readStart)
				}
			}
		}
		s.readRefs, s.unfilled = t.readOrder(s.readRefs)
		s.rfull, s.rhead, s.rslice = 0, len(s.readRefs), 0 // the head comes after the first slice
		for _, r := range t.roots {
			if r.share != nil {
				r.share.readStart = t.now
			}
		}
		if len(s.readRefs) == 0 {
			return
		}
	}
	budget := 0.0
	for _, r := range t.roots {
		if r.share != nil {
			budget = max(budget, s.readBudget(r.share))
		}
	}
	s.reads.cpuBudget = budget
	s.reads.refill(len(s.readRefs), el)
	for s.reads.ok() && s.rfull < len(s.readRefs) {
		if s.yield != nil && s.yield() {
			return
		}
		var ref fileRef
		if s.rhead < min(readHead, len(s.readRefs)) {
			ref = s.readRefs[s.rhead]
			s.rhead++
		} else {
			ref = s.readRefs[s.rfull]
			s.rfull++
			if s.rslice++; s.rslice >= readSlice {
				s.rslice, s.rhead = 0, 0
			}
		}
		s.reads.quota--
		if !t.live(ref.dir) || t.dirs[ref.dir].gen != ref.gen {
			continue
		}
		i, ok := t.dirs[ref.dir].find(ref.name)
		if !ok {
			continue
		}
		w0, c0 := time.Now(), processCPU()
		t.checkFile(ref.dir, i, nil, true, true)
		w, c := time.Since(w0), processCPU()-c0
		s.reads.charge(w, c)
		if sh := t.share(ref.dir); sh != nil {
			sh.read.add(w, c, 1)
		}
	}
}

// sweepColdShares is the cold sweep of a poller with shares: directory by
// directory, in order of recency (the order is recomputed every pass), a
// share's directory listed and every entry stat'ed (sweepShareDir), a
// local one's entries stat'ed. The pacer counts the process's CPU time as
// well as wall time: a look at a share mostly waits for the server.
func (s *sched) sweepColdShares(el time.Duration) {
	t := s.t
	s.cold.refill(t.nfiles+t.ndirs, el)
	if s.cacheBound {
		s.cold.quota = float64(t.nfiles + t.ndirs) // paced by due times and the credits
	}
	rebuilt := false
	for s.cold.ok() {
		if s.yield != nil && s.yield() {
			return
		}
		if int(s.cdi) >= len(s.order) {
			if rebuilt {
				return // nothing live to look at (a root is down)
			}
			rebuilt = true
			s.passDone()
			if s.cacheBound && s.order != nil {
				s.order = t.keptOrder(s.order)
			} else {
				s.order = t.recencyOrder(s.order)
			}
			s.cdi, s.passStart = 0, t.now
			if len(s.order) == 0 {
				return
			}
		}
		di := s.order[s.cdi]
		timed := s.cacheBound && t.live(di) && t.share(di) != nil
		if timed && t.now.Before(s.dueAt(di)) {
			return // its cache entries have not expired: a visit would read them
		}
		s.cdi++
		if !t.live(di) {
			continue
		}
		if timed {
			s.due[di] = t.now.Add(s.opts.StatCache + cacheDueMargin)
		}
		w0, c0 := time.Now(), processCPU()
		var n int
		if sh := t.share(di); sh != nil {
			n = s.sweepShareDir(di)
			w, c := time.Since(w0), processCPU()-c0
			sh.stat.add(w, c, n)
			s.cold.charge(w, c)
		} else {
			n = s.sweepLocalDir(di)
			s.cold.charge(time.Since(w0), processCPU()-c0)
		}
		s.cold.quota -= float64(n)
	}
}

// dueAt is when directory di of a cache-bound share may next be visited:
// its cache entries expire StatCache (whole seconds, so up to a second
// more) after it was last listed. Before its first visit that listing was
// the baseline's.
func (s *sched) dueAt(di int32) time.Time {
	if int(di) >= len(s.due) {
		s.due = append(s.due, make([]time.Time, int(di)+1-len(s.due))...)
	}
	if s.due[di].IsZero() {
		// The baseline listed it before it ended: expired by StatCache
		// plus the second of sshfs's stamps after that.
		base := s.baselined
		if base.IsZero() {
			base = s.started
		}
		s.due[di] = base.Add(s.opts.StatCache + time.Second)
	}
	return s.due[di]
}

// passDone counts a finished pass of the cold sweep (with no directory
// sweep, it stands for one of those too) and records how long it took.
func (s *sched) passDone() {
	if s.order == nil {
		return // the first pass is about to start
	}
	s.sweeps++
	if s.shareOnly {
		s.dirSweeps++
	}
	if s.passStart.IsZero() || len(s.order) == 0 {
		return
	}
	for _, r := range s.t.roots {
		if r.share != nil {
			r.share.sweepTime = s.t.now.Sub(s.passStart)
			r.share.lookup.primed = true
		}
	}
}

// sweepLocalDir is one local directory of the cold sweep, whole (a poller
// with shares and local roots both).
func (s *sched) sweepLocalDir(di int32) int {
	t := s.t
	if !t.checkPin(di) || t.dirs[di].flags&dDenied != 0 {
		return 1
	}
	var h dirHandle
	if p := t.dirs[di].pin; p >= 0 {
		h = t.fsOf(di).(pinner).pinned(int(p))
	} else {
		var err error
		if h, err = t.fsOf(di).openDir(t.dirs[di].path); err != nil {
			t.dirFailed(di, err)
			return 1
		}
	}
	defer h.close()
	n := len(t.dirs[di].ents)
	for i := 0; i < n && i < len(t.dirs[di].ents); i++ {
		t.checkFile(di, i, h, false, false)
	}
	return n + 1
}
