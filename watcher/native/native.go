package native

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/reloadd/reloadd/watcher"
)

var _ watcher.Watcher = (*Watcher)(nil)
var _ watcher.Verifier = (*Watcher)(nil)
var _ watcher.Quieter = (*Watcher)(nil)

// eventBuffer is the capacity of the Events channel (and of fsnotify's):
// enough to absorb the burst of a large git checkout while the consumer
// folds events into a batch, small enough not to matter in memory (~200
// KB).
const eventBuffer = 4096

// LimitError reports directories that could not be watched because a
// kernel limit was reached. It is sent once per Watcher; [Watcher.Unwatched]
// lists the directories without a watch at any time.
type LimitError struct {
	Dirs    []string // directories without a watch
	Watched int      // directories with a watch
	Limit   int      // the limit in force (watches, or instances for EMFILE); -1 if unknown
	Err     error    // the kernel's error: ENOSPC (watches) or EMFILE (instances)
}

// Error says what was refused, with the numbers, and what to do about it.
func (e *LimitError) Error() string {
	limit := "unknown"
	if e.Limit >= 0 {
		limit = fmt.Sprint(e.Limit)
	}
	if isInstanceLimit(e.Err) {
		return fmt.Sprintf("native: cannot start inotify (%v; fs.inotify.max_user_instances = %s): %d directories not watched; "+
			"raise it (sysctl -w fs.inotify.max_user_instances=1024) or use -watch poll", e.Err, limit, len(e.Dirs))
	}
	return fmt.Sprintf("native: inotify watch limit reached (%v; fs.inotify.max_user_watches = %s): %d directories not watched, %d watched; "+
		"raise it (sysctl -w fs.inotify.max_user_watches=524288) or use -watch poll", e.Err, limit, len(e.Dirs), e.Watched)
}

// Unwrap returns the kernel's error.
func (e *LimitError) Unwrap() error { return e.Err }

// RootChange is what happened at a watched root's path.
type RootChange uint8

const (
	// RootRemoved: the root was removed or moved away. Its files are
	// reported as removed; the watcher waits for it to come back.
	RootRemoved RootChange = iota
	// RootBack: a root reported removed exists again. It is watched, its
	// files reported as created.
	RootBack
	// RootReplaced: another directory is at the root's path (it was
	// removed and created again at once, or replaced unseen). The new one
	// is watched and compared with what was reported.
	RootReplaced
	// RootUnmounted: the filesystem mounted at the path (the root, or a
	// directory below it) was unmounted. What is there now (the directory
	// underneath, or a filesystem mounted below the one that went) is
	// watched, and compared with what was reported.
	RootUnmounted
	// RootMounted: a filesystem was mounted at the root's path (again,
	// after RootUnmounted, or over it). It is watched, and compared with
	// what was reported.
	RootMounted
)

// RootError reports, on Errors, a change at a watched root's path (or,
// for RootUnmounted, at a mount point below a root). None of them stops
// the watcher: the path is watched again at once, or, for RootRemoved,
// as soon as it exists again.
type RootError struct {
	Root   string
	Change RootChange
}

// Error says what happened to the root and what the watcher does now.
func (e *RootError) Error() string {
	switch e.Change {
	case RootBack:
		return fmt.Sprintf("native: watched directory %s is back; watching it again", e.Root)
	case RootReplaced:
		return fmt.Sprintf("native: watched directory %s was replaced by another directory; watching the new one", e.Root)
	case RootUnmounted:
		return fmt.Sprintf("native: %s: the filesystem mounted there was unmounted; watching what is there now, and again when something is mounted there", e.Root)
	case RootMounted:
		return fmt.Sprintf("native: %s: a filesystem was mounted there; watching it", e.Root)
	}
	return fmt.Sprintf("native: watched directory %s was removed; waiting for it to come back", e.Root)
}

// TooLongError reports, once per Watcher, a path below a root longer than
// the system allows (PATH_MAX, 4,096 bytes on Linux). Nothing can open such
// a path by name (not the watcher, nor a build), so it is not watched, nor
// is anything below it, nor any other path that long; [Watcher.TooLong]
// lists the directories skipped so.
type TooLongError struct {
	Path string
	Max  int // the limit, in bytes with the terminating NUL; 0 if unknown
}

