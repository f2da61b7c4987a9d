package poll

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

// schedFixture is a tree of 200 files in 4 directories on memFS, with a
// scheduler driven by synthetic tick times.
func schedFixture(t *testing.T, o Options) (*memFS, *tree, *sched, time.Time) {
	t.Helper()
	m := newMemFS()
	for d := range 4 {
		m.mkdir(fmt.Sprintf("/r/d%d", d))
		for f := range 50 {
			m.write(fmt.Sprintf("/r/d%d/f%02d", d, f), "v1")
		}
	}
	tr := newTestTree(t, m, false)
	s := newSched(tr, o.withDefaults())
	start := tr.now
	s.last = start
	return m, tr, s, start
}

// run ticks from tick from to tick to (inclusive) and returns the tick at
// which path was first reported, or -1.
func run(s *sched, start time.Time, interval time.Duration, from, to int, path string) (int, []string) {
	var all []string
	at := -1
	for k := from; k <= to; k++ {
		s.tick(start.Add(time.Duration(k) * interval))
		evs, _ := s.t.take()
		for _, e := range evs {
			all = append(all, e.Op.String()+" "+e.Path)
			if e.Path == path && at < 0 {
				at = k
			}
		}
	}
	return at, all
}

func TestSchedColdSweepReachesEveryFile(t *testing.T) {
	o := Options{Interval: 100 * time.Millisecond, ColdPeriod: time.Second, ColdBudget: 1}
	m, _, s, start := schedFixture(t, o)
	// An in-place write to a never-touched file that leaves the directory
	// as it was: only the cold sweep can see it.
	m.now += 20 * sec
	m.write("/r/d3/f49", "v2")
	m.nodes["/r/d3"].st.mtime -= 20 * sec // the directory did not change
	m.nodes["/r/d3"].st.ctime -= 20 * sec
	at, evs := run(s, start, o.Interval, 1, 30, "/r/d3/f49")
	if at < 0 || at > 12 {
		t.Fatalf("in-place change seen at tick %d, want within ColdPeriod (10 ticks) + slack; events %v", at, evs)
	}
	if !slices.Equal(evs, []string{"WRITE /r/d3/f49"}) {
		t.Errorf("events = %v", evs)
	}
	if s.sweeps < 2 {
		t.Errorf("%d sweeps in 3 s, want ≥ 2 with a 1 s period", s.sweeps)
	}
}

func TestSchedHotFileEveryTickAndExpiry(t *testing.T) {
	o := Options{Interval: 100 * time.Millisecond, ColdPeriod: time.Hour, DirPeriod: time.Hour,
		HotWindow: 2 * time.Second, ColdBudget: 1}
	m, tr, s, start := schedFixture(t, o)
	// Make f00 hot: report it through a directory change.
	m.now += 20 * sec
	m.write("/r/d0/new", "n")
	tr.checkDir(tr.dirs[tr.roots[0].dir].ents[0].child, false)
	tr.take()
	s.absorb(start)
	if len(s.hot) != 1 {
		t.Fatalf("hot = %v", s.hot)
	}
	// Written in place: seen at the next tick, with no sweep to help.
	m.now += sec
	m.write("/r/d0/new", "n2")
	at, _ := run(s, start, o.Interval, 1, 1, "/r/d0/new")
	if at != 1 {
		t.Errorf("hot file change seen at tick %d, want 1", at)
	}
	// After the hot window it is no longer looked at every tick.
	run(s, start, o.Interval, 2, 40, "")
	if len(s.hot) != 0 || len(s.hotDirs) != 0 {
		t.Errorf("after the hot window: %d hot files, %d hot dirs", len(s.hot), len(s.hotDirs))
	}
}

func TestSchedDirSweepSeesNewFiles(t *testing.T) {
	o := Options{Interval: 100 * time.Millisecond, ColdPeriod: time.Hour, DirPeriod: 300 * time.Millisecond, ColdBudget: 1}
	m, _, s, start := schedFixture(t, o)
	m.now += 20 * sec
	m.write("/r/d2/sedX1", "new")
	m.rename("/r/d2/sedX1", "/r/d2/f10") // a rename-style save
	at, evs := run(s, start, o.Interval, 1, 10, "/r/d2/f10")
	if at < 0 || at > 4 {
		t.Errorf("rename-style save seen at tick %d, want within DirPeriod (3 ticks) + 1; events %v", at, evs)
	}
}

