package poll

import (
	"path/filepath"
	"time"
)

// pacer spreads a background sweep over a period, within a time budget.
//
// Each tick adds quota (units of work: total units per period) and credit
// (budget × elapsed wall time). Work runs while both are positive; each
// chunk's measured wall time is taken from the credit. When the budget
// binds, the sweep simply takes longer than its period. With cpuBudget
// set (sweeps of shares, which mostly wait for a server), the process's CPU
// time during the chunk is also taken from a CPU credit, and both must be
// positive.
type pacer struct {
	period    time.Duration
	budget    float64 // fraction of one core (of wall time)
	quota     float64 // units that may run now
	credit    time.Duration
	cpuBudget float64 // fraction of one core (the process's CPU time); 0: not counted
	cpuCredit time.Duration
}

// creditCap bounds saved-up credit, so an idle stretch cannot turn into a
// burst: at most one second's worth of budget.
const creditCap = time.Second

func (p *pacer) refill(total int, elapsed time.Duration) {
	if total == 0 {
		p.quota = 0
		return
	}
	p.quota = min(p.quota+float64(total)*float64(elapsed)/float64(p.period), float64(total))
	p.credit = min(p.credit+time.Duration(p.budget*float64(elapsed)), time.Duration(p.budget*float64(creditCap)))
	if p.cpuBudget > 0 {
		p.cpuCredit = min(p.cpuCredit+time.Duration(p.cpuBudget*float64(elapsed)), time.Duration(p.cpuBudget*float64(creditCap)))
	}
}

func (p *pacer) ok() bool {
	return p.quota >= 1 && p.credit > 0 && (p.cpuBudget <= 0 || p.cpuCredit > 0)
}

// charge takes a chunk's wall and CPU time from the credits.
func (p *pacer) charge(wall, cpu time.Duration) {
	p.credit -= wall
	if p.cpuBudget > 0 {
		p.cpuCredit -= cpu
	}
}

// chunk is how many units run between two clock reads: a clock read costs
// a few percent of one stat, so read it every few.
const chunk = 8

// hotFile is the scheduler's state for a recently changed file.
type hotFile struct {
	last     time.Time // when it last changed
	verified time.Time // when its content was last hashed
	moved    time.Time // when its stat last moved (with or without its bytes)
}

type hotDir struct {
	gen  uint32
	last time.Time
}

// sched decides, each tick, what to look at: hot files and directories,
// dirty directories, a paced slice of every directory, a paced and
// budgeted slice of all files. It is owned by the loop goroutine.
type sched struct {
	t        *tree
	opts     Options
	interval time.Duration
	hotFor   time.Duration
	maxHot   int
	last     time.Time
	el       time.Duration // the elapsed time the current tick's sweeps refill for

	// yield, if set, reports that someone waits for the loop (a Verify, a
	// hint): the sweeps stop at their next directory (or chunk) and keep
	// their credit for the next tick.
	yield func() bool

	// Hints (hint.go): pending by path, and where outcomes are counted
	// (nil in tests that drive the scheduler alone).
	pending   map[string]*pendingHint
	hintWait  time.Duration
	req       *requests
	hintLooks int64 // looks at hinted paths
	// forwarded: an agent serves the mount; see the design notes in
	// hint.go.
	forwarded bool

	hot     map[fileRef]*hotFile
	hotDirs map[int32]hotDir

	dirs      pacer
	ddi       int32 // next directory of the directory sweep
	dirSweeps int64 // completed directory sweeps

	cold pacer
	cdi  int32     // directory of the cold sweep (an index into order, if set)
	cidx int       // next entry in it
	ch   dirHandle // cdi, open during a tick

	sweeps int64 // completed cold sweeps

	// Shares (share.go). With any share root, the cold sweep goes through
	// the directories in order (those with the most recently modified
	// files first, recomputed every pass) and the read sweep runs.
	hasShare  bool
	shareOnly bool // every root is a share: no directory sweep
	// cacheBound: every share keeps attributes for a known time
	// (Options.StatCache: sshfs). The stat sweep then visits each
	// directory when its cache entries have expired (due), in a kept
	// order: see sweepColdShares.
	cacheBound bool
	due        []time.Time // by directory: its next visit (cacheBound)
	baselined  time.Time   // when the baseline's listing ended (zero: started)
	boost      string      // why the stat sweep runs at startBoost times its budget ("": it does not)
	started    time.Time   // when the loop started
	unfilled   bool        // a share file had no hash at the last read order
	order      []int32
	passStart  time.Time
	reads      pacer
	readRefs   []fileRef
	rhead      int // next of the head (the most recent files)
	rfull      int // next of all files
	rslice     int // files of all read since the head was
	readPasses int64

	// The fill pass hashes what the baseline left unhashed, once.
	fill       pacer
	fdi        int32
	fidx       int
	filledPass int  // files the current fill pass had to do
	filled     bool // a whole pass found nothing to do
}

