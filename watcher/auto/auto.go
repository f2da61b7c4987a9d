package auto

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/native"
	"github.com/reloadd/reloadd/watcher/poll"
)

var (
	_ watcher.Watcher  = (*Watcher)(nil)
	_ watcher.Verifier = (*Watcher)(nil)
	_ watcher.Quieter  = (*Watcher)(nil)
)

// Auto, as Options.Mode, chooses the mode per mount.
const Auto Mode = "auto"

// Design notes
//
// Hybrid mounts run the native watcher and a verifying sweep (a poller with
// a small cold budget). Every event of the mount, from either, is verified
// by the native watcher's content index, so a change both see is built
// once. A change that only the sweep reported, and that native watching
// did not see (no event for the path or a directory above it within
// nativeWindow), proves the mount deaf: it is still built (late, not lost)
// and the mount switches to plain polling, once.
const (
	// sweepBudget is the share of one core the hybrid sweep's cold pass
	// may use: half the poller's default, as it is a safety net.
	sweepBudget = 0.01
	// nativeWindow is how long a native event vouches for its path: longer
	// than the sweep needs to reach a change on a small or medium tree.
	nativeWindow = 30 * time.Second
	// manageEvery is how often the manager looks for directories native
	// watching lost to a kernel limit and forgets old sightings.
	manageEvery = time.Second
	// eventBuffer is the merged Events channel's capacity.
	eventBuffer = 4096
)

// Options configure New. The zero value means the defaults.
type Options struct {
	watcher.Options
	// Mode forces one mode on every mount; "" or Auto chooses per mount.
	Mode Mode
	// PollInterval is the pollers' hot interval (-poll-interval); 0 means
	// poll.DefaultInterval.
	PollInterval time.Duration
	// Plan decides the mode of each mount; nil means Detect. Tests use it
	// to make the detector misjudge a mount on purpose.
	Plan func(roots []string) ([]Choice, error)
}

// MountStatus describes one watched mount for the terminal and
// /_reloadd/status.
type MountStatus struct {
	Path          string   `json:"path"`
	FSType        string   `json:"fstype"`
	Mode          Mode     `json:"mode"`
	Reason        string   `json:"reason"`
	Dirs          int      `json:"dirs"`
	Files         int      `json:"files"`
	NativeWatches int      `json:"native_watches"`
	PolledFiles   int      `json:"polled_files"`
	UnwatchedDirs []string `json:"unwatched_dirs"`
	Switched      bool     `json:"switched,omitempty"`
	// Agent describes the host agent serving the mount; set while and only
	// while Mode is Forward (see forward.go).
	Agent *AgentStatus `json:"agent,omitempty"`
	// Poll is what the poller has learnt of a polled mount: whether a
	// forced stat tells the truth there, and what looking costs.
	Poll *PollStatus `json:"poll,omitempty"`
}

