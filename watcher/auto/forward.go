package auto

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/poll"
)

// Forwarding: a host agent (reloadd forward, package forward) that watches
// the other side of a deaf mount natively sends its changes here, and the
// mount's poller checks exactly those paths instead of polling everything.
//
// Only polled mounts (Mode Poll: deaf, or forced with -watch poll, or a
// hybrid mount switched to polling) can be served. While an authenticated
// agent serves one ([Watcher.Attach] until [Link.Detach]), its poller runs
// in forwarded mode (no hot polling except the paths the agent names, a
// slow safety sweep) and the mount's status says Mode "forward" with the
// agent's details. When the agent goes away, full polling resumes at once.

// Forward is the Mode /_reloadd/status shows for a mount while an
// authenticated agent serves it. It is never chosen by Detect nor accepted
// by -watch: the mount's own mode stays Poll underneath.
const Forward Mode = "forward"

// CookieDir is the directory an agent's pairing cookie lives in, at the top
// of each mount an agent can serve (see package forward). Every Watcher
// ignores it at any depth: it is reloadd's own state, never a change.
const CookieDir = ".reloadd"

// AgentInfo describes the agent serving a mount.
type AgentInfo struct {
	Addr string // its address as the daemon sees it
	Host string // its host name, as it says
	Dir  string // the directory it watches on its host, as it says
}

// AgentStatus is the agent part of a mount's status (MountStatus.Agent),
// present while and only while an authenticated agent serves the mount.
type AgentStatus struct {
	Addr  string    `json:"addr"`
	Host  string    `json:"host"`
	Dir   string    `json:"dir"`
	Since time.Time `json:"since"`
	// Records counts the change records received from the agent.
	Records int64 `json:"records"`
	// LagMS is the median lag of the mount behind the agent over the
	// last records the poller confirmed: how long after a record arrived
	// the mount showed its content; LagMaxMS the largest it has seen.
	LagMS    float64 `json:"lag_ms"`
	LagMaxMS float64 `json:"lag_max_ms"`
	// Unconfirmed counts records whose content the mount never showed
	// within the poller's wait (stale or forged records, or a mount
	// slower than the wait).
	Unconfirmed int64 `json:"unconfirmed"`
}

// Hint is one forwarded change, its path already confined to the mount.
type Hint struct {
	Path    string // absolute, clean, inside the mount
	Remove  bool   // the agent saw the file go away
	Size    int64  // the host's size, mtime (Unix ns) and content hash
	MTime   int64
	Hash    uint64
	HasHash bool
	// Written is when the agent's watcher saw the change, on this
	// machine's clock (zero: unknown). See [Watcher.AgentWritten].
	Written time.Time
}

// ManifestEntry is one file or directory of an agent's manifest.
type ManifestEntry struct {
	Path    string // relative to the mount, slash-separated, checked
	Dir     bool
	Size    int64
	MTime   int64 // Unix ns
	Hash    uint64
	HasHash bool
}

// ErrNotForwardable is returned by Attach for a path that is not a polled
// mount of the Watcher.
var ErrNotForwardable = errors.New("auto: not a polled mount")

// agentState is a mount's forwarding state; the pointer in mount.fwd
// changes under Watcher.mu, its counters under its own lock.
type agentState struct {
	info  AgentInfo
	since time.Time
	lost  chan struct{} // closed by drop: the poller overflowed
	once  sync.Once

	mu      sync.Mutex
	records int64
	written map[string]time.Time // Hint.Written by path, until AgentWritten takes it
}

// maxWritten bounds agentState.written; writtenKeep is how long an entry
// is kept when it must be pruned (a change the poller never reported).
const (
	maxWritten  = 4096
	writtenKeep = time.Minute
)

// noteWritten records the write times of hs.
func (a *agentState) noteWritten(hs []Hint) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, h := range hs {
		if h.Written.IsZero() {
			continue
		}
		if a.written == nil {
			a.written = make(map[string]time.Time)
		}
		if len(a.written) >= maxWritten {
			cut := time.Now().Add(-writtenKeep)
			maps.DeleteFunc(a.written, func(_ string, t time.Time) bool { return t.Before(cut) })
			if len(a.written) >= maxWritten {
				clear(a.written)
			}
		}
		a.written[h.Path] = h.Written
	}
}