func newSched(t *tree, o Options) *sched {
	s := &sched{
		t:        t,
		opts:     o,
		pending:  make(map[string]*pendingHint),
		hintWait: o.HintWait,
		interval: o.Interval,
		hotFor:   o.HotWindow,
		maxHot:   maxHot,
		hot:      make(map[fileRef]*hotFile),
		hotDirs:  make(map[int32]hotDir),
		fill:     pacer{budget: fillBudget},
	}
	s.shareOnly = len(t.roots) > 0
	for _, r := range t.roots {
		if r.share != nil {
			s.hasShare = true
		} else {
			s.shareOnly = false
		}
	}
	s.cacheBound = s.hasShare && o.StatCache > 0
	s.started = t.now
	s.boost = s.boostFor(t.now)
	s.unfilled = s.hasShare // until the first read order says otherwise
	s.setBudgets()
	return s
}

// setBudgets sets the sweeps' periods and budgets for the roots and the
// mode: full polling (see the design notes) or forwarded (hint.go).
func (s *sched) setBudgets() {
	o := s.opts
	s.dirs = pacer{period: o.DirPeriod, budget: dirBudget}
	s.cold = pacer{period: o.ColdPeriod, budget: o.ColdBudget}
	if s.hasShare {
		s.cold.period = min(o.ColdPeriod, sharePeriod)
		if o.StatCache > 0 {
			// Sweeping faster than the filesystem's own attribute cache
			// expires only reads the cache: the same latency at more CPU.
			s.cold.period = max(s.cold.period, o.StatCache+statCacheMargin)
		}
		s.cold.budget, s.cold.cpuBudget = shareWall, o.ColdBudget
		if s.boost != "" {
			s.cold.cpuBudget *= startBoost
		}
	}
	s.reads = pacer{period: o.ColdPeriod, budget: readWall}
	if s.forwarded {
		s.cold.period = max(o.ColdPeriod, forwardPeriod)
		s.cold.budget = forwardBudget
		if s.hasShare {
			s.cold.budget, s.cold.cpuBudget = shareWall, forwardBudget
		}
		s.dirs.period, s.dirs.budget = max(o.DirPeriod, forwardPeriod), forwardBudget/2
	}
}

func (s *sched) distrust(di int32) bool { return s.t.roots[s.t.dirs[di].root].distrust }

// tickEvery is the loop's period: the interval, or forwardTick in
// forwarded mode.
func (s *sched) tickEvery() time.Duration {
	if s.forwarded {
		return max(s.interval, forwardTick)
	}
	return s.interval
}

// tick runs one round at time now.
func (s *sched) tick(now time.Time) {
	s.tickHot(now)
	s.tickSweeps()
}