// PollStatus describes a polled mount's filesystem as its poller sees it
// (poll.RootStats, in the status's units).
type PollStatus struct {
	// Stat is the verdict on a forced stat: "local" (the kernel keeps it),
	// "unproven" (no evidence yet; the filesystem type suggests it tells
	// the truth), "truthful" or "lies" (a change was read that it did not
	// show); StatWhy says what the verdict rests on.
	Stat    string `json:"stat"`
	StatWhy string `json:"stat_why"`
	// StatShowed and StatMissed count the content changes read whose
	// forced stat had, or had not, moved with them; StatLagMaxMS is the
	// longest such a stat took to catch up.
	StatShowed   int64   `json:"stat_showed"`
	StatMissed   int64   `json:"stat_missed"`
	StatLagMaxMS float64 `json:"stat_lag_max_ms"`
	// StatUS and ReadUS are the average wall time of one forced stat and
	// one read of a file through the mount; the _cpu_ fields the
	// poller's own CPU time for them (the rest is the server's).
	StatUS    float64 `json:"stat_us"`
	StatCPUUS float64 `json:"stat_cpu_us"`
	ReadUS    float64 `json:"read_us"`
	ReadCPUUS float64 `json:"read_cpu_us"`
	// SweepMS is how long the last sweep of every file by stat took, and
	// ReadSweepMS the last read of every file; SweepCPUPct the share of
	// one core the sweeps may use, and SweepBoost why the stat sweep's
	// part of it is doubled now (the first 30 s, the first sweep, or
	// something changed in the last minute; empty: it is not).
	SweepMS     float64 `json:"sweep_ms"`
	ReadSweepMS float64 `json:"read_sweep_ms"`
	SweepCPUPct float64 `json:"sweep_cpu_pct"`
	SweepBoost  string  `json:"sweep_boost,omitempty"`
	// SweepStat says how the sweep stats a file: forced, or plain where a
	// plain stat asks the server at half the cost (see watcher/poll).
	SweepStat string `json:"sweep_stat,omitempty"`
	// Files and FilesComplete are ProbeMount's: the files it counted, and
	// whether that is all of them; SweepMS is then its estimate, and
	// SweepEditingMS the estimate while files change (the sweep boosted).
	Files          int     `json:"files,omitempty"`
	FilesComplete  bool    `json:"files_complete,omitempty"`
	SweepEditingMS float64 `json:"sweep_editing_ms,omitempty"`
}

// ProbeMount looks at a polled mount the way its poller would, for a
// short while, without watching it: the verdict the poller would start
// from, what a stat (as its sweep would stat) and a read cost there, and
// how long a sweep of every file would take (reloadd -check). It returns
// nil for a mount that is not polled.
func ProbeMount(c Choice) (*PollStatus, error) {
	if c.Mode != Poll {
		return nil, nil
	}
	rs, err := poll.Probe(c.Path, poll.Options{MountType: c.FSType, StatCache: c.StatCache}, 0)
	if err != nil {
		return nil, fmt.Errorf("auto: %w", err)
	}
	ps := pollStatus(rs)
	ps.Files, ps.FilesComplete = rs.ProbedFiles, rs.ProbeComplete
	ps.SweepEditingMS = float64(rs.SweepTimeEditing.Microseconds()) / 1000
	return ps, nil
}

// pollStatus converts a poller's view of a root for the status.
func pollStatus(rs poll.RootStats) *PollStatus {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
	return &PollStatus{
		Stat: string(rs.Stat), StatWhy: rs.StatWhy,
		StatShowed: rs.StatShowed, StatMissed: rs.StatMissed, StatLagMaxMS: ms(rs.StatLagMax),
		StatUS: us(rs.StatCost), StatCPUUS: us(rs.StatCPU), ReadUS: us(rs.ReadCost), ReadCPUUS: us(rs.ReadCPU),
		SweepMS: ms(rs.SweepTime), ReadSweepMS: ms(rs.ReadSweepTime), SweepCPUPct: 100 * rs.SweepCPU,
		SweepBoost: rs.SweepBoost, SweepStat: rs.SweepStat,
	}
}

// SwitchError reports that a hybrid mount was found deaf and is polled from
// now on. It is sent once per mount on Errors.
type SwitchError struct {
	Mount string // the mount's path
	Path  string // the change native watching missed
}

func (e *SwitchError) Error() string {
	return fmt.Sprintf("auto: %s: switched to polling: the verifying sweep found a change to %s that inotify never reported", e.Mount, e.Path)
}

// DegradedError reports directories that could not get an inotify watch and
// are polled instead. It is sent once per mount on Errors.
type DegradedError struct {
	Mount   string
	Dirs    int   // directories without a watch
	Watched int   // directories with one
	Cause   error // the kernel's error (ENOSPC or EMFILE), if known
}

func (e *DegradedError) Error() string {
	cause, what := "inotify limit reached", "fs.inotify.max_user_watches"
	if e.Cause != nil {
		cause = e.Cause.Error()
		if errors.Is(e.Cause, syscall.EMFILE) {
			what = "fs.inotify.max_user_instances"
		}
	}
	return fmt.Sprintf("auto: %s: %d directories could not be watched with inotify (%s; %d watched): polling them instead; for native speed raise %s (sysctl -w %s=524288)",
		e.Mount, e.Dirs, cause, e.Watched, what, what)
}