func TestSchedNoBudgetNoSweep(t *testing.T) {
	// With no budget the cold sweep does nothing (and tick returns: no
	// spinning on a quota it may not spend).
	o := Options{Interval: 100 * time.Millisecond, ColdPeriod: 100 * time.Millisecond, ColdBudget: 1e-12}
	_, _, s, start := schedFixture(t, o)
	run(s, start, o.Interval, 1, 50, "")
	if s.sweeps != 0 || s.cidx != 0 || s.cdi != 0 {
		t.Errorf("cold sweep moved without budget: %d sweeps, cursor %d/%d", s.sweeps, s.cdi, s.cidx)
	}
}

func TestSchedHotSetIsBounded(t *testing.T) {
	o := Options{Interval: 100 * time.Millisecond, ColdPeriod: 200 * time.Millisecond, DirPeriod: 100 * time.Millisecond, ColdBudget: 1}
	m, _, s, start := schedFixture(t, o)
	s.maxHot = 16
	// A checkout: every file rewritten, new files in new directories.
	m.now += 20 * sec
	for d := range 4 {
		for f := range 50 {
			m.write(fmt.Sprintf("/r/d%d/f%02d", d, f), "v2")
		}
		m.mkdir(fmt.Sprintf("/r/n%d", d))
		m.write(fmt.Sprintf("/r/n%d/x", d), "x")
	}
	_, evs := run(s, start, o.Interval, 1, 10, "")
	if len(evs) != 204 {
		t.Errorf("%d events, want 204", len(evs))
	}
	if len(s.hot) > 16 || len(s.hotDirs) > 16 {
		t.Errorf("hot set %d files, %d dirs; want ≤ 16 each", len(s.hot), len(s.hotDirs))
	}
}

// slowFS is memFS with one directory that takes a while to open: a large
// directory's rescan.
type slowFS struct {
	*memFS
	path  string
	delay time.Duration
}

func (s *slowFS) openDir(path string) (dirHandle, error) {
	if path == s.path {
		time.Sleep(s.delay) // the cost of a large listing, not a synchronisation
	}
	return s.memFS.openDir(path)
}

// TestSchedDirSweepNotStalledByRescans: the directory sweep's budget pays
// for looking, not for rescanning a directory that changed. A rescan that
// takes 60 ms (a checkout into a large directory) used to put the sweep
// 60 ms in debt, which a 1 % budget repays in 6 s: no rename-style save
// anywhere was seen meanwhile.
func TestSchedDirSweepNotStalledByRescans(t *testing.T) {
	o := Options{Interval: 100 * time.Millisecond, DirPeriod: 200 * time.Millisecond, ColdPeriod: time.Hour}.withDefaults()
	m := newMemFS()
	for d := range 4 {
		m.mkdir(fmt.Sprintf("/r/d%d", d))
		m.write(fmt.Sprintf("/r/d%d/f", d), "v1")
	}
	slow := &slowFS{memFS: m, path: "/r/d0"}
	tr := newTree(watcher.DefaultFilter())
	tr.now = time.Unix(0, m.now+10*sec)
	must(t, tr.addRoot("/r", slow, false, "mem", racyLocal))
	tr.take()
	s := newSched(tr, o)
	start := tr.now
	s.last = start

	m.now += 20 * sec
	m.write("/r/d0/new", "x")
	slow.delay = 60 * time.Millisecond
	at, evs := run(s, start, o.Interval, 1, 4, "/r/d0/new")
	if at < 0 {
		t.Fatalf("new file in the slow directory not seen; events %v", evs)
	}
	slow.delay = 0
	m.now += sec
	m.write("/r/d3/new", "y")
	got, evs := run(s, start, o.Interval, 5, 20, "/r/d3/new")
	if got < 0 || got > 8 {
		t.Errorf("new file in another directory seen at tick %d, want within two directory periods (tick 8); events %v", got, evs)
	}
}

