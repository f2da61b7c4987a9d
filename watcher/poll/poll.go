package poll

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

var (
	_ watcher.Watcher  = (*Watcher)(nil)
	_ watcher.Verifier = (*Watcher)(nil)
)

// Defaults for [Options]; the reasons are in the package's design notes.
const (
	DefaultInterval   = 100 * time.Millisecond
	DefaultHotWindow  = time.Minute
	DefaultDirPeriod  = 200 * time.Millisecond
	DefaultColdPeriod = 2 * time.Second
	DefaultColdBudget = 0.02
)

// Internal constants; the reasons are in the package's design notes.
const (
	maxHot             = 256
	dirBudget          = 0.01
	hotHashShare       = 0.3
	hotVerifyEvery     = time.Second
	hotReadFor         = 2 * time.Second
	racyLocal          = 100 * time.Millisecond
	racyRemote         = 2 * time.Second
	retryEvery         = time.Second
	baselineHashBudget = time.Second
	fillBudget         = 0.25
	// eventBuffer is the Events channel's capacity: a large checkout's
	// burst fits while the consumer folds events into a batch.
	eventBuffer = 4096
	errorBuffer = 16
)

// StatPolicy says whether the poller trusts stat on a root's filesystem.
type StatPolicy int

const (
	// StatAuto trusts stat on local disk filesystems (ext4, xfs, btrfs,
	// tmpfs, overlayfs, ...) and verifies by content everywhere else, going
	// by statfs's filesystem type. On platforms other than Linux it trusts.
	StatAuto StatPolicy = iota
	// StatTrust compares stats and hashes only to confirm a change.
	StatTrust
	// StatDistrust treats every root as a share: hot files are verified by
	// their content every interval, the rest swept by forced stat and read
	// within budgets, and whether the stat tells the truth is learnt (see
	// the design notes, "Shares").
	StatDistrust
)

// Options configure a [Watcher]. The zero value means the defaults.
type Options struct {
	watcher.Options
	// Interval is how often hot (recently changed) files and directories
	// are checked. 0 means DefaultInterval.
	Interval time.Duration
	// Stat says whether stat can be trusted. The zero value is StatAuto.
	Stat StatPolicy
	// HotWindow is how long a file stays hot after it last changed.
	HotWindow time.Duration
	// DirPeriod is how often every directory is stat'ed, budget allowing.
	DirPeriod time.Duration
	// ColdPeriod is the shortest time a sweep of all files takes.
	ColdPeriod time.Duration
	// ColdBudget is the fraction of one core the cold sweep may use: wall
	// time on local disks, CPU time where a root is a share. 0 means
	// DefaultColdBudget, or DefaultShareBudget if any root is a share.
	ColdBudget float64
	// MountType is the filesystem type of the roots' mount as
	// /proc/self/mountinfo names it ("fuse.sshfs", "nfs4" ...), where the
	// caller knows it (watcher/auto does): it chooses a share's starting
	// verdict (sshfs: the stat lies). "" leaves it to the evidence.
	MountType string
	// StatCache is how long the filesystem itself keeps a file's
	// attributes, where the caller knows it (watcher/auto does for sshfs:
	// 20 s unless its options say otherwise): a forced stat is answered
	// from that cache until the entry expires. The stat sweep then takes at
	// least StatCache plus [statCacheMargin] — a faster sweep would only read
	// the cache — and the verdict stays "lies" (a change a later stat shows
	// proves nothing: the entry had expired). 0: no such cache known.
	StatCache time.Duration
	// HintWait is how long a hinted change may take to show through the
	// mount (see [Watcher.Hint]). 0 means DefaultHintWait.
	HintWait time.Duration
}

func (o Options) withDefaults() Options {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.HotWindow <= 0 {
		o.HotWindow = DefaultHotWindow
	}
	if o.DirPeriod <= 0 {
		o.DirPeriod = DefaultDirPeriod
	}
	if o.ColdPeriod <= 0 {
		o.ColdPeriod = DefaultColdPeriod
	}
	if o.HintWait <= 0 {
		o.HintWait = DefaultHintWait
	}
	return o
}

// Root describes one watched root.
type Root struct {
	Path string
	// FSType is the filesystem type as statfs reports it ("ext2/3/4",
	// "filesystem type 0x65735546" for FUSE ...).
	FSType string
	// VerifyContent is true where stat is not trusted.
	VerifyContent bool
}