func (e *DegradedError) Unwrap() error { return e.Cause }

// mount is one watched subtree and the backends that watch it. Its pointer
// fields change only under Watcher.mu (write lock).
//
// choice.Path, filter and local are set by New and never change. Every
// other field (choice.Mode and Reason too, which a switch rewrites) is
// guarded by the Watcher's mu: the manager and Verify replace backends
// under its write lock; forwarders, Mounts, Quiet and Verify read under its
// read lock.
type mount struct {
	choice Choice
	filter *watcher.Filter
	local  []string // mount paths strictly below this one (excluded here)

	native   *native.Watcher // native and hybrid modes
	poller   *poll.Watcher   // poll mode: the poller; hybrid: the sweep
	degraded *poll.Watcher   // polls the directories native could not watch
	polled   []string        // degraded's roots
	limitMsg bool            // the degradation was reported
	limitErr error           // the kernel's error from native's LimitError
	switched bool
	fwd      *agentState // the agent serving this polled mount (forward.go)
}

// Watcher watches trees with the right backend per mount and merges them.
// Its methods are safe for concurrent use; Verify is called from one
// goroutine at a time.
//
// It runs one manager goroutine and one forwarding goroutine per live
// backend; Close closes every backend and waits for all of them.
//
// Ownership: the manager (manage) is the only goroutine that starts or
// replaces backends after New (switching a hybrid mount to polling, polling
// what native watching could not watch); Verify asks it to switch through
// switchReq rather than doing it. A forwarder (forward) owns nothing but
// its backend's two channels: it copies events and errors to the merged
// channels until the backend closes them or quit is closed. Close closes
// quit first, so a backend the manager creates after Close collected the
// others is closed by the manager itself (see degrade and switchToPoll).
// Attach and Detach (forward.go), called from the agent's connection,
// change only a mount's fwd, under mu.
type Watcher struct {
	opts   Options
	events chan watcher.Event // merged: every forwarder sends, the consumer reads
	errors chan error         // merged, never blocks a forwarder (report)
	quit   chan struct{}      // closed once by Close
	wg     sync.WaitGroup     // the manager and every forwarder
	once   sync.Once

	switchReq chan *mount // Verify → manager

	// mu guards mounts (the slice is fixed after New; its elements'
	// backends and mode are not: see mount). Held only to read or swap
	// fields, never across a backend's Close or a blocking send.
	mu     sync.RWMutex
	mounts []*mount // sorted by path, longest last

	// seenMu guards seen and swept: what each backend of a hybrid mount
	// reported, written by the forwarders, read by Verify, pruned by the
	// manager. A lock of its own so that forwarders never wait for mu's
	// writers.
	seenMu sync.Mutex
	seen   map[string]time.Time // native events on hybrid mounts
	swept  map[string]time.Time // sweep events on hybrid mounts
}

// New plans the roots' mounts with PlanMounts and starts the backends for
// exactly that plan. Every backend has its baseline when New returns, so
// any change made afterwards is reported.
func New(roots []string, opts Options) (*Watcher, error) {
	opts.Filter = opts.FilterOrDefault() // one filter for the plan and the backends
	// The forward cookie directory (forward.go) is never a change.
	if err := opts.Filter.Add(string(filepath.Separator), CookieDir); err != nil {
		return nil, fmt.Errorf("auto: %w", err)
	}
	plan, err := PlanMounts(roots, opts)
	if err != nil {
		return nil, err
	}
	w := &Watcher{
		opts:      opts,
		events:    make(chan watcher.Event, eventBuffer),
		errors:    make(chan error, 64),
		quit:      make(chan struct{}),
		switchReq: make(chan *mount, 16),
		seen:      make(map[string]time.Time),
		swept:     make(map[string]time.Time),
	}
	for _, c := range plan {
		m := &mount{choice: c}
		for _, o := range plan {
			if o.Path != c.Path && watcher.Within(c.Path, o.Path) {
				m.local = append(m.local, o.Path)
			}
		}
		m.filter = opts.Filter.Without(m.local...)
		w.mounts = append(w.mounts, m)
	}
	slices.SortFunc(w.mounts, func(a, b *mount) int { return cmp.Compare(len(a.choice.Path), len(b.choice.Path)) })
	for _, m := range w.mounts {
		if err := w.start(m); err != nil {
			w.Close()
			return nil, err
		}
	}
	w.wg.Add(1)
	go w.manage()
	return w, nil
}

