package poll

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

// Hints, reconciliation and forwarded mode: the hooks a host-side agent
// (reloadd forward) drives. The agent sees edits where they happen; the
// poller still confirms each one by reading it through its own mount, so a
// hint is never trusted, only acted on sooner.
//
// # Design notes
//
// A hint is checked at once (the loop is woken, not left to its next
// tick). When it carries the host's hash and the mount does not show those
// bytes yet (VirtioFS and NFS caches, sshfs's cached size), it is looked at
// again after hintFirstStep, doubling up to hintMaxStep, until
// Options.HintWait ([DefaultHintWait]) has passed since it arrived: ~13
// looks for a hint that is never confirmed. When the bytes arrive the
// change is reported, with the hint's arrival as its time, and the lag is
// measured. When the wait ends without them, a change is reported only if
// the mount's content differs from the index: a forged or stale hint costs
// reads, never a wrong event. A newer hint for a path replaces the pending
// one (its hash is the content to wait for).
//
// Forwarded mode: the agent reports every change, so the loop stops hot
// polling and the directory sweep, wakes every forwardTick instead of every
// interval, and keeps a safety sweep: every directory listed and every file
// stat'ed (never read unless its stat moved) within forwardBudget, at most
// once per forwardPeriod.
const (
	// DefaultHintWait bounds how long a hinted change may lag behind the
	// hint: longer than VirtioFS's and NFS's attribute caches in their
	// usual settings (1–3 s), short enough that a forged hint costs little.
	DefaultHintWait = 5 * time.Second
	// hintFirstStep and hintMaxStep: the backoff between looks. A read
	// through FUSE or NFS usually shows new bytes within a few ms; a cache
	// that lags does so for hundreds of ms to seconds.
	hintFirstStep = 2 * time.Millisecond
	hintMaxStep   = time.Second
	// maxQueuedHints bounds the hints queued for the loop. Beyond it hints
	// are dropped, the watcher leaves forwarded mode (full polling finds
	// what the dropped hints named) and reports ErrHintOverflow.
	maxQueuedHints = 1 << 16
	// forwardTick is the loop's period in forwarded mode: nothing is hot,
	// and the safety sweep needs no finer grain. Hints wake the loop.
	forwardTick = time.Second
	// forwardBudget is the safety sweep's share of one core (wall time;
	// through FUSE mostly waiting for the server): 0.2 %, so that with the
	// loop's own wake-ups the idle poller stays under 0.5 % of a core at
	// 100,000 files.
	forwardBudget = 0.002
	// forwardPeriod is the shortest time a safety sweep takes.
	forwardPeriod = time.Minute
	// lagSamples is how many recent lags HintStats' percentile covers.
	lagSamples = 64
)

// ErrHintOverflow is reported on Errors when hints arrive faster than the
// loop takes them and some were dropped. The watcher has left forwarded
// mode: full polling finds what the dropped hints named. The sender should
// Reconcile and SetForwarded(true) again.
var ErrHintOverflow = errors.New("poll: too many hints queued; some were dropped, polling fully again")

// Hint is an out-of-band report that a path changed, from an agent that
// watches the other side of the mount. It is only a hint: the poller looks
// at the path through the mount and reports what it finds there.
type Hint struct {
	// Path is the absolute path on this side (under a watched root). Paths
	// outside every root, or ignored by the filter, are dropped.
	Path string
	// Remove says the path is gone on the other side.
	Remove bool
	// Dir says the path is a directory whose names changed: it is listed
	// again (new names reported as Create, vanished ones as Remove).
	Dir bool
	// Size is the file's size on the other side. It is informational: the
	// hash decides.
	Size int64
	// Hash is the xxhash64 (github.com/cespare/xxhash/v2, Sum64) of the
	// file's content on the other side, or of the link text for a
	// symlink. With HasHash set, the poller waits (up to Options.HintWait)
	// until the mount shows these bytes before it reports the change.
	Hash    uint64
	HasHash bool
}