// Error names the path, shortened, and its length.
func (e *TooLongError) Error() string {
	limit := ""
	if e.Max > 0 {
		limit = fmt.Sprintf("; the limit is %d", e.Max)
	}
	return fmt.Sprintf("native: not watching %s (a path of %d bytes%s): nothing can open it by name; other paths that long are skipped too",
		shorten(e.Path), len(e.Path), limit)
}

// shorten keeps the start and end of a long path, for messages.
func shorten(p string) string {
	const head, tail = 48, 40
	if len(p) <= head+tail+3 {
		return p
	}
	i, j := head, len(p)-tail
	for i > 0 && !utf8.RuneStart(p[i]) {
		i--
	}
	for j < len(p) && !utf8.RuneStart(p[j]) {
		j++
	}
	return p[:i] + "…" + p[j:]
}

// Watcher watches directory trees recursively. It is safe for concurrent
// use, except that Verify must be called from one goroutine at a time.
type Watcher struct {
	be      backend // nil when no inotify instance could be created
	filter  *watcher.Filter
	log     *slog.Logger
	maxHash int64
	roots   []string  // absolute, cleaned, none inside another
	start   time.Time // when New began: the racy-clean reference of the baseline
	idx     *index

	events chan watcher.Event
	errors chan error
	quit   chan struct{}
	warmed chan struct{}  // closed when the baseline is hashed (or on Close)
	bell   chan struct{}  // one-slot doorbell for the worker
	wg     sync.WaitGroup // the drain and worker goroutines (exactly 2)
	once   sync.Once

	inflight atomic.Int64 // events the drain has read and not yet handled

	vmu   sync.Mutex // serialises Verify
	vlist lister     // Verify's directory reader (under vmu)

	mu          sync.Mutex
	work        []job               // the worker's queue
	working     bool                // the worker is doing a job (which may emit events)
	rootsQueued bool                // a jobRoots is in work
	dirs        map[string]struct{} // directories with a watch
	unwatched   map[string]error    // directories refused a watch by a kernel limit
	tooLong     map[string]struct{} // directories whose path is too long to watch
	tooLongSaid bool                // the TooLongError was sent
	gone        map[string]bool     // roots reported removed, not back yet
	sentinel    map[string]string   // root → the ancestor watched for it ("" for none)
	ancestors   map[string]int      // sentinel directory → how many roots it stands for
	unmounted   map[string]bool     // directories whose filesystem was unmounted, not handled yet
	rootIDs     map[string]dirIdent // root → the directory watched there
	limitSaid   bool                // the LimitError was sent

	// Owned by the worker (and by New before the worker starts).
	list lister
	warm warmState
}

// rootCheckEvery is how often the worker compares the directory at each
// root's path with the one it watches. Mounting a filesystem makes no
// inotify event, so this is how a remount is noticed; one stat per root a
// second costs nothing, and a second is soon enough for a rare event (the
// changes made meanwhile are found by the rescan that follows).
const rootCheckEvery = time.Second

// jobKind is what the worker is asked to do with a path.
type jobKind uint8

const (
	jobCreated    jobKind = iota // path appeared: if it is a directory, watch it and report its files
	jobGone                      // the directory path was removed or renamed away
	jobIgnoreFile                // path/.gitignore changed
	jobRescan                    // the event queue overflowed: re-add the watches under path
	jobRoots                     // a root, or the way to one, changed: check the roots
)

type job struct {
	kind jobKind
	path string
}

// New watches the given directory trees. Watches on every directory are in
// place when New returns, so any change made afterwards is reported, and
// every file's state is recorded; their content is hashed in the
// background (see [Watcher.Warmed]).
func New(roots []string, opts watcher.Options) (*Watcher, error) {
	w := &Watcher{
		filter:    opts.FilterOrDefault(),
		log:       opts.LoggerOrDiscard(),
		maxHash:   opts.MaxHashSizeOrDefault(),
		start:     time.Now(),
		idx:       newIndex(),
		events:    make(chan watcher.Event, eventBuffer),
		errors:    make(chan error, 16),
		quit:      make(chan struct{}),
		warmed:    make(chan struct{}),
		bell:      make(chan struct{}, 1),
		dirs:      make(map[string]struct{}),
		unwatched: make(map[string]error),
		tooLong:   make(map[string]struct{}),
		gone:      make(map[string]bool),
		sentinel:  make(map[string]string),
		ancestors: make(map[string]int),
		unmounted: make(map[string]bool),
		rootIDs:   make(map[string]dirIdent),
	}
	for _, r := range roots {
		abs, err := watcher.RootDir(r)
		if err != nil {
			return nil, fmt.Errorf("native: watch %s: %w", r, err)
		}
		w.roots = append(w.roots, abs)
	}
	if len(w.roots) == 0 {
		return nil, errors.New("native: no directories to watch")
	}
	w.roots = watcher.Outermost(w.roots)

	be, err := newBackend()
	var hits limitHits
	switch {
	case err == nil:
		w.be = be
	case isInstanceLimit(err):
		// No inotify instance to be had: record everything, watch nothing,
		// and say which directories need polling.
		hits.err = err
	default:
		return nil, fmt.Errorf("native: %w", err)
	}
	for _, r := range w.roots {
		w.addTree(r, addRecord, &hits)
	}
	w.noteLimits(&hits)
	// The sentinels after the trees: where watches are scarce, the tree's
	// directories have them (a root removed meanwhile, or without a
	// sentinel, is found by the periodic root check).
	for _, r := range w.roots {
		w.setSentinel(r, parentOf(r), false)
	}
	w.warm.dirs = w.idx.dirNames()
	w.wg.Add(2)
	go w.drain()
	go w.worker()
	return w, nil
}