func (w *Watcher) wopts(f *watcher.Filter) watcher.Options {
	o := w.opts.Options
	o.Filter = f
	return o
}

func (w *Watcher) pollOpts(f *watcher.Filter) poll.Options {
	return poll.Options{Options: w.wopts(f), Interval: w.opts.PollInterval}
}

// mountPollOpts are pollOpts for polling mount m itself.
func (w *Watcher) mountPollOpts(m *mount) poll.Options {
	o := w.pollOpts(m.filter)
	o.MountType, o.StatCache = m.choice.FSType, m.choice.StatCache
	return o
}

// start builds m's backends for its mode.
func (w *Watcher) start(m *mount) error {
	path := m.choice.Path
	switch m.choice.Mode {
	case Poll:
		p, err := poll.New([]string{path}, w.mountPollOpts(m))
		if err != nil {
			return fmt.Errorf("auto: %w", err)
		}
		m.poller = p
		w.forward(m, p, false)
	case Native, Hybrid:
		n, err := native.New([]string{path}, w.wopts(m.filter))
		if err != nil {
			return fmt.Errorf("auto: %w", err)
		}
		m.native = n
		// native.New reports a kernel limit before it returns: take that
		// report here, so the degradation below can name the cause.
	drain:
		for {
			select {
			case err := <-n.Errors():
				var le *native.LimitError
				if errors.As(err, &le) {
					m.limitErr = le.Err
				} else {
					w.report(err)
				}
			default:
				break drain
			}
		}
		w.forward(m, n, true)
		if m.choice.Mode == Hybrid {
			o := w.pollOpts(m.filter)
			o.ColdBudget = sweepBudget
			s, err := poll.New([]string{path}, o)
			if err != nil {
				return fmt.Errorf("auto: sweep: %w", err)
			}
			m.poller = s
			w.forward(m, s, false)
		}
		w.degrade(m)
	}
	return nil
}

// forward starts the goroutine that copies src's events and errors into the
// merged channels until src is closed.
func (w *Watcher) forward(m *mount, src watcher.Watcher, isNative bool) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		evs, errs := src.Events(), src.Errors()
		for evs != nil || errs != nil {
			select {
			case ev, ok := <-evs:
				if !ok {
					evs = nil
					continue
				}
				w.note(m, ev, isNative)
				select {
				case w.events <- ev:
				case <-w.quit:
					return
				}
			case err, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				if w.forwardError(m, err) {
					continue // the agent is dropped and resynchronises (forward.go)
				}
				var le *native.LimitError
				if errors.As(err, &le) {
					w.mu.Lock()
					m.limitErr = le.Err
					w.mu.Unlock()
					continue // the manager polls those directories and says so
				}
				w.report(err)
			case <-w.quit:
				return
			}
		}
	}()
}

// note records, on hybrid mounts, which backend saw what.
func (w *Watcher) note(m *mount, ev watcher.Event, isNative bool) {
	w.mu.RLock()
	hybrid := m.choice.Mode == Hybrid
	w.mu.RUnlock()
	if !hybrid {
		return
	}
	now := time.Now()
	w.seenMu.Lock()
	if isNative {
		w.seen[ev.Path] = now
	} else {
		w.swept[ev.Path] = now
	}
	w.seenMu.Unlock()
}