// TestSchedShareSweepWaitsForTheStatCache: where the filesystem keeps
// attributes for a known time (sshfs: 20 s), the stat sweep of a share
// takes at least that long plus the margin — a faster one would only read
// the cache — and the verdict stays "lies" however many changes a later
// stat showed. Without such a cache the sweep may take as little as
// sharePeriod and evidence decides.
func TestSchedShareSweepWaitsForTheStatCache(t *testing.T) {
	for _, tc := range []struct {
		cache      time.Duration
		wantPeriod time.Duration
		wantAfter  StatVerdict // after evidenceMin+1 changes the stat showed
	}{
		{0, sharePeriod, StatTruthful},
		{20 * time.Second, 20*time.Second + statCacheMargin, StatLies},
	} {
		t.Run(tc.cache.String(), func(t *testing.T) {
			m := newMemFS()
			m.write("/r/f", "v1")
			tr := newTestTree(t, m, true)
			sh := tr.roots[0].share
			if sh == nil {
				t.Fatal("the test tree's root is no share")
			}
			o := Options{MountType: "fuse.sshfs", StatCache: tc.cache}
			*sh = *shareStateFor(o)
			s := newSched(tr, o.withDefaults())
			if s.cold.period != tc.wantPeriod {
				t.Errorf("stat sweep period %v, want %v", s.cold.period, tc.wantPeriod)
			}
			for range evidenceMin + 1 {
				sh.observe(obsHeld, fileRef{}, tr.now)
			}
			if v := sh.verdict(); v != tc.wantAfter {
				t.Errorf("verdict %q after %d truthful observations, want %q", v, evidenceMin+1, tc.wantAfter)
			}
		})
	}
}

// TestSchedForwardedFillsHashes: with an agent serving the share
// (forwarded mode) the read sweep no longer looks for changes, but the
// files the baseline left without a hash still get one — else a hinted
// rewrite with the same bytes would count as a change.
func TestSchedForwardedFillsHashes(t *testing.T) {
	m := newMemFS()
	for f := range 20 {
		m.write(fmt.Sprintf("/r/f%02d", f), "v1")
	}
	tr := newTree(watcher.DefaultFilter())
	tr.now = time.Unix(0, m.now+10*sec) // hashUntil zero: the baseline hashes nothing
	if err := tr.addRoot("/r", m, true, "mem", racyRemote); err != nil {
		t.Fatal(err)
	}
	s := newSched(tr, Options{}.withDefaults())
	s.forwarded = true
	s.setBudgets()
	start := tr.now
	s.last = start
	unhashed := func() int {
		n := 0
		for _, d := range tr.dirs {
			for _, e := range d.ents {
				if !e.mode.IsDir() && e.flags&fHashed == 0 {
					n++
				}
			}
		}
		return n
	}
	if n := unhashed(); n != 20 {
		t.Fatalf("%d files without a hash after the baseline, want all 20", n)
	}
	for k := 1; k <= 600 && unhashed() > 0; k++ { // a minute of ticks
		s.tick(start.Add(time.Duration(k) * 100 * time.Millisecond))
		tr.take()
	}
	if n := unhashed(); n != 0 {
		t.Errorf("%d files still without a hash after a minute in forwarded mode", n)
	}
}