// tickHot is the first part of a tick: roots that went away, hot
// directories and hot files. The loop delivers what it found before the
// sweeps run, so a hot save does not wait for them.
func (s *sched) tickHot(now time.Time) {
	t := s.t
	t.now = now
	el := now.Sub(s.last)
	if s.last.IsZero() || el <= 0 || el > max(time.Second, 2*s.tickEvery()) {
		el = s.tickEvery() // after a stall (suspend, debugger) do not catch up
	}
	s.last, s.el = now, el

	// Roots that went away: retry.
	for ri := range t.roots {
		r := &t.roots[ri]
		if r.down && !now.Before(r.nextTry) {
			if !t.tryRoot(int32(ri)) {
				r.nextTry = now.Add(retryEvery)
			}
		}
	}

	// Hot directories: a stat each (a listing too where stat lies).
	for di, hd := range s.hotDirs {
		if !t.live(di) || t.dirs[di].gen != hd.gen || now.Sub(hd.last) > s.hotFor {
			delete(s.hotDirs, di)
			continue
		}
		t.checkDir(di, t.lies(di))
	}

	// Hot files: a stat each; their content is hashed every interval where
	// stat lies (within a per-tick budget), else every hotVerifyEvery.
	start := time.Now()
	hashBudget := time.Duration(hotHashShare * float64(s.interval))
	for ref, hf := range s.hot {
		if !t.live(ref.dir) || t.dirs[ref.dir].gen != ref.gen || now.Sub(hf.last) > s.hotFor {
			delete(s.hot, ref)
			continue
		}
		i, ok := t.dirs[ref.dir].find(ref.name)
		if !ok {
			delete(s.hot, ref)
			continue
		}
		var verify bool
		switch {
		case s.distrust(ref.dir) && t.statProven(ref.dir):
			// The forced stat has shown every change read lately: read
			// every interval only while the file is fresh (its last change,
			// or a stat that moved with the bytes as they were), a read
			// through FUSE may return the old bytes for a while.
			fresh := now.Sub(hf.last) < hotReadFor || now.Sub(hf.moved) < hotReadFor
			verify = time.Since(start) < hashBudget && (fresh || now.Sub(hf.verified) >= hotVerifyEvery)
		case s.distrust(ref.dir):
			verify = time.Since(start) < hashBudget
		default:
			verify = now.Sub(hf.verified) >= hotVerifyEvery
		}
		if verify {
			hf.verified = now
		}
		e := &t.dirs[ref.dir].ents[i]
		size, mtime, ino := e.size, e.mtime, e.ino
		t.checkFile(ref.dir, i, nil, verify, true)
		if e := &t.dirs[ref.dir].ents[i]; e.size != size || e.mtime != mtime || e.ino != ino {
			hf.moved = now
		}
	}
	t.rescanDirty()
	s.setBoost(now)
}

// boostFor says why the stat sweep of shares should run at startBoost
// times its budget at now, or "" when it should not: in the first
// startWindow after the start (the first saves come then, and the read
// sweep is still filling in hashes) and until the first sweep has ended
// (within firstSweepWindow), and while anything is hot (someone is
// editing: the next save, of any file, is likely within the hot window).
// Not when forwarded: the agent reports changes.
func (s *sched) boostFor(now time.Time) string {
	switch {
	case !s.hasShare || s.forwarded:
		return ""
	case now.Sub(s.started) <= startWindow:
		return "the first " + startWindow.String() + " after the start"
	case s.sweeps == 0 && now.Sub(s.started) <= firstSweepWindow:
		return "the first sweep after the start"
	case len(s.hot) > 0 || len(s.hotDirs) > 0:
		return "something changed in the last " + s.hotFor.String()
	}
	return ""
}

// setBoost sets the stat sweep's budget for the boost due at now.
func (s *sched) setBoost(now time.Time) {
	if b := s.boostFor(now); b != s.boost {
		s.boost = b
		s.setBudgets()
	}
}

// tickSweeps is the rest of a tick: the paced sweeps, and what changed
// made hot.
func (s *sched) tickSweeps() {
	t, el, now := s.t, s.el, s.t.now
	s.sweepDirs(el)
	if s.hasShare {
		s.sweepColdShares(el)
	} else {
		s.sweepCold(el)
	}
	s.sweepFill(el)
	if !s.forwarded || s.unfilled {
		// Forwarded, the read sweep only fills in the hashes the baseline
		// left: without one, a same-bytes rewrite a hint names would
		// count as a change.
		s.sweepRead(el)
	}
	t.rescanDirty()
	s.absorb(now)
}