func (w *Watcher) report(err error) {
	select {
	case w.errors <- err:
	case <-w.quit:
	default: // nobody reads: a report is not worth stalling events for
	}
}

// Events implements watcher.Watcher.
func (w *Watcher) Events() <-chan watcher.Event { return w.events }

// Quiet implements watcher.Quieter: every native watcher is quiet and the
// merged channel is empty. (Pollers never mark changes complete, so
// batches with their events wait the whole window anyway.)
func (w *Watcher) Quiet() bool {
	w.mu.RLock()
	for _, m := range w.mounts {
		if m.native != nil && !m.native.Quiet() {
			w.mu.RUnlock()
			return false
		}
	}
	w.mu.RUnlock()
	return len(w.events) == 0
}

// Errors implements watcher.Watcher. Besides the backends' reports it
// delivers *SwitchError and *DegradedError.
func (w *Watcher) Errors() <-chan error { return w.errors }

// Close stops every backend and waits for all goroutines. It is idempotent.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		close(w.quit)
		w.mu.Lock()
		var all []watcher.Watcher
		for _, m := range w.mounts {
			for _, b := range []watcher.Watcher{nilIfNil(m.native), nilIfNil(m.poller), nilIfNil(m.degraded)} {
				if b != nil {
					all = append(all, b)
				}
			}
		}
		w.mu.Unlock()
		for _, b := range all {
			b.Close()
		}
		w.wg.Wait()
		close(w.events)
		close(w.errors)
	})
	return nil
}

// nilIfNil turns a typed nil pointer into a nil interface.
func nilIfNil[T any, P interface {
	*T
	watcher.Watcher
}](p P) watcher.Watcher {
	if p == nil {
		return nil
	}
	return p
}

// owner returns the mount that governs path: the deepest one containing it.
func (w *Watcher) ownerLocked(path string) *mount {
	for i := len(w.mounts) - 1; i >= 0; i-- {
		if watcher.Within(w.mounts[i].choice.Path, path) {
			return w.mounts[i]
		}
	}
	return nil
}

// Verify implements watcher.Verifier: each event is verified by the backend
// that owns its path (the native watcher's content index for native and
// hybrid mounts, the poller for polled ones), and on hybrid mounts a change
// only the sweep saw switches the mount to polling.
func (w *Watcher) Verify(batch []watcher.Event) []watcher.Event {
	type group struct {
		m   *mount
		v   watcher.Verifier
		evs []watcher.Event
	}
	var groups []*group
	byV := map[watcher.Verifier]*group{}
	w.mu.RLock()
	defer w.mu.RUnlock()
	for _, ev := range batch {
		m := w.ownerLocked(ev.Path)
		if m == nil {
			continue
		}
		var v watcher.Verifier
		switch {
		case m.degraded != nil && underAny(m.polled, ev.Path):
			v = m.degraded
		case m.native != nil:
			v = m.native
		case m.poller != nil:
			v = m.poller
		default:
			continue
		}
		g := byV[v]
		if g == nil {
			g = &group{m: m, v: v}
			byV[v] = g
			groups = append(groups, g)
		}
		g.evs = append(g.evs, ev)
	}
	var out []watcher.Event
	for _, g := range groups {
		got := g.v.Verify(g.evs)
		if g.m.choice.Mode == Hybrid && g.v == watcher.Verifier(g.m.native) {
			w.checkHybrid(g.m, g.evs, got)
		}
		out = append(out, got...)
	}
	// A sweep's late report of a change already built can share a batch
	// with a new native event for the same path; the batch then carries the
	// old report's time. The change being built is at least as new as the
	// latest native sighting of the path.
	w.seenMu.Lock()
	for i := range out {
		if t, ok := w.seen[out[i].Path]; ok && t.After(out[i].Time) {
			out[i].Time = t
		}
	}
	w.seenMu.Unlock()
	slices.SortStableFunc(out, func(a, b watcher.Event) int { return cmp.Compare(a.Path, b.Path) })
	return out
}