// ManifestEntry is one path of a Reconcile manifest: the other side's view
// of a file or directory.
type ManifestEntry struct {
	// Path is relative to the manifest's root, with / separators, clean
	// ("css/site.css"): no leading /, no "." or ".." elements.
	Path string
	Dir  bool
	Size int64
	// MTime is the modification time in Unix nanoseconds, as the other
	// side sees it. Used only when neither side has a hash.
	MTime int64
	// Hash and HasHash are as in [Hint].
	Hash    uint64
	HasHash bool
}

// HintStats counts what hints found. Lags are from a hint's arrival to
// the moment its content could be read through the mount.
type HintStats struct {
	// Hints is how many hints arrived (Reconcile's checks included).
	Hints int64 `json:"hints"`
	// Dropped is how many were dropped because the queue was full.
	Dropped int64 `json:"dropped,omitempty"`
	// Reported is how many led to a reported change.
	Reported int64 `json:"reported"`
	// Lagged is how many were confirmed only after more than one look:
	// the mount showed the change later than the hint.
	Lagged int64 `json:"lagged"`
	// Unconfirmed is how many waits ended without the mount ever showing
	// the hinted content (stale or forged hints, or a mount slower than
	// Options.HintWait).
	Unconfirmed int64 `json:"unconfirmed"`
	// LagP50 and LagMax are over the last confirmed hints (up to 64).
	LagP50 time.Duration `json:"lag_p50_ns"`
	LagMax time.Duration `json:"lag_max_ns"`
	// Forwarded reports whether forwarded mode is on.
	Forwarded bool `json:"forwarded"`
}

// hintReq is a hint as queued for the loop.
type hintReq struct {
	h  Hint
	at time.Time
}

// reconcileReq is a Reconcile call queued for the loop.
type reconcileReq struct {
	root     string
	manifest []ManifestEntry
	at       time.Time
}

// manifestReq asks the loop for the index's view of a root.
type manifestReq struct {
	root  string
	reply chan []ManifestEntry
}

// requests is what callers of Hint, Reconcile, SetForwarded and MarkHot
// hand to the loop. Methods append under mu and wake the loop; the loop
// takes everything at once.
type requests struct {
	mu        sync.Mutex
	hot       []string
	hints     []hintReq
	reconcile []reconcileReq
	forwarded bool
	overflow  bool // hints were dropped since the loop last looked
	stats     HintStats
	lags      []time.Duration // ring of the last lagSamples lags
	lagNext   int
}

// Hint reports that paths changed on the other side of the mount. It
// never blocks and is safe for concurrent use; the loop checks each path
// through the mount at once.
func (w *Watcher) Hint(hints ...Hint) {
	if len(hints) == 0 {
		return
	}
	now := time.Now()
	w.req.mu.Lock()
	n := 0
	for _, h := range hints {
		if len(w.req.hints) >= maxQueuedHints {
			w.req.overflow = true
			w.req.forwarded = false
			w.req.stats.Dropped++
			continue
		}
		h.Path = filepath.Clean(h.Path)
		w.req.hints = append(w.req.hints, hintReq{h: h, at: now})
		n++
	}
	w.req.stats.Hints += int64(n)
	w.req.mu.Unlock()
	w.poke()
}

// Reconcile compares the other side's view of root (a watched root or a
// directory below one) with the index, and checks through the mount
// exactly the paths that differ: entries whose hash (or, without hashes,
// size and mtime) differs or that the index lacks, and indexed paths the
// manifest lacks, which may have been removed. Call it when an agent
// (re)connects, so that changes made while apart are found at once. It
// returns at once; the checks run as hints. Manifest entries whose path is
// not clean and relative are skipped.
func (w *Watcher) Reconcile(root string, manifest []ManifestEntry) error {
	root = filepath.Clean(root)
	if !filepath.IsAbs(root) {
		return fmt.Errorf("poll: reconcile %s: not an absolute path", root)
	}
	if !w.covers(root) {
		return fmt.Errorf("poll: reconcile %s: not under a watched root", root)
	}
	w.req.mu.Lock()
	w.req.reconcile = append(w.req.reconcile, reconcileReq{root: root, manifest: manifest, at: time.Now()})
	w.req.mu.Unlock()
	w.poke()
	return nil
}

