package poll

import (
	"slices"
	"strings"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

// Verify: what a build sees.
//
// The poller reports a change the moment it reads new bytes, but a read can
// land between a writer's truncate and its write (a torn read: an empty or
// partial file), and on FUSE and network mounts the window is wide enough
// to hit (1 save in ~12 through sshfs). The build, started a few ms later,
// reads the whole file; the poller's next look then saw "the same change"
// again, and it was built twice. Verify is called by the daemon just
// before each build: it looks at every path of the batch once more,
// through the mount, and records what it finds in the index, so the
// poller's next look compares with what the build is about to read. And,
// like the native watcher's Verify, it returns the net change since what
// it last returned for each path (tree.reported; for a path it never
// returned, the state before its first reported change): a path that is
// back to it (a torn read of a save with the same bytes, a file created
// and removed again, a change already built) is dropped, as the contract
// wants no build for a save that changes nothing.
const (
	// verifyBudget bounds the looks of one Verify (a checkout's batch
	// through a slow mount); paths beyond it are judged by what the index
	// holds, without a fresh look.
	verifyBudget = 100 * time.Millisecond
	// maxReported caps tree.reported. Past it the map is cleared (the
	// next change of each path is then built whatever it was: one build
	// too many at worst, never one too few), and a poller nobody calls
	// Verify on (the hybrid mode's sweep) stops recording.
	maxReported = 16384
)

// verState is a file's state as Verify last returned it.
type verState struct {
	absent bool
	hashed bool
	hash   uint64
}

// changedFrom records, before a change of path is reported, the state it
// had (nil: absent), unless Verify has returned a state for it.
func (t *tree) changedFrom(path string, e *entry) {
	if t.quiet {
		return
	}
	if _, ok := t.reported[path]; ok {
		return
	}
	if t.reported == nil {
		t.reported = make(map[string]verState)
	}
	if len(t.reported) >= maxReported {
		return
	}
	var v verState
	switch {
	case e == nil || e.isDir():
		v.absent = true
	case e.flags&fHashed != 0:
		v.hashed, v.hash = true, e.hash
	}
	t.reported[path] = v
}

// verifyReq is a Verify call handed to the loop.
type verifyReq struct {
	batch []watcher.Event
	reply chan []watcher.Event
}

// Verify implements watcher.Verifier. It looks once more, through the
// mount, at every path of the batch, records what it sees in the index (so
// the next look compares with what the build is about to read), and
// returns the net changes since what Verify last returned for each path:
// a path back to that state is dropped, a path that exists is a Create or
// a Write, one that does not a Remove. The result is sorted by path. It
// waits for the loop to finish its current tick; after Close it returns
// the batch as it is (Rename turned into Remove).
func (w *Watcher) Verify(batch []watcher.Event) []watcher.Event {
	out := batch
	if len(batch) > 0 && w.verifyReq != nil {
		rq := &verifyReq{batch: batch, reply: make(chan []watcher.Event, 1)}
		w.verifyWaiting.Add(1)
		select {
		case w.verifyReq <- rq:
			w.verifyWaiting.Add(-1)
			select {
			case out = <-rq.reply:
			case <-w.done:
			}
		case <-w.done:
			w.verifyWaiting.Add(-1)
		}
	}
	res := make([]watcher.Event, 0, len(out))
	for _, ev := range out {
		if ev.Op.Has(watcher.Rename) {
			ev.Op = ev.Op&^watcher.Rename | watcher.Remove
		}
		res = append(res, ev)
	}
	slices.SortStableFunc(res, func(a, b watcher.Event) int { return strings.Compare(a.Path, b.Path) })
	return res
}

// verify is Verify's work, on the loop.
func (s *sched) verify(batch []watcher.Event, now time.Time) []watcher.Event {
	t := s.t
	t.now = now
	// One event per path: the union of its operations, the earliest time.
	byPath := make(map[string]int, len(batch))
	var evs []watcher.Event
	for _, ev := range batch {
		if i, ok := byPath[ev.Path]; ok {
			evs[i].Op |= ev.Op
			if ev.Time.Before(evs[i].Time) {
				evs[i].Time = ev.Time
			}
			continue
		}
		byPath[ev.Path] = len(evs)
		evs = append(evs, ev)
	}
	deadline := time.Now().Add(verifyBudget)
	known := make([]bool, len(evs))
	for i, ev := range evs {
		if time.Now().After(deadline) {
			known[i] = true // judged by the index, as last seen
			continue
		}
		known[i] = s.lookAgain(ev.Path)
	}
	// What the looks found besides (a listing that showed other names new
	// or gone, this batch's paths among them) goes out as events, like
	// any other: the next Verify drops what this one already returned.
	t.rescanDirty()
	// Every path is judged by what the index holds after all the looks: a
	// later listing may have found one of the earlier paths gone.
	out := make([]watcher.Event, 0, len(evs))
	for i, ev := range evs {
		v, ok := t.stateOf(ev.Path)
		if !known[i] || !ok {
			// Nothing to judge by: returned as it is, and recorded so.
			t.record(ev.Path, verState{absent: ev.Op.Has(watcher.Remove | watcher.Rename)})
			out = append(out, ev)
			continue
		}
		if ev, keep := t.settle(ev, v); keep {
			out = append(out, ev)
		}
	}
	return out
}

// lookAgain looks at path through the mount and records what it sees in
// the index. It returns false for paths it cannot say anything about:
// outside the roots, ignored, a directory, unreachable, unreadable.
func (s *sched) lookAgain(path string) bool {
	t := s.t
	di, name, ok := t.lookup(path)
	if !ok || t.filter.Ignored(path, false) {
		return false
	}
	if name == "" {
		if t.dirs[di].path == path {
			return false // a directory: never reported
		}
		// Not in the index: list the nearest indexed directory.
		t.rescan(di, false)
		t.rescanDirty()
		return true
	}
	d := &t.dirs[di]
	i, ok := d.find(name)
	if !ok {
		return true
	}
	e := &d.ents[i]
	if e.flags&fIgnored != 0 || e.isDir() {
		return false
	}
	fsys := t.fsOf(di)
	st, err := fsys.stat(path, false)
	switch {
	case err != nil && isGone(err), err == nil && st.mode.Type() != e.mode.Type():
		t.markDirty(di)
		t.rescanDirty()
		return true
	case err != nil:
		t.fileFailed(di, err)
		return false
	}
	old := *e
	changed, err := judge(e, st, t.check(di, true, true), func() (uint64, bool, error) { return fsys.hash(path, st.mode) })
	t.observed(di, name)
	if err != nil {
		*e = old
		if isGone(err) {
			t.markDirty(di)
			t.rescanDirty()
			return true
		}
		t.fileFailed(di, err)
		return false
	}
	if changed {
		t.changed = append(t.changed, fileRef{dir: di, gen: d.gen, name: name})
	}
	return true
}

// stateOf is what the index holds for path now. ok is false when the
// index cannot say (outside the roots, or the root is unreachable).
func (t *tree) stateOf(path string) (verState, bool) {
	di, name, ok := t.lookup(path)
	if !ok {
		return verState{}, false
	}
	if name == "" {
		return verState{absent: true}, true
	}
	i, ok := t.dirs[di].find(name)
	if !ok || t.dirs[di].ents[i].isDir() {
		return verState{absent: true}, true
	}
	e := &t.dirs[di].ents[i]
	return verState{hashed: e.flags&fHashed != 0, hash: e.hash}, true
}

// record notes v as the state Verify returned for path.
func (t *tree) record(path string, v verState) {
	if t.reported == nil || len(t.reported) >= maxReported {
		t.reported = make(map[string]verState)
	}
	t.reported[path] = v
}

// settle compares path's state now with the one Verify last returned,
// records the new one, and returns the event to build, if any.
func (t *tree) settle(ev watcher.Event, now verState) (watcher.Event, bool) {
	prev, had := t.reported[ev.Path]
	t.record(ev.Path, now)
	if had {
		switch {
		case prev.absent && now.absent:
			return ev, false // created and gone again
		case !prev.absent && !now.absent && prev.hashed && now.hashed && prev.hash == now.hash:
			return ev, false // the bytes Verify last returned
		}
	}
	switch {
	case now.absent:
		ev.Op = watcher.Remove
	case had && prev.absent:
		ev.Op = watcher.Create
	case ev.Op.Has(watcher.Remove | watcher.Rename):
		ev.Op = watcher.Write
	case !ev.Op.Has(watcher.Create):
		ev.Op = watcher.Write
	default:
		ev.Op = watcher.Create
	}
	return ev, true
}