// checkHybrid compares what the native watcher and the sweep saw of one
// verified batch of a hybrid mount (called with w.mu read-locked).
func (w *Watcher) checkHybrid(m *mount, in, changed []watcher.Event) {
	now := time.Now()
	w.seenMu.Lock()
	defer w.seenMu.Unlock()
	var missed string
	for _, c := range changed {
		if _, swept := w.swept[c.Path]; swept && !w.nativeSawLocked(m, c.Path, now) {
			missed = c.Path
			break
		}
	}
	// Events native saw that brought no new content yet: keep checking
	// those files for a while, the bytes may lag the event.
	isChanged := make(map[string]bool, len(changed))
	for _, c := range changed {
		isChanged[c.Path] = true
	}
	var stale []string
	for _, ev := range in {
		if _, ok := w.seen[ev.Path]; ok && !isChanged[ev.Path] {
			stale = append(stale, ev.Path)
		}
		delete(w.swept, ev.Path)
	}
	if len(stale) > 0 && m.poller != nil {
		m.poller.MarkHot(stale...)
	}
	if missed != "" {
		select {
		case w.switchReq <- m:
			w.report(&SwitchError{Mount: m.choice.Path, Path: missed})
		default:
		}
	}
}

// nativeSawLocked reports whether the native watcher reported path, or a
// directory above it within the mount, within nativeWindow.
func (w *Watcher) nativeSawLocked(m *mount, path string, now time.Time) bool {
	for p := path; watcher.Within(m.choice.Path, p); p = filepath.Dir(p) {
		if t, ok := w.seen[p]; ok && now.Sub(t) <= nativeWindow {
			return true
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	return false
}

// manage switches deaf hybrid mounts to polling, polls directories native
// watching could not take, and forgets old sightings.
func (w *Watcher) manage() {
	defer w.wg.Done()
	tick := time.NewTicker(manageEvery)
	defer tick.Stop()
	for {
		select {
		case m := <-w.switchReq:
			w.switchToPoll(m)
		case <-tick.C:
			w.mu.RLock()
			ms := slices.Clone(w.mounts)
			w.mu.RUnlock()
			for _, m := range ms {
				w.degrade(m)
			}
			w.prune()
		case <-w.quit:
			return
		}
	}
}

// switchToPoll replaces a hybrid mount's native watcher and sweep with a
// regular poller. The new poller has its baseline before the old backends
// stop, so nothing falls in between.
func (w *Watcher) switchToPoll(m *mount) {
	w.mu.RLock()
	done := m.switched || m.choice.Mode != Hybrid
	w.mu.RUnlock()
	if done {
		return
	}
	p, err := poll.New([]string{m.choice.Path}, w.mountPollOpts(m))
	if err != nil {
		w.report(fmt.Errorf("auto: %s: cannot switch to polling: %w", m.choice.Path, err))
		return
	}
	select {
	case <-w.quit:
		p.Close()
		return
	default:
	}
	w.mu.Lock()
	select {
	case <-w.quit: // Close has collected the backends: this one is ours to close
		w.mu.Unlock()
		p.Close()
		return
	default:
	}
	old := []watcher.Watcher{nilIfNil(m.native), nilIfNil(m.poller), nilIfNil(m.degraded)}
	m.native, m.poller, m.degraded, m.polled = nil, p, nil, nil
	m.switched = true
	m.choice.Mode = Poll
	m.choice.Reason = "switched from hybrid: a change the verifying sweep found never arrived as an inotify event"
	w.forward(m, p, false)
	w.mu.Unlock()
	for _, b := range old {
		if b != nil {
			b.Close()
		}
	}
}

// degrade polls the directories m's native watcher could not watch.
func (w *Watcher) degrade(m *mount) {
	w.mu.RLock()
	n, polled := m.native, m.polled
	w.mu.RUnlock()
	if n == nil {
		return
	}
	un := n.Unwatched()
	if len(un) == 0 {
		return
	}
	roots := watcher.Outermost(un)
	if slices.Equal(roots, polled) {
		return
	}
	p, err := poll.New(roots, w.pollOpts(m.filter))
	if err != nil {
		w.report(fmt.Errorf("auto: %s: cannot poll the directories inotify could not watch: %w", m.choice.Path, err))
		return
	}
	w.mu.Lock()
	closing := false
	select {
	case <-w.quit:
		closing = true
	default:
	}
	if closing || m.native != n { // closing, or switched meanwhile
		w.mu.Unlock()
		p.Close()
		return
	}
	old := m.degraded
	m.degraded, m.polled = p, roots
	first := !m.limitMsg
	m.limitMsg = true
	cause := m.limitErr
	w.forward(m, p, false)
	w.mu.Unlock()
	if old != nil {
		old.Close()
	}
	if first {
		w.report(&DegradedError{Mount: m.choice.Path, Dirs: len(un), Watched: n.WatchedDirs(), Cause: cause})
	}
}

// prune forgets sightings older than nativeWindow.
func (w *Watcher) prune() {
	cut := time.Now().Add(-nativeWindow)
	w.seenMu.Lock()
	defer w.seenMu.Unlock()
	for p, t := range w.seen {
		if t.Before(cut) {
			delete(w.seen, p)
		}
	}
	for p, t := range w.swept {
		if t.Before(cut) {
			delete(w.swept, p)
		}
	}
}

// Mounts describes every watched mount now.
func (w *Watcher) Mounts() []MountStatus {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]MountStatus, 0, len(w.mounts))
	for _, m := range w.mounts {
		s := MountStatus{Path: m.choice.Path, FSType: m.choice.FSType, Mode: m.choice.Mode, Reason: m.choice.Reason, Switched: m.switched, UnwatchedDirs: []string{}}
		if m.native != nil {
			s.NativeWatches = m.native.WatchedDirs()
			s.UnwatchedDirs = slices.Concat(m.native.Unwatched(), m.native.TooLong())
			s.Dirs = s.NativeWatches + len(s.UnwatchedDirs)
			s.Files = m.native.Files()
		}
		if m.degraded != nil {
			s.PolledFiles += m.degraded.WatchedFiles()
		}
		if m.poller != nil && m.choice.Mode == Hybrid {
			s.PolledFiles = m.poller.WatchedFiles() // the verifying sweep
		}
		if m.poller != nil && m.choice.Mode == Poll {
			s.Dirs = m.poller.WatchedDirs()
			s.Files = m.poller.WatchedFiles()
			s.PolledFiles = s.Files
			if st := m.poller.Stats(); len(st) > 0 {
				s.Poll = pollStatus(st[0])
			}
			s.UnwatchedDirs = append(s.UnwatchedDirs, m.poller.Unwatched()...)
		}
		if m.fwd != nil {
			s.Mode, s.Agent = Forward, m.fwd.status(m.poller)
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b MountStatus) int { return cmp.Compare(a.Path, b.Path) })
	return out
}

// WatchedDirs returns the number of directories watched, natively or by
// polling.
func (w *Watcher) WatchedDirs() int {
	n := 0
	for _, s := range w.Mounts() {
		n += s.Dirs
	}
	return n
}

func underAny(dirs []string, path string) bool {
	for _, d := range dirs {
		if watcher.Within(d, path) {
			return true
		}
	}
	return false
}

// WaitWarmed waits until every native watcher started by New has hashed
// its baseline (until then a touch of a file not hashed yet counts as a
// change), or until timeout; it reports whether they all have. Tests and
// benchmarks use it; reloadd does not need to.
func (w *Watcher) WaitWarmed(timeout time.Duration) bool {
	w.mu.RLock()
	var chans []<-chan struct{}
	for _, m := range w.mounts {
		if m.native != nil {
			chans = append(chans, m.native.Warmed())
		}
	}
	w.mu.RUnlock()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for _, c := range chans {
		select {
		case <-c:
		case <-deadline.C:
			return false
		}
	}
	return true
}