// Manifest returns the index's view of root (a watched root or a
// directory below one), in the form Reconcile takes: every file and
// directory not ignored, sorted by path, with the hash where the poller
// has one. It waits for the loop (at most one tick's work).
func (w *Watcher) Manifest(root string) ([]ManifestEntry, error) {
	root = filepath.Clean(root)
	if !w.covers(root) {
		return nil, fmt.Errorf("poll: manifest %s: not under a watched root", root)
	}
	rq := manifestReq{root: root, reply: make(chan []ManifestEntry, 1)}
	select {
	case w.manifestReq <- rq:
	case <-w.done:
		return nil, errors.New("poll: manifest: the watcher is closed")
	}
	select {
	case m := <-rq.reply:
		return m, nil
	case <-w.done:
		return nil, errors.New("poll: manifest: the watcher is closed")
	}
}

// SetForwarded turns forwarded mode on or off. While on, an agent serves
// the mount: hot polling and the directory sweep stop and only a slow
// safety sweep remains (see the design notes); hints are checked as
// always. When off, full polling resumes at once. Safe for concurrent use.
func (w *Watcher) SetForwarded(on bool) {
	w.req.mu.Lock()
	w.req.forwarded = on
	w.req.mu.Unlock()
	w.poke()
}

// HintStats returns what hints have found so far.
func (w *Watcher) HintStats() HintStats {
	w.req.mu.Lock()
	defer w.req.mu.Unlock()
	s := w.req.stats
	if len(w.req.lags) > 0 {
		l := slices.Clone(w.req.lags)
		slices.Sort(l)
		s.LagP50 = l[(len(l)-1)/2]
	}
	s.Forwarded = w.req.forwarded
	return s
}

// covers reports whether path is a watched root or lies below one.
func (w *Watcher) covers(p string) bool {
	for _, r := range w.roots {
		if inside(r.Path, p) {
			return true
		}
	}
	return false
}

// poke wakes the loop without blocking.
func (w *Watcher) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// taken is what the loop takes from requests at once.
type taken struct {
	hot       []string
	hints     []hintReq
	reconcile []reconcileReq
	forwarded bool
	overflow  bool
}

// take hands the queued requests to the loop.
func (q *requests) take() taken {
	q.mu.Lock()
	defer q.mu.Unlock()
	tk := taken{hot: q.hot, hints: q.hints, reconcile: q.reconcile, forwarded: q.forwarded, overflow: q.overflow}
	q.hot, q.hints, q.reconcile, q.overflow = nil, nil, nil, false
	return tk
}