// Events implements watcher.Watcher.
func (w *Watcher) Events() <-chan watcher.Event { return w.events }

// Errors implements watcher.Watcher. Reports include a *LimitError and a
// *TooLongError (once each), *RootError, and the kernel's queue overflow.
func (w *Watcher) Errors() <-chan error { return w.errors }

// Roots returns the absolute roots being watched.
func (w *Watcher) Roots() []string { return slices.Clone(w.roots) }

// WatchedDirs returns the number of directories with an inotify watch.
func (w *Watcher) WatchedDirs() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dirs)
}

// Files returns the number of files in the index.
func (w *Watcher) Files() int { return w.idx.count() }

// Unwatched returns the directories that could not be watched because of a
// kernel limit, sorted. A poller can watch them instead.
func (w *Watcher) Unwatched() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(maps.Keys(w.unwatched))
}

// TooLong returns the directories not watched because their path is longer
// than PATH_MAX (see [TooLongError]), sorted. Nothing below them is
// watched either, and no poller can reach them by path.
func (w *Watcher) TooLong() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(maps.Keys(w.tooLong))
}

// Warmed is closed once every file present at New has its baseline hash
// (or is known not to get one: racy, too large, not a regular file), and
// when the watcher is closed. Until then, a touch of a file not hashed yet
// counts as a change. Tests and benchmarks wait on it; reloadd does not
// need to.
func (w *Watcher) Warmed() <-chan struct{} { return w.warmed }

// Close stops watching and waits for the goroutines. It is idempotent.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		if w.be != nil {
			err = w.be.close()
		}
		close(w.quit)
		w.wg.Wait()
		if !w.warm.done {
			close(w.warmed)
		}
		close(w.events)
		close(w.errors)
	})
	return err
}

func (w *Watcher) emit(ev watcher.Event) bool {
	select {
	case w.events <- ev:
		return true
	case <-w.quit:
		return false
	}
}

func (w *Watcher) report(err error) {
	w.log.Debug("native", "report", err)
	select {
	case w.errors <- err:
	case <-w.quit:
	default:
		// Nobody is reading errors right now; dropping a report is better
		// than stalling the event path.
	}
}

// rootOf returns the root path lies in, or "".
func (w *Watcher) rootOf(path string) string {
	for _, r := range w.roots {
		if watcher.Within(r, path) {
			return r
		}
	}
	return ""
}

// ignored reports whether path (inside root) is ignored, itself or through
// a directory between root and it. The root itself never is, whatever its
// name or the names above it.
func (w *Watcher) ignored(root, path string, isDir bool) bool {
	if path == root {
		return false
	}
	i := len(root) + 1
	if root == string(filepath.Separator) {
		i = 1
	}
	for ; i < len(path); i++ {
		if path[i] == filepath.Separator && w.filter.Match(path[:i], true) {
			return true
		}
	}
	return w.filter.Match(path, isDir)
}