// Watcher polls directory trees. Its methods are safe for concurrent use.
//
// It runs exactly one goroutine, which owns the index. Close stops it and
// waits for it; afterwards Events and Errors are closed.
type Watcher struct {
	events chan watcher.Event
	errors chan error
	quit   chan struct{}
	done   chan struct{}
	once   sync.Once
	roots  []Root
	log    interface{ Debug(string, ...any) }

	files, dirs atomic.Int64
	sweeps      atomic.Int64 // completed cold sweeps, for tests
	dirSweeps   atomic.Int64 // completed directory sweeps, for tests
	hintLooks   atomic.Int64 // looks at hinted paths, for tests
	hintPending atomic.Int64 // hints not settled yet, for tests
	// verifyWaiting counts Verify calls waiting for the loop to take them:
	// the sweeps yield to them.
	verifyWaiting atomic.Int32
	filled        atomic.Bool // the fill pass is over, for benchmarks

	statsMu   sync.Mutex
	stats     []RootStats // published by the loop every statsEvery
	unwatched []string    // published with stats
	statsAt   time.Time   // owned by the loop

	// req holds what MarkHot, Hint, Reconcile and SetForwarded ask of the
	// loop; wake (one slot) tells the loop to take it now.
	req         requests
	wake        chan struct{}
	manifestReq chan manifestReq
	verifyReq   chan *verifyReq
}

// New indexes the given directory trees and starts polling them. The index
// is complete when New returns, so any change made afterwards is reported.
func New(roots []string, opts Options) (*Watcher, error) {
	o := opts.withDefaults()
	t := newTree(o.FilterOrDefault())
	var abs []string
	for _, r := range roots {
		a, err := filepath.Abs(r)
		if err != nil {
			return nil, fmt.Errorf("poll: watch %s: %w", r, err)
		}
		abs = append(abs, a)
	}
	abs = watcher.Outermost(abs)
	w := &Watcher{
		events: make(chan watcher.Event, eventBuffer),
		errors: make(chan error, errorBuffer),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		log:    o.LoggerOrDiscard(),

		wake:        make(chan struct{}, 1),
		manifestReq: make(chan manifestReq),
		verifyReq:   make(chan *verifyReq),
	}
	start := time.Now()
	t.now = start
	t.hashUntil = start.Add(baselineHashBudget)
	anyRemote := false
	for _, r := range abs {
		local, fstype := statTrusted(r)
		trusted := local
		switch o.Stat {
		case StatTrust:
			trusted = true
		case StatDistrust:
			trusted = false
		}
		racy := racyLocal
		if !trusted {
			racy = racyRemote
			anyRemote = true
		}
		fsys := &osFS{force: !trusted, raw: local && trusted, limit: o.MaxHashSizeOrDefault()}
		if err := t.addRoot(r, fsys, !trusted, fstype, racy); err != nil {
			t.close()
			return nil, fmt.Errorf("poll: watch %s: %w", r, unwrapPath(err))
		}
		if sh := t.roots[len(t.roots)-1].share; sh != nil {
			*sh = *shareStateFor(o)
		}
		w.roots = append(w.roots, Root{Path: r, FSType: fstype, VerifyContent: !trusted})
	}
	if o.ColdBudget <= 0 {
		o.ColdBudget = DefaultColdBudget
		if anyRemote {
			o.ColdBudget = DefaultShareBudget
		}
	}
	_, errs := t.take()
	for _, err := range errs {
		w.report(err)
	}
	w.files.Store(int64(t.nfiles))
	w.dirs.Store(int64(t.ndirs))
	w.log.Debug("poll: baseline done", "roots", abs, "files", t.nfiles, "dirs", t.ndirs, "took", time.Since(start))
	s := newSched(t, o)
	s.req = &w.req
	s.yield = func() bool { return w.verifyWaiting.Load() > 0 || len(w.wake) > 0 }
	s.last = time.Now()
	s.baselined = s.last
	w.stats, w.unwatched = s.rootStats(), t.unwatchedList()
	go w.loop(s)
	return w, nil
}

// Events implements watcher.Watcher.
func (w *Watcher) Events() <-chan watcher.Event { return w.events }

// Errors implements watcher.Watcher. It delivers *[UnreachableError] for
// roots that went away, and one report per unreadable directory.
func (w *Watcher) Errors() <-chan error { return w.errors }

// Unwatched returns the directories the poller does not watch, sorted:
// those whose path is longer than PATH_MAX (nothing can open them by it).
func (w *Watcher) Unwatched() []string {
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	return slices.Clone(w.unwatched)
}

// Roots describes the watched roots.
func (w *Watcher) Roots() []Root { return slices.Clone(w.roots) }

// statsEvery is how often the loop publishes Stats: often enough for a
// status page, rarely enough to cost nothing.
const statsEvery = 500 * time.Millisecond