// record counts the outcome of one settled hint.
func (q *requests) record(o hintOutcome, lag time.Duration) {
	if o.dropped {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if o.reported {
		q.stats.Reported++
	}
	if !o.confirmed {
		q.stats.Unconfirmed++
		return
	}
	if o.looks > 1 {
		q.stats.Lagged++
	}
	q.stats.LagMax = max(q.stats.LagMax, lag)
	if len(q.lags) < lagSamples {
		q.lags = append(q.lags, lag)
	} else {
		q.lags[q.lagNext] = lag
		q.lagNext = (q.lagNext + 1) % lagSamples
	}
}

// pendingHint is a hint the loop has not settled yet.
type pendingHint struct {
	h     Hint
	first time.Time // when the first hint for this path arrived (the event's time)
	last  time.Time // when the latest one did (lags count from it)
	next  time.Time // when to look again
	step  time.Duration
	looks int
}

// hintOutcome is what settling a hint found.
type hintOutcome struct {
	dropped   bool // outside the roots, ignored, or the root is unreachable
	confirmed bool // the mount showed what the hint said
	reported  bool // a change was reported
	looks     int
}

// addHint queues h for a look at now, replacing a pending hint for the
// same path.
func (s *sched) addHint(h Hint, at time.Time) {
	if p, ok := s.pending[h.Path]; ok {
		p.h, p.last, p.next, p.step = h, at, at, 0
		return
	}
	s.pending[h.Path] = &pendingHint{h: h, first: at, last: at, next: at}
}

// serveHints looks at every pending hint that is due and returns when the
// next one is (zero if none is pending).
func (s *sched) serveHints(now time.Time) time.Time {
	if len(s.pending) == 0 {
		return time.Time{}
	}
	t := s.t
	t.now = now
	due := make([]*pendingHint, 0, len(s.pending))
	for _, p := range s.pending {
		if !p.next.After(now) {
			due = append(due, p)
		}
	}
	// Parents before children: a new directory's rescan settles the hints
	// for the files in it without a look of their own.
	slices.SortFunc(due, func(a, b *pendingHint) int { return strings.Compare(a.h.Path, b.h.Path) })
	for _, p := range due {
		p.looks++
		s.hintLooks++
		final := now.Sub(p.last) >= s.hintWait
		if o, done := s.lookHint(p, final); done {
			o.looks = p.looks
			delete(s.pending, p.h.Path)
			if s.req != nil {
				s.req.record(o, now.Sub(p.last))
			}
			continue
		}
		p.step = min(max(2*p.step, hintFirstStep), hintMaxStep)
		p.next = now.Add(p.step)
		if end := p.last.Add(s.hintWait); p.next.After(end) {
			p.next = end
		}
	}
	t.rescanDirty()
	var next time.Time
	for _, p := range s.pending {
		if next.IsZero() || p.next.Before(next) {
			next = p.next
		}
	}
	return next
}

// lookHint looks at a hinted path through the mount. done says the hint is
// settled; final says it is the last look (the wait is over).
func (s *sched) lookHint(p *pendingHint, final bool) (hintOutcome, bool) {
	t := s.t
	h := p.h
	di, name, ok := t.lookup(h.Path)
	if !ok {
		// Outside every root, or the root is unreachable: when it is back,
		// everything under it is compared with the index anyway.
		return hintOutcome{dropped: true}, true
	}
	if t.filter.Ignored(h.Path, h.Dir) {
		return hintOutcome{dropped: true}, true
	}
	d := &t.dirs[di]
	exact := name != "" || d.path == h.Path
	at := p.first
	switch {
	case h.Remove:
		if !exact {
			return hintOutcome{confirmed: true}, true // not in the index: nothing to remove
		}
		if _, err := t.fsOf(di).stat(h.Path, false); err == nil || !isGone(err) {
			if err != nil {
				t.fileFailed(di, err)
			}
			return hintOutcome{}, final // still there through the mount
		}
		n := len(t.events)
		if name == "" {
			t.markDirty(d.parent)
		} else {
			t.markDirty(di)
		}
		t.rescanDirty()
		t.stampSince(n, at)
		return hintOutcome{confirmed: true, reported: len(t.events) > n}, true
	case !exact:
		// Not in the index yet: list the nearest indexed directory, which
		// reports the path (and anything else new there).
		n := len(t.events)
		t.rescan(di, false)
		t.stampSince(n, at)
		di2, name2, _ := t.lookup(h.Path)
		found := name2 != "" || t.dirs[di2].path == h.Path
		if !found {
			return hintOutcome{reported: len(t.events) > n}, final
		}
		if name2 == "" || !h.HasHash {
			return hintOutcome{confirmed: true, reported: len(t.events) > n}, true
		}
		if i, ok := t.dirs[di2].find(name2); ok {
			e := &t.dirs[di2].ents[i]
			if e.flags&fHashed != 0 && e.hash == h.Hash {
				return hintOutcome{confirmed: true, reported: len(t.events) > n}, true
			}
		}
		return hintOutcome{reported: len(t.events) > n}, final // created, its bytes still to come
	case name == "" || h.Dir:
		// A directory: list it, once. A listing that lags is not waited
		// for here: the hints for the files in it (a new name is looked
		// for until it shows, a removed one until it is gone) carry what
		// to wait for.
		if name != "" {
			di, name = t.childDir(di, name)
			if name != "" {
				t.markDirty(di) // the hint says directory, the index says file
				t.rescanDirty()
				return hintOutcome{confirmed: true}, true
			}
		}
		n := len(t.events)
		t.rescan(di, false)
		t.stampSince(n, at)
		return hintOutcome{confirmed: true, reported: len(t.events) > n}, true
	}
	return s.lookHintedFile(p, di, name, final)
}

// lookHintedFile is lookHint for a file the index holds.
func (s *sched) lookHintedFile(p *pendingHint, di int32, name string, final bool) (hintOutcome, bool) {
	t := s.t
	h := p.h
	d := &t.dirs[di]
	i, ok := d.find(name)
	if !ok {
		return hintOutcome{confirmed: true}, true
	}
	e := &d.ents[i]
	if e.flags&fIgnored != 0 {
		return hintOutcome{confirmed: true}, true
	}
	if e.isDir() {
		t.markDirty(di)
		t.rescanDirty()
		return hintOutcome{confirmed: true}, true
	}
	if h.HasHash && e.flags&fHashed != 0 && e.hash == h.Hash {
		// The index holds the hinted content already (a change reported by
		// polling, or a stale hint): nothing to read.
		return hintOutcome{confirmed: true}, true
	}
	fsys := t.fsOf(di)
	st, err := fsys.stat(h.Path, false)
	if err != nil || st.mode.Type() != e.mode.Type() {
		// Gone or replaced: the directory's rescan reports it.
		n := len(t.events)
		if err != nil && !isGone(err) {
			t.fileFailed(di, err)
			return hintOutcome{}, final
		}
		t.markDirty(di)
		t.rescanDirty()
		t.stampSince(n, p.first)
		return hintOutcome{confirmed: !h.HasHash, reported: len(t.events) > n}, !h.HasHash || final
	}
	if !hashable(st.mode) {
		return hintOutcome{confirmed: true}, true
	}
	sum, hashed, err := fsys.hash(h.Path, st.mode)
	if err != nil {
		if isGone(err) {
			t.markDirty(di)
			return hintOutcome{}, final
		}
		t.fileFailed(di, err)
		return hintOutcome{}, final
	}
	var differs bool
	switch {
	case !hashed:
		differs = e.size != st.size || e.mtime != st.mtime || e.ino != st.ino
	case e.flags&fHashed != 0:
		differs = sum != e.hash
	case t.roots[d.root].distrust:
		// Nothing recorded to compare with, and a stat that may not have
		// moved with the content: the hint is the only evidence, and a
		// missed change is worse than one build too many.
		differs = true
	default:
		differs = !sameStat(e, st)
	}
	arrived := !h.HasHash || !hashed || sum == h.Hash
	if !differs {
		if h.HasHash && arrived {
			return hintOutcome{confirmed: true}, true
		}
		return hintOutcome{}, final // the bytes may still be on their way
	}
	if !arrived && !final {
		return hintOutcome{}, false // a step on the way, or old bytes: wait for the hinted ones
	}
	// Record what was read, as judge would, and report it.
	old := *e
	judge(e, st, t.check(di, true, true), func() (uint64, bool, error) { return sum, hashed, nil })
	t.observed(di, name)
	t.changedFrom(h.Path, &old)
	t.emitAt(h.Path, watcher.Write, p.first)
	t.changed = append(t.changed, fileRef{dir: di, gen: d.gen, name: name})
	return hintOutcome{confirmed: arrived, reported: true}, true
}

// childDir returns the watched directory that entry name of directory di
// is, as (its index, ""), or (di, name) if name is not a watched
// directory.
func (t *tree) childDir(di int32, name string) (int32, string) {
	d := &t.dirs[di]
	i, ok := d.find(name)
	if !ok || !d.ents[i].isDir() || d.ents[i].child < 0 || !t.live(d.ents[i].child) {
		return di, name
	}
	return d.ents[i].child, ""
}

// stampSince gives the events from index n on the time at, when that is
// earlier: a hinted change happened when the hint arrived, not when the
// mount showed it.
func (t *tree) stampSince(n int, at time.Time) {
	for i := n; i < len(t.events); i++ {
		if at.Before(t.events[i].Time) {
			t.events[i].Time = at
		}
	}
}

// emitAt is emit with the event's time set to at.
func (t *tree) emitAt(p string, op watcher.Op, at time.Time) {
	n := len(t.events)
	t.emit(p, op, inoKey{})
	t.stampSince(n, at)
}

// reconcile turns a manifest into hints for the paths where it and the
// index differ.
func (s *sched) reconcile(rq reconcileReq) {
	t := s.t
	host := make(map[string]*ManifestEntry, len(rq.manifest))
	for i := range rq.manifest {
		me := &rq.manifest[i]
		if !cleanRel(me.Path) {
			continue
		}
		host[me.Path] = me
	}
	hint := func(h Hint) {
		h.Path = filepath.Clean(h.Path)
		s.addHint(h, rq.at)
		if s.req != nil {
			s.req.mu.Lock()
			s.req.stats.Hints++
			s.req.mu.Unlock()
		}
	}
	abs := func(rel string) string { return filepath.Join(rq.root, filepath.FromSlash(rel)) }
	di, name, ok := t.lookup(rq.root)
	if ok && name == "" && t.dirs[di].path == rq.root {
		t.walk(di, "", func(rel string, e *entry) bool {
			me, ok := host[rel]
			if !ok {
				hint(Hint{Path: abs(rel), Remove: true, Dir: e.isDir()})
				return false
			}
			delete(host, rel)
			switch {
			case me.Dir != e.isDir():
				hint(Hint{Path: filepath.Dir(abs(rel)), Dir: true})
				return false
			case me.Dir:
				return true
			case differs(e, me):
				hint(Hint{Path: abs(rel), Size: me.Size, Hash: me.Hash, HasHash: me.HasHash})
			}
			return false
		})
	}
	for rel, me := range host {
		if t.filter.Ignored(abs(rel), me.Dir) {
			continue
		}
		hint(Hint{Path: abs(rel), Dir: me.Dir, Size: me.Size, Hash: me.Hash, HasHash: me.HasHash})
	}
}

// differs reports whether a file's index entry and the other side's view
// of it may differ: hashes decide where both sides have one, else size and
// the mtime to the second (sftp and SMB keep whole seconds).
func differs(e *entry, me *ManifestEntry) bool {
	if me.HasHash && e.flags&fHashed != 0 {
		return me.Hash != e.hash
	}
	return me.Size != e.size || me.MTime/1e9 != e.mtime/1e9
}

// cleanRel reports whether p is a clean relative slash path that stays
// inside its root.
func cleanRel(p string) bool {
	return p != "" && p != "." && !strings.HasPrefix(p, "/") && path.Clean(p) == p &&
		p != ".." && !strings.HasPrefix(p, "../") && !strings.Contains(p, "\\")
}

// walk calls fn for every entry below directory di that the filter does
// not ignore, depth first in name order, with its path relative to di
// (/ separators). fn returns whether to descend into a directory entry.
func (t *tree) walk(di int32, prefix string, fn func(rel string, e *entry) bool) {
	d := &t.dirs[di]
	for i := range d.ents {
		e := &d.ents[i]
		if e.flags&fIgnored != 0 {
			continue
		}
		rel := d.name(e)
		if prefix != "" {
			rel = prefix + "/" + rel
		}
		if fn(rel, e) && e.child >= 0 && t.live(e.child) {
			t.walk(e.child, rel, fn)
		}
	}
}

// manifest is the index's view of root, for Manifest.
func (t *tree) manifest(root string) []ManifestEntry {
	di, name, ok := t.lookup(root)
	if !ok || name != "" || t.dirs[di].path != root {
		return []ManifestEntry{}
	}
	out := []ManifestEntry{}
	t.walk(di, "", func(rel string, e *entry) bool {
		me := ManifestEntry{Path: rel, Dir: e.isDir(), Size: e.size, MTime: e.mtime}
		if e.flags&fHashed != 0 {
			me.Hash, me.HasHash = e.hash, true
		}
		if me.Dir {
			me.Size = 0
		}
		out = append(out, me)
		return true
	})
	slices.SortFunc(out, func(a, b ManifestEntry) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// setForwarded switches the scheduler in or out of forwarded mode.
func (s *sched) setForwarded(on bool) {
	if on == s.forwarded {
		return
	}
	s.forwarded = on
	if on {
		clear(s.hot)
		clear(s.hotDirs)
	}
	s.boost = s.boostFor(s.t.now)
	s.setBudgets()
}