func (a *agentState) status(p *poll.Watcher) *AgentStatus {
	a.mu.Lock()
	s := &AgentStatus{Addr: a.info.Addr, Host: a.info.Host, Dir: a.info.Dir, Since: a.since.UTC(), Records: a.records}
	a.mu.Unlock()
	if p != nil {
		s.LagMS, s.LagMaxMS, s.Unconfirmed = lagOf(p)
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Link is one agent's hold on a mount, from Attach to Detach. Its methods
// are safe for concurrent use; after Detach they do nothing.
type Link struct {
	w  *Watcher
	m  *mount
	st *agentState
}

// Lost is closed when the mount drops the agent by itself: its poller
// could not keep up with the hints (some were dropped, and it polls in
// full again). The agent should reconnect: its manifest then
// resynchronises the mount. It means that and nothing else: it is not
// closed by Detach, nor when another agent replaces this one (Attached
// then reports false).
func (l *Link) Lost() <-chan struct{} { return l.st.lost }

// Forwardable returns the paths of the mounts an agent can serve now: the
// polled ones, sorted.
func (w *Watcher) Forwardable() []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	var out []string
	for _, m := range w.mounts {
		if m.choice.Mode == Poll && m.poller != nil {
			out = append(out, m.choice.Path)
		}
	}
	slices.Sort(out)
	return out
}

// Attach makes the agent described by info serve the polled mount at path:
// its poller goes into forwarded mode and the mount's status says
// "forward". An agent attached before to the same mount is replaced (its
// Link's Detach then does nothing). The caller must have authenticated the
// agent and checked that it serves this mount.
func (w *Watcher) Attach(path string, info AgentInfo) (*Link, error) {
	w.mu.Lock()
	var m *mount
	for _, c := range w.mounts {
		if c.choice.Path == path && c.choice.Mode == Poll && c.poller != nil {
			m = c
		}
	}
	select {
	case <-w.quit:
		m = nil
	default:
	}
	if m == nil {
		w.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNotForwardable, path)
	}
	st := &agentState{info: info, since: time.Now(), lost: make(chan struct{})}
	m.fwd = st
	p := m.poller
	w.mu.Unlock()
	setForwarded(p, true)
	return &Link{w: w, m: m, st: st}, nil
}

// current returns the mount's poller if l still holds the mount.
func (l *Link) current() (*poll.Watcher, bool) {
	l.w.mu.RLock()
	defer l.w.mu.RUnlock()
	if l.m.fwd != l.st || l.m.poller == nil {
		return nil, false
	}
	return l.m.poller, true
}

// Hint hands the agent's records to the mount's poller, which checks each
// path through the mount at once (waiting while the mount's bytes lag the
// host's hash) and reports those whose content differs from its index.
// Paths the mount's filter ignores are dropped here: the agent may report
// more than the daemon watches, never less.
func (l *Link) Hint(hs []Hint) {
	p, ok := l.current()
	if !ok {
		return
	}
	l.st.mu.Lock()
	l.st.records += int64(len(hs))
	l.st.mu.Unlock()
	keep := make([]Hint, 0, len(hs))
	for _, h := range hs {
		if watcher.Within(l.m.choice.Path, h.Path) && h.Path != l.m.choice.Path && !l.m.filter.Ignored(h.Path, false) {
			keep = append(keep, h)
		}
	}
	if len(keep) > 0 {
		l.st.noteWritten(keep)
		hint(p, keep)
	}
}