// Stats describes, per root, what the poller has learnt about the stat
// there and what looking costs. It is at most statsEvery old.
func (w *Watcher) Stats() []RootStats {
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	return slices.Clone(w.stats)
}

// WatchedDirs returns the number of directories in the index.
func (w *Watcher) WatchedDirs() int { return int(w.dirs.Load()) }

// WatchedFiles returns the number of files (non-directories) in the index.
func (w *Watcher) WatchedFiles() int { return int(w.files.Load()) }

// MarkHot makes the files (or directories) at paths hot, as if they had
// just changed: they are checked every interval for the next HotWindow.
// watcher/auto calls it for files whose inotify event arrived before their
// new content did (Docker Desktop's VirtioFS), so the content is seen when
// it lands. Paths outside the roots, or not yet in the index, make their
// nearest indexed directory hot. MarkHot never blocks on the loop; the
// paths are taken at its next tick.
func (w *Watcher) MarkHot(paths ...string) {
	w.req.mu.Lock()
	w.req.hot = append(w.req.hot, paths...)
	w.req.mu.Unlock()
}

// Close stops polling and waits for the loop to finish. It is idempotent.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		close(w.quit)
		<-w.done
		close(w.events)
		close(w.errors)
	})
	return nil
}

func (w *Watcher) report(err error) {
	select {
	case w.errors <- err:
	default:
		// Nobody reads errors right now; dropping a report is better than
		// stalling the poller.
	}
}

// loop is the watcher's one goroutine. It ticks every interval (every
// forwardTick in forwarded mode), and is woken at once by hints and by
// the backoff timer of hints whose content has not arrived yet.
func (w *Watcher) loop(s *sched) {
	defer close(w.done)
	defer s.t.close()
	defer s.closeCold()
	every := s.interval
	tk := time.NewTicker(every)
	defer tk.Stop()
	hintTimer := time.NewTimer(time.Hour)
	hintTimer.Stop()
	defer hintTimer.Stop()
	for {
		var now time.Time
		ticked := false
		var manifest *manifestReq
		var verify *verifyReq
		select {
		case <-w.quit:
			return
		case now = <-tk.C:
			ticked = true
		case <-w.wake:
			now = time.Now()
		case now = <-hintTimer.C:
		case rq := <-w.manifestReq:
			// Answered after what was queued before it has been looked at.
			now, manifest = time.Now(), &rq
		case verify = <-w.verifyReq:
			now = time.Now()
		}
		req := w.req.take()
		if req.overflow {
			w.report(ErrHintOverflow)
		}
		s.setForwarded(req.forwarded)
		if e := s.tickEvery(); e != every {
			every = e
			tk.Reset(every)
		}
		if verify != nil {
			verify.reply <- s.verify(verify.batch, now)
		}
		for _, p := range req.hot {
			s.markHot(p, now)
		}
		for _, rq := range req.reconcile {
			s.reconcile(rq)
		}
		for _, h := range req.hints {
			s.addHint(h.h, h.at)
		}
		if ticked {
			s.tickHot(now)
			if !w.flush(s) { // a hot save does not wait for the sweeps
				return
			}
			s.tickSweeps()
		}
		if next := s.serveHints(now); !next.IsZero() {
			hintTimer.Reset(max(next.Sub(time.Now()), 0))
		}
		if !ticked {
			s.absorb(now) // a tick absorbs its own changes
		}
		if manifest != nil {
			manifest.reply <- s.t.manifest(manifest.root)
		}
		if !w.flush(s) {
			return
		}
	}
}

// flush delivers the pass's events and errors and publishes the counters.
// It returns false when the watcher is closing.
func (w *Watcher) flush(s *sched) bool {
	evs, errs := s.t.take()
	for _, err := range errs {
		w.report(err)
	}
	for _, ev := range evs {
		select {
		case w.events <- ev:
		case <-w.quit:
			return false
		}
	}
	w.files.Store(int64(s.t.nfiles))
	w.dirs.Store(int64(s.t.ndirs))
	w.sweeps.Store(s.sweeps)
	w.dirSweeps.Store(s.dirSweeps)
	w.hintLooks.Store(s.hintLooks)
	w.hintPending.Store(int64(len(s.pending)))
	w.filled.Store(s.filled)
	if now := time.Now(); now.Sub(w.statsAt) >= statsEvery {
		w.statsAt = now
		st, un := s.rootStats(), s.t.unwatchedList()
		w.statsMu.Lock()
		w.stats, w.unwatched = st, un
		w.statsMu.Unlock()
	}
	return true
}