// TestSchedHotFileReadsOnAShare: on a share a hot file's content is read
// every interval while the forced stat is unproven; once the stat has
// proved truthful, only while the file is fresh (hotReadFor after its last
// change), then every hotVerifyEvery — and a change is still seen at the
// next tick, by its stat.
func TestSchedHotFileReadsOnAShare(t *testing.T) {
	for _, tc := range []struct {
		name     string
		proven   bool
		min, max int // reads of the hot file over ticks 31–50 (2 s, no change)
	}{
		{"unproven", false, 20, 20},
		{"truthful", true, 1, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemFS()
			for f := range 20 {
				m.write(fmt.Sprintf("/r/f%02d", f), "v1")
			}
			tr := newTestTree(t, m, true)
			o := Options{Interval: 100 * time.Millisecond, ColdPeriod: time.Hour, DirPeriod: time.Hour,
				HotWindow: time.Minute, ColdBudget: 1e-9}
			s := newSched(tr, o.withDefaults())
			start := tr.now
			s.last = start
			if tc.proven {
				for range evidenceMin {
					tr.share(0).observe(obsHeld, fileRef{}, tr.now)
				}
			}
			s.markHot("/r/f07", start)
			m.now += 20 * sec
			run(s, start, o.Interval, 1, 30, "")
			before := m.hashed["/r/f07"]
			run(s, start, o.Interval, 31, 50, "")
			if n := m.hashed["/r/f07"] - before; n < tc.min || n > tc.max {
				t.Errorf("hot file read %d times in 20 ticks without a change, want %d–%d", n, tc.min, tc.max)
			}
			m.now += sec
			m.write("/r/f07", "v2")
			if at, evs := run(s, start, o.Interval, 51, 51, "/r/f07"); at != 51 {
				t.Errorf("in-place change of the hot file not seen at the next tick: %v", evs)
			}
		})
	}
}

// TestSchedShareBoost: the stat sweep of a share runs at startBoost times
// its budget in the first startWindow, and again while anything is hot
// (someone is editing), and says why in the status; not on a local root,
// and not when forwarded.
func TestSchedShareBoost(t *testing.T) {
	const budget = 0.05
	for _, tc := range []struct {
		name      string
		share     bool
		forwarded bool
		want      [4]bool // boosted at the start, after the start window, while a file is hot, after the hot window
	}{
		{"share", true, false, [4]bool{true, false, true, false}},
		{"local", false, false, [4]bool{}},
		{"forwarded", true, true, [4]bool{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemFS()
			for f := range 20 {
				m.write(fmt.Sprintf("/r/f%02d", f), "v1")
			}
			tr := newTestTree(t, m, tc.share)
			o := Options{Interval: 100 * time.Millisecond, HotWindow: 2 * time.Second, ColdBudget: budget}
			s := newSched(tr, o.withDefaults())
			if tc.forwarded {
				s.setForwarded(true)
			}
			start := tr.now
			s.last = start
			check := func(when string, want bool) {
				t.Helper()
				boosted := s.boost != ""
				if boosted != want {
					t.Errorf("%s: boost %q, want boosted %v", when, s.boost, want)
				}
				if !tc.share || tc.forwarded {
					return
				}
				wantCPU := budget
				if want {
					wantCPU *= startBoost
				}
				if s.cold.cpuBudget != wantCPU {
					t.Errorf("%s: stat sweep budget %v, want %v", when, s.cold.cpuBudget, wantCPU)
				}
				if rs := s.rootStats()[0]; rs.SweepBoost != s.boost {
					t.Errorf("%s: status says boost %q, the sweep %q", when, rs.SweepBoost, s.boost)
				}
			}
			check("at the start", tc.want[0])
			k := int((startWindow + time.Second) / o.Interval)
			run(s, start, o.Interval, 1, k, "")
			check("after the start window", tc.want[1])
			m.now += 40 * sec
			m.write("/r/f07", "v2")
			s.markHot("/r/f07", start.Add(time.Duration(k)*o.Interval))
			run(s, start, o.Interval, k+1, k+1, "")
			check("while a file is hot", tc.want[2])
			run(s, start, o.Interval, k+2, k+2+int(3*time.Second/o.Interval), "")
			check("after the hot window", tc.want[3])
		})
	}
}