// AgentWritten returns when the change of path was written, by the record
// of the agent serving path's mount — when its watcher saw the change (on
// the host, where a native watcher sees a write as it happens), taken back
// to this machine's clock by the record's age — and forgets it. False
// when no agent serves the mount or its record said nothing.
func (w *Watcher) AgentWritten(path string) (time.Time, bool) {
	w.mu.RLock()
	var st *agentState
	if m := w.ownerLocked(path); m != nil {
		st = m.fwd
	}
	w.mu.RUnlock()
	if st == nil {
		return time.Time{}, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	t, ok := st.written[path]
	delete(st.written, path)
	return t, ok
}

// Reconcile hands the agent's manifest to the mount's poller after a
// (re)connect: it checks exactly the paths where the manifest and its index
// differ, so changes made while the agent was away are reported once.
func (l *Link) Reconcile(es []ManifestEntry) {
	p, ok := l.current()
	if !ok {
		return
	}
	root := l.m.choice.Path
	keep := make([]ManifestEntry, 0, len(es))
	for _, e := range es {
		if !l.m.filter.Ignored(filepath.Join(root, filepath.FromSlash(e.Path)), e.Dir) {
			keep = append(keep, e)
		}
	}
	if err := reconcile(p, root, keep); err != nil {
		l.w.report(fmt.Errorf("auto: %s: %w", root, err))
	}
}

// Detach ends the agent's hold: the mount is polled in full again at once,
// unless another agent has replaced this one. It is idempotent.
func (l *Link) Detach() {
	l.w.mu.Lock()
	if l.m.fwd != l.st {
		l.w.mu.Unlock()
		return
	}
	l.m.fwd = nil
	p := l.m.poller
	l.w.mu.Unlock()
	if p != nil {
		setForwarded(p, false)
	}
}

func (a *agentState) drop() { a.once.Do(func() { close(a.lost) }) }

// forwardError handles an error of m's poller that concerns forwarding: an
// overflow of hints drops the agent (the poller has left forwarded mode),
// which then reconnects and resynchronises. It reports whether err was
// such an error.
func (w *Watcher) forwardError(m *mount, err error) bool {
	if !isHintOverflow(err) {
		return false
	}
	w.mu.Lock()
	st := m.fwd
	m.fwd = nil
	w.mu.Unlock()
	if st != nil {
		st.drop()
	}
	w.report(err)
	return true
}

// Attached reports whether l still holds its mount.
func (l *Link) Attached() bool {
	_, ok := l.current()
	return ok
}

// WaitHashed waits until the poller of every polled mount holds a content
// hash for every file of its index (what its baseline had no time to hash
// is hashed in the background), or until timeout; it reports whether they
// all do. Until then a hint for a file without a hash counts as a change
// (nothing can prove otherwise), so a rewrite with the same bytes is
// built. Tests and benchmarks use it, as WaitWarmed; reloadd does not.
func (w *Watcher) WaitHashed(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		w.mu.RLock()
		type polled struct {
			p    *poll.Watcher
			root string
		}
		var ps []polled
		for _, m := range w.mounts {
			if m.choice.Mode == Poll && m.poller != nil {
				ps = append(ps, polled{m.poller, m.choice.Path})
			}
		}
		w.mu.RUnlock()
		all := true
		for _, x := range ps {
			es, err := x.p.Manifest(x.root)
			if err != nil {
				return false
			}
			for _, e := range es {
				if !e.Dir && !e.HasHash {
					all = false
					break
				}
			}
		}
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The poller's side (watcher/poll's hint.go).

func setForwarded(p *poll.Watcher, on bool) { p.SetForwarded(on) }

func hint(p *poll.Watcher, hs []Hint) {
	out := make([]poll.Hint, len(hs))
	for i, h := range hs {
		out[i] = poll.Hint{Path: h.Path, Remove: h.Remove, Size: h.Size, Hash: h.Hash, HasHash: h.HasHash}
	}
	p.Hint(out...)
}

func reconcile(p *poll.Watcher, root string, es []ManifestEntry) error {
	out := make([]poll.ManifestEntry, len(es))
	for i, e := range es {
		out[i] = poll.ManifestEntry{Path: e.Path, Dir: e.Dir, Size: e.Size, MTime: e.MTime, Hash: e.Hash, HasHash: e.HasHash}
	}
	return p.Reconcile(root, out)
}

func lagOf(p *poll.Watcher) (p50, maxLag float64, unconfirmed int64) {
	st := p.HintStats()
	return ms(st.LagP50), ms(st.LagMax), st.Unconfirmed
}

func isHintOverflow(err error) bool { return errors.Is(err, poll.ErrHintOverflow) }