// drain forwards the kernel's events in order and hands blocking work to
// the worker.
func (w *Watcher) drain() {
	defer w.wg.Done()
	if w.be == nil {
		<-w.quit
		return
	}
	var evs []rawEvent
	failures := 0
	for {
		var err error
		evs, err = w.be.read(evs[:0])
		w.inflight.Add(int64(len(evs)))
		unmount := false
		for _, ev := range evs {
			if !w.handle(ev) {
				return
			}
			w.inflight.Add(-1)
			unmount = unmount || ev.kind == rawUnmount
		}
		if unmount {
			w.enqueue(job{kind: jobRoots})
		}
		clear(evs) // drop the paths
		switch {
		case err == nil:
			failures = 0
		case errors.Is(err, errBackendClosed):
			return
		default:
			w.report(fmt.Errorf("native: %w", err))
			if failures++; failures == maxReadFailures {
				// Reading keeps failing: say so once and stop, rather than
				// spin. (Never seen: inotify reads fail only when closed.)
				w.report(fmt.Errorf("native: stopped reading events after %d failures in a row: %w", failures, err))
				<-w.quit
				return
			}
		}
	}
}

// maxReadFailures is how many reads in a row may fail before the drain
// gives up.
const maxReadFailures = 100

// handle forwards one event; it returns false when the watcher is
// closing.
func (w *Watcher) handle(ev rawEvent) bool {
	switch ev.kind {
	case rawOverflow:
		// The kernel dropped events: re-add watches that may be missing,
		// and have Verify compare every file with the index.
		now := time.Now()
		for _, r := range w.roots {
			w.enqueue(job{jobRescan, r})
			if !w.emit(watcher.Event{Path: r, Op: watcher.Rescan, Time: now}) {
				return false
			}
		}
		w.report(errors.New("native: the kernel's event queue overflowed; rescanning"))
		return true
	case rawUnmount:
		// The kernel dropped the watch; the worker finds what is there
		// now, once the drain has read all of this read's events (an
		// unmount comes as one event per watch on the filesystem, all
		// queued at once: the worker then sees which is the mount point).
		w.mu.Lock()
		delete(w.dirs, ev.path)
		w.unmounted[ev.path] = true
		w.mu.Unlock()
		return true
	}
	path, op := ev.path, ev.op
	w.mu.Lock()
	if slices.Contains(w.roots, path) {
		// A root itself, reported by its sentinel or by its own watch.
		_, watched := w.dirs[path]
		gone := watched && op.Has(watcher.Remove|watcher.Rename)
		if gone {
			delete(w.dirs, path)
		}
		w.mu.Unlock()
		switch {
		case gone:
			w.enqueue(job{jobGone, path})
		case !watched && op.Has(watcher.Create):
			w.enqueue(job{kind: jobRoots})
		}
		return true
	}
	if ev.kind == rawSelf {
		// A directory below a root went away: its parent's event says the
		// same, with the name. A sentinel: the way to a root changed.
		sentinel := w.ancestors[path] > 0
		w.mu.Unlock()
		if sentinel {
			w.enqueue(job{kind: jobRoots})
		}
		return true
	}
	if w.ancestors[path] > 0 || w.ancestors[filepath.Dir(path)] > 0 {
		// In (or of) a directory watched only for a root's sake: it matters
		// while a root is away, or when it is the sentinel itself.
		look := (len(w.gone) > 0 || w.ancestors[path] > 0) && op.Has(watcher.Create|watcher.Remove|watcher.Rename)
		w.mu.Unlock()
		if look {
			w.enqueue(job{kind: jobRoots})
		}
		return true
	}
	_, isDir := w.dirs[path]
	if !isDir {
		_, isDir = w.unwatched[path] // refused a watch, but ours: its parent reports it
	}
	if !isDir {
		_, isDir = w.tooLong[path]
	}
	gone := isDir && op.Has(watcher.Remove|watcher.Rename)
	if gone {
		// From now on the path is no directory of ours: a file created
		// under the same name right after is a file. The worker drops the
		// watches.
		delete(w.dirs, path)
		delete(w.unwatched, path)
		delete(w.tooLong, path)
	}
	w.mu.Unlock()
	root := w.rootOf(path)
	if root == "" {
		return true // a late event of a watch being dropped
	}
	if tooLong(path) {
		if op.Has(watcher.Create) {
			w.noteTooLong(path, ev.dir == dirYes)
		}
		return true
	}
	if op.Has(watcher.Create) && ev.dir != dirNo {
		w.enqueue(job{jobCreated, path})
	}
	if gone {
		w.enqueue(job{jobGone, path})
	}
	if filepath.Base(path) == watcher.IgnoreFile && w.filter.IgnoreFiles() {
		w.enqueue(job{jobIgnoreFile, filepath.Dir(path)})
	}
	if isDir || path == root {
		// Directories with a watch are no change to build; their files
		// are. A new directory is passed on (Verify drops it): on a hybrid
		// mount it vouches for the files below it, which the worker lists
		// later.
		return true
	}
	if w.ignored(root, path, false) {
		return true
	}
	return w.emit(watcher.Event{Path: path, Op: op, Time: time.Now()})
}