// TestSchedBoostLastsTheFirstSweep: on a share whose first sweep has not
// ended by the end of the start window (sshfs: its first visits wait for
// the baseline's cache entries to expire), the start boost lasts until it
// has, and no longer than firstSweepWindow where it never ends.
func TestSchedBoostLastsTheFirstSweep(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cache time.Duration // the first visits are due cache + 1 s after the start
		// boosted at the start window's end, and whether the first sweep
		// has ended and the boost with it by the check after it
		wantEnded bool
		endBy     time.Duration
	}{
		{"ends at 41 s", 40 * time.Second, true, 43 * time.Second},
		{"never within the bound", 10 * time.Minute, false, firstSweepWindow + time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemFS()
			for d := range 4 {
				for f := range 5 {
					m.write(fmt.Sprintf("/r/d%d/f%d", d, f), "v1")
				}
			}
			tr := newTestTree(t, m, true)
			const budget = 0.05
			o := Options{Interval: 100 * time.Millisecond, StatCache: tc.cache, HotWindow: time.Second, ColdBudget: budget}
			*tr.roots[0].share = *shareStateFor(o)
			s := newSched(tr, o.withDefaults())
			start := tr.now
			s.last = start
			ticks := func(d time.Duration) int { return int(d / o.Interval) }
			run(s, start, o.Interval, 1, ticks(startWindow+time.Second), "")
			if s.sweeps != 0 || s.boost != "the first sweep after the start" || s.cold.cpuBudget != startBoost*budget {
				t.Fatalf("after the start window, before the first sweep ended: %d sweeps, boost %q, budget %v", s.sweeps, s.boost, s.cold.cpuBudget)
			}
			run(s, start, o.Interval, ticks(startWindow+time.Second)+1, ticks(tc.endBy), "")
			if ended := s.sweeps > 0; ended != tc.wantEnded {
				t.Errorf("first sweep ended by %v: %v, want %v", tc.endBy, ended, tc.wantEnded)
			}
			if s.boost != "" || s.cold.cpuBudget != budget {
				t.Errorf("at %v: boost %q, budget %v; want none", tc.endBy, s.boost, s.cold.cpuBudget)
			}
		})
	}
}

// TestSchedCacheBoundVisits: where the filesystem keeps attributes for a
// known time (StatCache, sshfs), the stat sweep visits each directory once
// the cache's entries have expired — the baseline's first, then its own
// visits' — and not before: a visit before then reads the cache, and a
// change made meanwhile would wait a whole sweep more.
func TestSchedCacheBoundVisits(t *testing.T) {
	const cache = 20 * time.Second
	m := newMemFS()
	m.limit = 1 // no file is hashed or read: only the stat sweep can see a change
	for d := range 4 {
		m.mkdir(fmt.Sprintf("/r/d%d", d))
		for f := range 10 {
			m.write(fmt.Sprintf("/r/d%d/f%02d", d, f), "v1")
		}
	}
	tr := newTestTree(t, m, true)
	o := Options{Interval: 100 * time.Millisecond, StatCache: cache, HotWindow: time.Second}
	*tr.roots[0].share = *shareStateFor(o)
	s := newSched(tr, o.withDefaults())
	start := tr.now
	s.last = start
	tick := func(k int) time.Time { return start.Add(time.Duration(k) * o.Interval) }
	inPlace := func(path string) {
		m.now += sec
		m.write(path, "v2")
		dir := filepath.Dir(path)
		m.nodes[dir].st.mtime -= 30 * sec // the directory did not change
		m.nodes[dir].st.ctime -= 30 * sec
	}

	// Changed 1 s after the start: the first visits come when the
	// baseline's entries have expired (cache + 1 s), all of them then.
	inPlace("/r/d2/f03")
	due := int((cache + time.Second) / o.Interval)
	at, evs := run(s, start, o.Interval, 10, due+20, "/r/d2/f03")
	if at < due || at > due+5 {
		t.Fatalf("change seen at tick %d, want at the first visits, ticks %d–%d: %v", at, due, due+5, evs)
	}
	// Changed right after those visits: seen at the next ones, once their
	// entries expired (cache + cacheDueMargin later), not before.
	inPlace("/r/d0/f07")
	next := at + int((cache+cacheDueMargin)/o.Interval)
	at2, evs := run(s, start, o.Interval, due+21, next+20, "/r/d0/f07")
	if at2 < next-5 || at2 > next+5 {
		t.Errorf("second change seen at tick %d, want about %d (the visits %v apart): %v", at2, next, cache+cacheDueMargin, evs)
	}
	if s.dueAt(tr.dirs[tr.roots[0].dir].ents[0].child).Before(tick(at2)) {
		t.Errorf("a directory is due again before %v after its visit", cache)
	}
}