// markHot makes path hot at now: the file if the index has it, and its
// directory (or the nearest indexed ancestor).
func (s *sched) markHot(path string, now time.Time) {
	t := s.t
	di, name, ok := t.lookup(filepath.Clean(path))
	if !ok {
		return
	}
	d := &t.dirs[di]
	s.hotDirs[di] = hotDir{gen: d.gen, last: now}
	if name == "" {
		return
	}
	if i, found := d.find(name); found && !d.ents[i].isDir() {
		ref := fileRef{dir: di, gen: d.gen, name: name}
		if hf, ok := s.hot[ref]; ok {
			hf.last = now
		} else {
			s.hot[ref] = &hotFile{last: now}
		}
	}
}

// absorb makes what changed in this tick hot.
func (s *sched) absorb(now time.Time) {
	t := s.t
	if s.forwarded {
		// The agent reports the next change of these files: nothing is
		// polled hot.
		t.changed, t.chdirs = t.changed[:0], t.chdirs[:0]
		return
	}
	// All of this tick's changes are equally recent: after a checkout of
	// thousands of files only the last maxHot can stay hot anyway, and
	// taking just those keeps the eviction below cheap.
	changed, chdirs := t.changed, t.chdirs
	if len(changed) > s.maxHot {
		changed = changed[len(changed)-s.maxHot:]
	}
	if len(chdirs) > s.maxHot {
		chdirs = chdirs[len(chdirs)-s.maxHot:]
	}
	for _, ref := range changed {
		if !t.live(ref.dir) || t.dirs[ref.dir].gen != ref.gen {
			continue
		}
		if hf, ok := s.hot[ref]; ok {
			hf.last = now
		} else {
			s.hot[ref] = &hotFile{last: now}
		}
		s.hotDirs[ref.dir] = hotDir{gen: ref.gen, last: now}
	}
	for _, di := range chdirs {
		if t.live(di) {
			s.hotDirs[di] = hotDir{gen: t.dirs[di].gen, last: now}
		}
	}
	t.changed, t.chdirs = t.changed[:0], t.chdirs[:0]
	if cap(t.changed) > 4*s.maxHot {
		t.changed = nil // a mass change's list is not kept for good
	}
	if cap(t.chdirs) > 4*s.maxHot {
		t.chdirs = nil
	}
	for len(s.hot) > s.maxHot {
		var oldest fileRef
		var at time.Time
		for ref, hf := range s.hot {
			if at.IsZero() || hf.last.Before(at) {
				oldest, at = ref, hf.last
			}
		}
		delete(s.hot, oldest)
	}
	for len(s.hotDirs) > s.maxHot {
		var oldest int32 = -1
		var at time.Time
		for di, hd := range s.hotDirs {
			if oldest < 0 || hd.last.Before(at) {
				oldest, at = di, hd.last
			}
		}
		delete(s.hotDirs, oldest)
	}
}

// sweepDirs stats the next slice of all directories, so that every
// directory is looked at about once per DirPeriod.
func (s *sched) sweepDirs(el time.Duration) {
	t := s.t
	if s.shareOnly {
		return // the cold sweep lists every directory of a share
	}
	s.dirs.refill(t.ndirs, el)
	skipped := 0
	for s.dirs.ok() && skipped <= len(t.dirs) {
		if s.yield != nil && s.yield() {
			return
		}
		t0, r0 := time.Now(), t.rescanTime
		for n := 0; n < chunk && s.dirs.quota >= 1 && skipped <= len(t.dirs); {
			if int(s.ddi) >= len(t.dirs) {
				s.ddi = 0
				s.dirSweeps++
			}
			di := s.ddi
			s.ddi++
			if !t.live(di) || s.distrust(di) {
				skipped++
				continue
			}
			skipped = 0
			t.checkDir(di, s.distrust(di))
			s.dirs.quota--
			n++
		}
		// The budget pays for looking; rescanning a directory that changed
		// is paid for by the change. Charged to the sweep, one large
		// rescan (a checkout) would stall it for seconds: 50 ms of work is
		// 5 s of a 1 % budget.
		s.dirs.credit -= time.Since(t0) - (t.rescanTime - r0)
	}
}