// noteTooLong records a path too long to watch (a directory is listed by
// TooLong) and reports the first one.
func (w *Watcher) noteTooLong(path string, isDir bool) {
	w.mu.Lock()
	if isDir {
		w.tooLong[path] = struct{}{}
	}
	said := w.tooLongSaid
	w.tooLongSaid = true
	w.mu.Unlock()
	if !said {
		w.report(&TooLongError{Path: path, Max: pathMax})
	}
}

func (w *Watcher) enqueue(j job) {
	w.mu.Lock()
	if j.kind == jobRoots {
		if w.rootsQueued {
			w.mu.Unlock()
			return // one check sees everything that happened until it runs
		}
		w.rootsQueued = true
	}
	w.work = append(w.work, j)
	w.mu.Unlock()
	select {
	case w.bell <- struct{}{}:
	default:
	}
}

func (w *Watcher) pop() (job, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.work) == 0 {
		w.work = nil
		return job{}, false
	}
	j := w.work[0]
	w.work = w.work[1:]
	if j.kind == jobRoots {
		w.rootsQueued = false
	}
	w.working = true
	return j, true
}

// setWorking says whether the worker is doing something that may emit
// events.
func (w *Watcher) setWorking(b bool) {
	w.mu.Lock()
	w.working = b
	w.mu.Unlock()
}

// Quiet implements watcher.Quieter: nothing is queued in the kernel, read
// and not yet forwarded, waiting in Events, or about to come from the
// worker (a new directory being listed, a removed one forgotten). Checked
// in that order, the order events travel, so that one moving along while
// Quiet looks is seen in the later place.
func (w *Watcher) Quiet() bool {
	if w.be == nil {
		return true
	}
	if w.be.pending() || w.inflight.Load() > 0 {
		return false
	}
	w.mu.Lock()
	busy := w.working || len(w.work) > 0
	w.mu.Unlock()
	return !busy && len(w.events) == 0
}

// worker does the blocking work; when idle, it hashes the baseline.
func (w *Watcher) worker() {
	defer w.wg.Done()
	var check <-chan time.Time
	if w.be != nil {
		tick := time.NewTicker(rootCheckEvery)
		defer tick.Stop()
		check = tick.C
	}
	for {
		if j, ok := w.pop(); ok {
			if !w.do(j) {
				return
			}
			w.setWorking(false)
			continue
		}
		if !w.warm.done {
			if !w.warmStep() {
				return
			}
			continue
		}
		select {
		case <-w.bell:
		case <-check:
			w.setWorking(true)
			if !w.checkRoots() {
				return
			}
			w.setWorking(false)
		case <-w.quit:
			return
		}
	}
}

// do runs one job; false means the watcher is closing.
func (w *Watcher) do(j job) bool {
	switch j.kind {
	case jobCreated:
		st, err := lstatState(j.path)
		if err != nil || !isDir(st.mode) {
			return true // a file, or already gone
		}
		root := w.rootOf(j.path)
		if root == "" || w.ignored(root, j.path, true) {
			return true
		}
		return w.addTree(j.path, addReport, nil)
	case jobGone:
		return w.forget(j.path)
	case jobIgnoreFile:
		if err := w.filter.LoadIgnoreFile(j.path); err != nil {
			w.report(fmt.Errorf("native: %w", err))
		}
		// Directories no longer ignored get watches (and their files are
		// reported); newly ignored ones keep theirs, their events dropped.
		if st, err := lstatState(j.path); err == nil && isDir(st.mode) {
			return w.addTree(j.path, addReport, nil)
		}
		return true
	case jobRescan:
		return w.addTree(j.path, addRefresh, nil)
	case jobRoots:
		return w.checkRoots()
	}
	return true
}

// addMode says what addTree does besides adding watches.
type addMode uint8

const (
	// addRecord records every file's state in the index (New).
	addRecord addMode = iota
	// addReport reports the files of every directory that had no watch
	// before as created: they may have been created before the watch
	// existed. Verify sorts out the ones it already knows.
	addReport
	// addRefresh is addReport that also re-adds the watches it already has
	// (after an overflow, a directory may have been replaced unseen) and
	// drops the ones whose directory is gone.
	addRefresh
)

// limitHits collects directories refused a watch by a kernel limit.
type limitHits struct {
	dirs []string
	err  error
}

// addTree watches dir and every directory below it that the filter does
// not ignore, reading each directory's .gitignore before its entries.
// Directories that hit a kernel limit go to hits (nil: report them here).
// It returns false if the watcher is closing.
func (w *Watcher) addTree(dir string, mode addMode, hits *limitHits) bool {
	var own limitHits
	if hits == nil {
		hits = &own
		defer w.noteLimits(&own)
	}
	var visited map[string]bool
	if mode == addRefresh {
		visited = make(map[string]bool)
	}
	stack := []string{dir}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if visited != nil {
			visited[d] = true
		}
		if tooLong(d) {
			w.noteTooLong(d, true)
			continue
		}
		fresh := w.watchDir(d, mode == addRefresh, hits)
		l := &w.list
		if err := l.list(d, mode == addRecord); err != nil {
			switch {
			case isTooLong(err):
				w.noteTooLong(d, true)
			case !isGone(err):
				w.report(fmt.Errorf("native: read %s: %w", d, err))
			}
			continue
		}
		for i := range l.ents {
			if l.ents[i].nlen == uint8(len(watcher.IgnoreFile)) && l.name(i) == watcher.IgnoreFile {
				if err := w.filter.LoadIgnoreFile(d); err != nil {
					w.report(fmt.Errorf("native: %w", err))
				}
				break
			}
		}
		var names []byte
		var ents []slot
		if mode == addRecord {
			names, ents = make([]byte, 0, len(l.names)), make([]slot, 0, len(l.ents))
		}
		now := time.Now()
		for i := range l.ents {
			le := &l.ents[i]
			name := l.names[le.off : le.off+uint32(le.nlen)]
			p := l.join(d, name) // valid until the next join
			if tooLong(p) {
				if !w.filter.Match(p, le.dir) {
					w.noteTooLong(strings.Clone(p), le.dir)
				}
				continue
			}
			if le.dir {
				if !w.filter.Match(p, true) {
					stack = append(stack, strings.Clone(p))
				}
				continue
			}
			if w.filter.Match(p, false) {
				continue
			}
			switch {
			case mode == addRecord:
				e := entry{st: le.st, flags: racyFlag(le.st, w.start)}
				if !isRegular(le.st.mode) && !isSymlink(le.st.mode) || le.st.size > w.maxHash {
					e.flags |= flagNoHash // compared by size, mtime and inode
				}
				ents = append(ents, pack(e, uint32(len(names)), le.nlen))
				names = append(names, name...)
			case fresh:
				if !w.emit(watcher.Event{Path: strings.Clone(p), Op: watcher.Create, Time: now}) {
					return false
				}
			}
		}
		if mode == addRecord {
			w.idx.setDir(d, slices.Clip(names), slices.Clip(ents))
		}
		select {
		case <-w.quit:
			return false
		default:
		}
	}
	if visited != nil {
		w.mu.Lock()
		var stale []string
		for d := range w.dirs {
			if watcher.Within(dir, d) && !visited[d] {
				stale = append(stale, d)
				delete(w.dirs, d)
			}
		}
		w.mu.Unlock()
		for _, d := range stale {
			w.unwatch(d)
		}
	}
	return true
}

// watchDir adds a watch on d unless it has one (force: re-add anyway). It
// reports whether d had no watch before.
func (w *Watcher) watchDir(d string, force bool, hits *limitHits) bool {
	w.mu.Lock()
	_, had := w.dirs[d]
	w.mu.Unlock()
	if had && !force {
		return false
	}
	if w.be == nil {
		w.mu.Lock()
		w.unwatched[d] = hits.err
		w.mu.Unlock()
		hits.dirs = append(hits.dirs, d)
		return !had
	}
	var displaced string
	var err error
	if slices.Contains(w.roots, d) {
		err = w.watchRoot(d)
	} else {
		displaced, err = w.be.add(d, watchTree)
	}
	switch {
	case err == nil:
		w.mu.Lock()
		w.dirs[d] = struct{}{}
		delete(w.unwatched, d)
		if displaced != "" {
			// The directory was renamed from there before the drain knew
			// it as ours: nothing of ours is at the old path now.
			delete(w.dirs, displaced)
		}
		w.mu.Unlock()
	case isLimit(err):
		// Keep walking: files here still need recording or reporting, and
		// the caller will poll this directory instead. The report names the
		// kernel's error, not the path.
		var errno syscall.Errno
		if errors.As(err, &errno) {
			err = errno
		}
		w.mu.Lock()
		w.unwatched[d] = err
		w.mu.Unlock()
		hits.dirs = append(hits.dirs, d)
		hits.err = err
	case isTooLong(err):
		w.noteTooLong(d, true)
	case isGone(err):
	default:
		w.report(fmt.Errorf("native: watch %s: %w", d, err))
	}
	return !had
}