// sweepCold looks at the next slice of all files: a stat each where stat
// can be trusted (hashing those not hashed yet), a listing and a content
// hash of every file, directory by directory, where it cannot.
func (s *sched) sweepCold(el time.Duration) {
	t := s.t
	s.cold.refill(t.nfiles+t.ndirs, el)
	defer s.closeCold()
	skipped := 0
	for s.cold.ok() && skipped <= len(t.dirs) {
		if s.yield != nil && s.yield() {
			return
		}
		t0 := time.Now()
		for n := 0; n < chunk && s.cold.quota >= 1 && skipped <= len(t.dirs); {
			if int(s.cdi) >= len(t.dirs) {
				s.closeCold()
				s.cdi, s.cidx = 0, 0
				s.sweeps++
			}
			di := s.cdi
			if s.cidx == 0 && s.ch == nil && t.live(di) && !t.checkPin(di) {
				s.cdi++
				s.cold.quota--
				continue
			}
			if !t.live(di) || s.cidx >= len(t.dirs[di].ents) || t.dirs[di].flags&dDenied != 0 {
				s.closeCold()
				s.cdi++
				s.cidx = 0
				skipped++
				if t.live(di) {
					s.cold.quota-- // the directory itself is a unit
				}
				continue
			}
			skipped = 0
			if s.distrust(di) {
				units := len(t.dirs[di].ents) + 1
				t.rescan(di, !s.forwarded) // forwarded: stat only, read what moved
				s.cdi++
				s.cidx = 0
				s.cold.quota -= float64(units)
				n += units
				continue
			}
			if s.ch == nil && t.dirs[di].pin >= 0 {
				s.ch = t.fsOf(di).(pinner).pinned(int(t.dirs[di].pin))
			}
			if s.ch == nil {
				h, err := t.fsOf(di).openDir(t.dirs[di].path)
				if err != nil {
					t.dirFailed(di, err)
					s.cdi++
					s.cidx = 0
					continue
				}
				s.ch = h
			}
			t.checkFile(di, s.cidx, s.ch, false, false)
			s.cidx++
			s.cold.quota--
			n++
		}
		s.cold.credit -= time.Since(t0)
	}
}

// sweepFill hashes, within fillBudget, the files the baseline had no time
// to hash, so that a later touch of them can be told from a change. It
// stops for good after a pass that found nothing to do: files that appear
// later are hashed when they are found.
func (s *sched) sweepFill(el time.Duration) {
	if s.filled {
		return
	}
	t := s.t
	s.fill.credit = min(s.fill.credit+time.Duration(s.fill.budget*float64(el)), time.Duration(s.fill.budget*float64(creditCap)))
	steps := 0
	for s.fill.credit > 0 && steps <= len(t.dirs)+t.nfiles {
		if s.yield != nil && s.yield() {
			return
		}
		t0 := time.Now()
		for n := 0; n < chunk; steps++ {
			if int(s.fdi) >= len(t.dirs) {
				if s.filledPass == 0 {
					s.filled = true
					return
				}
				s.fdi, s.fidx, s.filledPass = 0, 0, 0
			}
			if !t.live(s.fdi) || s.fidx >= len(t.dirs[s.fdi].ents) || s.distrust(s.fdi) {
				s.fdi++ // shares are filled by the read sweep
				s.fidx = 0
				continue
			}
			if t.fillHash(s.fdi, s.fidx) {
				s.filledPass++
				n++
			}
			s.fidx++
			if steps > len(t.dirs)+t.nfiles {
				break
			}
		}
		s.fill.credit -= time.Since(t0)
	}
}

func (s *sched) closeCold() {
	if s.ch != nil {
		s.ch.close()
		s.ch = nil
	}
}