// watchRoot adds the watch on root and records which directory it is on,
// for checkRoot to compare with: taken before and after the watch, so that
// a directory replaced in between is not taken for the watched one.
func (w *Watcher) watchRoot(root string) error {
	for range 3 {
		before, err := identify(root)
		if err != nil {
			return err
		}
		if _, err := w.be.add(root, watchRoot); err != nil {
			return err
		}
		after, err := identify(root)
		if err != nil {
			return err
		}
		if before.same(after) {
			w.mu.Lock()
			w.rootIDs[root] = after
			w.mu.Unlock()
			return nil
		}
	}
	return nil // replaced three times in a row: the next check sorts it out
}

// unwatch drops the watch on d; the kernel may already have dropped it.
func (w *Watcher) unwatch(d string) {
	if w.be != nil {
		w.be.remove(d)
	}
}

// noteLimits sends the LimitError, the first time directories are refused
// a watch.
func (w *Watcher) noteLimits(h *limitHits) {
	if len(h.dirs) == 0 {
		return
	}
	w.mu.Lock()
	said := w.limitSaid
	w.limitSaid = true
	watched := len(w.dirs)
	w.mu.Unlock()
	if said {
		return
	}
	w.report(&LimitError{Dirs: slices.Clone(h.dirs), Watched: watched, Limit: kernelLimit(isInstanceLimit(h.err)), Err: h.err})
}

// forget drops the watches of dir and everything below it, and reports
// every file recorded there as removed (a directory renamed within the tree
// has its files reported as created under the new name by addTree). inotify
// keeps a watch on a renamed directory, under its old name; dropping it
// before the new location is walked gives the new path a fresh watch.
func (w *Watcher) forget(dir string) bool {
	w.mu.Lock()
	var drop []string
	for d := range w.dirs {
		if watcher.Within(dir, d) {
			drop = append(drop, d)
			delete(w.dirs, d)
		}
	}
	for d := range w.unwatched {
		if watcher.Within(dir, d) {
			delete(w.unwatched, d)
		}
	}
	for d := range w.tooLong {
		if watcher.Within(dir, d) {
			delete(w.tooLong, d)
		}
	}
	w.mu.Unlock()
	w.unwatch(dir) // the drain took it out of dirs already
	for _, d := range drop {
		w.unwatch(d)
	}
	now := time.Now()
	for _, p := range w.idx.under(dir) {
		if !w.emit(watcher.Event{Path: p, Op: watcher.Remove, Time: now}) {
			return false
		}
	}
	if slices.Contains(w.roots, dir) {
		w.mu.Lock()
		w.gone[dir] = true
		delete(w.rootIDs, dir)
		w.mu.Unlock()
		return w.checkRoot(dir, true, nil)
	}
	return true
}

// checkRoots runs checkRoot on every root, handing it the directories
// whose filesystem was unmounted since the last check.
func (w *Watcher) checkRoots() bool {
	w.mu.Lock()
	unmounted := w.unmounted
	w.unmounted = make(map[string]bool)
	w.mu.Unlock()
	for _, r := range w.roots {
		if !w.checkRoot(r, false, unmounted) {
			return false
		}
	}
	return true
}

// checkRoot brings the watching of root in line with what is at its path
// now, and reports what changed (a *RootError): a root gone waits under a
// sentinel on its nearest existing ancestor; one that is back is watched
// and its files reported; one whose directory is another now (created
// again, unmounted, mounted over), or below which a filesystem was
// unmounted, is watched afresh and rescanned. removed says forget has just
// reported root's files removed. It returns false if the watcher is
// closing.
func (w *Watcher) checkRoot(root string, removed bool, unmounted map[string]bool) bool {
	w.mu.Lock()
	gone := w.gone[root]
	rec, hasRec := w.rootIDs[root]
	sentinel := w.sentinel[root]
	w.mu.Unlock()
	if sentinel != "" && unmounted[sentinel] {
		w.setSentinel(root, sentinel, true) // the kernel dropped that watch
	}
	cur, err := identify(root)
	if err != nil && !isGone(err) {
		return true // cannot look (permissions, I/O): leave things as they are
	}
	present := err == nil
	switch {
	case gone && !present:
		if removed {
			w.report(&RootError{Root: root, Change: RootRemoved})
		}
		// Watch the nearest existing ancestor, then look again: the root
		// may have appeared before the watch did.
		for {
			a := nearestDir(filepath.Dir(root))
			if a == sentinel {
				return true
			}
			w.setSentinel(root, a, false)
			sentinel = a
			if _, err := identify(root); err == nil {
				return w.checkRoot(root, false, nil)
			}
		}
	case gone:
		w.mu.Lock()
		delete(w.gone, root)
		w.mu.Unlock()
		change := RootBack
		if removed {
			change = RootReplaced // removed and back before anyone was told
		}
		w.report(&RootError{Root: root, Change: change})
		w.setSentinel(root, parentOf(root), false)
		return w.addTree(root, addReport, nil)
	case !present:
		// Gone without a word from the kernel (its sentinel could not be
		// watched): as if it had been removed.
		w.mu.Lock()
		_, watched := w.dirs[root]
		delete(w.dirs, root)
		w.mu.Unlock()
		if !watched && !hasRec {
			return true // never watched (a kernel limit): nothing to tell
		}
		return w.forget(root)
	}
	var refresh []string // where to watch and compare afresh
	if unmounted[root] || hasRec && !cur.same(rec) {
		change := RootReplaced
		switch {
		case unmounted[root]:
			change = RootUnmounted
		case !cur.sameDevice(rec):
			change = RootMounted
			if parent, err := identify(parentOf(root)); err == nil && cur.sameDevice(parent) {
				change = RootUnmounted // the path shows its parent's filesystem again
			}
		}
		w.report(&RootError{Root: root, Change: change})
		w.setSentinel(root, parentOf(root), true)
		refresh = []string{root}
	} else {
		// Mount points below the root whose filesystem went away: the
		// outermost of the directories that heard it, if they are still
		// there (a directory that was inside the unmounted filesystem is
		// not, unless the one underneath has it too).
		var dirs []string
		for d := range unmounted {
			if watcher.Within(root, d) {
				dirs = append(dirs, d)
			}
		}
		for _, d := range watcher.Outermost(dirs) {
			if _, err := identify(d); err != nil {
				continue
			}
			w.report(&RootError{Root: d, Change: RootUnmounted})
			refresh = append(refresh, d)
		}
	}
	now := time.Now()
	for _, d := range refresh {
		if !w.addTree(d, addRefresh, nil) || !w.emit(watcher.Event{Path: d, Op: watcher.Rescan, Time: now}) {
			return false
		}
	}
	return true
}

// setSentinel moves root's sentinel watch to anc ("" for none); force
// adds the watch again even if it is there (the kernel dropped it).
func (w *Watcher) setSentinel(root, anc string, force bool) {
	w.mu.Lock()
	old := w.sentinel[root]
	w.mu.Unlock()
	if old == anc && !force {
		return
	}
	if anc != "" && w.be != nil {
		// Without it (gone, or no watch to spare), the periodic root check
		// still notices the root's changes, a second late.
		if _, err := w.be.add(anc, watchSentinel); err != nil && !isGone(err) && !isLimit(err) {
			w.report(fmt.Errorf("native: watch %s for changes to %s: %w", anc, root, err))
		}
	}
	if old == anc {
		return
	}
	w.mu.Lock()
	drop := false
	if old != "" {
		w.ancestors[old]--
		if w.ancestors[old] <= 0 {
			delete(w.ancestors, old)
			drop = true
		}
	}
	if anc == "" {
		delete(w.sentinel, root)
	} else {
		w.sentinel[root] = anc
		w.ancestors[anc]++
	}
	w.mu.Unlock()
	if drop {
		w.unwatch(old)
	}
}

// parentOf returns the directory a root's sentinel watches: its parent, or
// "" for the filesystem root.
func parentOf(root string) string {
	p := filepath.Dir(root)
	if p == root {
		return ""
	}
	return p
}

// nearestDir returns dir or its nearest ancestor that is a directory.
func nearestDir(dir string) string {
	for {
		if st, err := lstatState(dir); err == nil && isDir(st.mode) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}
