// Package native is reloadd's event-driven backend: fsnotify (inotify on
// Linux), made recursive, with a content index that makes its reports
// exact.
//
// It adds one watch per directory (never per file), watches directories
// created later and scans them right after the watch is in place, so files
// created before the watch existed are reported too; it follows
// directories renamed, moved and removed (their files are reported as
// removed under the old paths and created under the new ones), watches for
// a removed root to come back, and turns an event-queue overflow into a
// Rescan that [Watcher.Verify] expands into the exact changes.
//
// Raw events over-report (one editor save is 3–7 of them; a touch is one),
// so the watcher keeps an index of every file's state and content hash and
// implements [watcher.Verifier]: Verify reduces a settled batch to the
// files whose content or existence differs from what was last reported.
// See state.go for when a file counts as unchanged.
//
// # Goroutines
//
// A Watcher runs exactly two goroutines. The drain goroutine reads
// fsnotify's channels and forwards events in order; it never touches the
// filesystem. The worker goroutine does the blocking work (adding watches,
// walking new directories, dropping watches of directories that went away,
// re-reading .gitignore files, and, when idle, hashing the start-up
// baseline), fed by a queue and a one-slot doorbell channel. Verify runs
// on the caller's goroutine. Close stops fsnotify, then both goroutines,
// and waits for them.
//
// # Linux notes
//
// Each directory costs one inotify watch, counted against
// fs.inotify.max_user_watches. Directories that cannot be watched (ENOSPC;
// or every directory, when no inotify instance can be created: EMFILE) are
// reported once on Errors as a *[LimitError] and listed by
// [Watcher.Unwatched], so a caller can poll them instead.
// Network and FUSE filesystems deliver no events for changes made on the
// other side; use watcher/poll or watcher/auto there.
package native

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/reloadd/reloadd/watcher"
)

var _ watcher.Watcher = (*Watcher)(nil)
var _ watcher.Verifier = (*Watcher)(nil)

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

// RootError reports, on Errors, that a watched root directory went away
// (Back false): its files are reported as removed, and the watcher waits
// for the directory to come back; or that it came back (Back true) and is
// watched again, its files reported as created. Neither stops the
// watcher.
type RootError struct {
	Root string
	Back bool
}

// Error says what happened to the root.
func (e *RootError) Error() string {
	if e.Back {
		return fmt.Sprintf("native: watched directory %s is back; watching it again", e.Root)
	}
	return fmt.Sprintf("native: watched directory %s was removed; waiting for it to come back", e.Root)
}

// Watcher watches directory trees recursively. It is safe for concurrent
// use, except that Verify must be called from one goroutine at a time.
type Watcher struct {
	fsw     *fsnotify.Watcher // nil when no inotify instance could be created
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

	vmu   sync.Mutex // serialises Verify
	vlist lister     // Verify's directory reader (under vmu)

	mu        sync.Mutex
	work      []job               // the worker's queue
	dirs      map[string]struct{} // directories with a watch
	unwatched map[string]error    // directories that could not be watched
	gone      map[string]string   // vanished root → the ancestor watched for its return
	ancestors map[string]int      // ancestor → how many vanished roots it stands for
	limitSaid bool                // the LimitError was sent

	// Owned by the worker (and by New before the worker starts).
	list lister
	warm warmState
}

// jobKind is what the worker is asked to do with a path.
type jobKind uint8

const (
	jobCreated    jobKind = iota // path appeared: if it is a directory, watch it and report its files
	jobGone                      // the directory path was removed or renamed away
	jobIgnoreFile                // path/.gitignore changed
	jobRescan                    // the event queue overflowed: re-add the watches under path
	jobRootBack                  // something appeared on the way to a vanished root
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
		gone:      make(map[string]string),
		ancestors: make(map[string]int),
	}
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, fmt.Errorf("native: %w", err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("native: watch %s: %w", r, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("native: watch %s: not a directory", r)
		}
		w.roots = append(w.roots, abs)
	}
	if len(w.roots) == 0 {
		return nil, errors.New("native: no directories to watch")
	}
	w.roots = dedupeRoots(w.roots)

	fsw, err := fsnotify.NewBufferedWatcher(eventBuffer)
	var hits limitHits
	switch {
	case err == nil:
		w.fsw = fsw
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
	w.warm.dirs = w.idx.dirNames()
	w.wg.Add(2)
	go w.drain()
	go w.worker()
	return w, nil
}

// dedupeRoots drops roots that lie inside other roots.
func dedupeRoots(roots []string) []string {
	slices.SortFunc(roots, func(a, b string) int { return len(a) - len(b) })
	var out []string
	for _, r := range roots {
		if !slices.ContainsFunc(out, func(o string) bool { return within(o, r) }) {
			out = append(out, r)
		}
	}
	return out
}

// within reports whether path is dir or lies below it.
func within(dir, path string) bool {
	if dir == string(filepath.Separator) {
		return strings.HasPrefix(path, dir)
	}
	return path == dir || strings.HasPrefix(path, dir) && path[len(dir)] == filepath.Separator
}

// Events implements watcher.Watcher.
func (w *Watcher) Events() <-chan watcher.Event { return w.events }

// Errors implements watcher.Watcher. Reports include a *LimitError (once),
// *RootError, and fsnotify's queue overflow.
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
// kernel limit, sorted.
func (w *Watcher) Unwatched() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	ds := make([]string, 0, len(w.unwatched))
	for d := range w.unwatched {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds
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
		if w.fsw != nil {
			err = w.fsw.Close()
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
		if within(r, path) {
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

// drain forwards fsnotify's events in order and hands blocking work to the
// worker.
func (w *Watcher) drain() {
	defer w.wg.Done()
	if w.fsw == nil {
		<-w.quit
		return
	}
	for {
		select {
		case fev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if !w.handle(fev) {
				return
			}
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// The kernel dropped events: re-add watches that may be
				// missing, and have Verify compare every file with the index.
				now := time.Now()
				for _, r := range w.roots {
					w.enqueue(job{jobRescan, r})
					if !w.emit(watcher.Event{Path: r, Op: watcher.Rescan, Time: now}) {
						return
					}
				}
				w.report(fmt.Errorf("native: event queue overflowed; rescanning: %w", err))
				continue
			}
			w.report(fmt.Errorf("native: %w", err))
		case <-w.quit:
			return
		}
	}
}

// handle forwards one fsnotify event; it returns false when the watcher is
// closing.
func (w *Watcher) handle(fev fsnotify.Event) bool {
	path := fev.Name
	var op watcher.Op
	if fev.Has(fsnotify.Create) {
		op |= watcher.Create
	}
	if fev.Has(fsnotify.Write) {
		op |= watcher.Write
	}
	if fev.Has(fsnotify.Remove) {
		op |= watcher.Remove
	}
	if fev.Has(fsnotify.Rename) {
		op |= watcher.Rename
	}
	if fev.Has(fsnotify.Chmod) {
		op |= watcher.Chmod
	}
	if op == 0 {
		return true
	}
	w.mu.Lock()
	_, isDir := w.dirs[path]
	if !isDir {
		_, isDir = w.unwatched[path] // refused a watch, but ours: its parent reports it
	}
	gone := isDir && op.Has(watcher.Remove|watcher.Rename)
	if gone {
		// From now on the path is no directory of ours: a file created
		// under the same name right after is a file. The worker drops the
		// watches.
		delete(w.dirs, path)
		delete(w.unwatched, path)
	}
	anc := len(w.ancestors) > 0 && (w.ancestors[filepath.Dir(path)] > 0 || w.ancestors[path] > 0)
	w.mu.Unlock()
	if anc {
		// A directory watched only to see a vanished root come back.
		if op.Has(watcher.Create | watcher.Remove | watcher.Rename) {
			w.enqueue(job{jobRootBack, path})
		}
		return true
	}
	root := w.rootOf(path)
	if root == "" {
		return true // a late event of a watch being dropped
	}
	if op.Has(watcher.Create) {
		w.enqueue(job{jobCreated, path})
	}
	if gone {
		w.enqueue(job{jobGone, path})
	}
	if filepath.Base(path) == watcher.IgnoreFile && w.filter.IgnoreFiles() {
		w.enqueue(job{jobIgnoreFile, filepath.Dir(path)})
	}
	if path == root || isDir {
		return true // directories are no change to build; their files are
	}
	if w.ignored(root, path, false) {
		return true
	}
	return w.emit(watcher.Event{Path: path, Op: op, Time: time.Now()})
}

func (w *Watcher) enqueue(j job) {
	w.mu.Lock()
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
	return j, true
}

// worker does the blocking work; when idle, it hashes the baseline.
func (w *Watcher) worker() {
	defer w.wg.Done()
	for {
		if j, ok := w.pop(); ok {
			if !w.do(j) {
				return
			}
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
	case jobRootBack:
		return w.rootBack()
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
		fresh := w.watchDir(d, mode == addRefresh, hits)
		l := &w.list
		if err := l.list(d, mode == addRecord); err != nil {
			if !isGone(err) {
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
			if within(dir, d) && !visited[d] {
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
	if w.fsw == nil {
		w.mu.Lock()
		w.unwatched[d] = hits.err
		w.mu.Unlock()
		hits.dirs = append(hits.dirs, d)
		return !had
	}
	err := w.fsw.Add(d)
	switch {
	case err == nil:
		w.mu.Lock()
		w.dirs[d] = struct{}{}
		delete(w.unwatched, d)
		w.mu.Unlock()
	case isLimit(err):
		// Keep walking: files here still need recording or reporting, and
		// the caller will poll this directory instead.
		w.mu.Lock()
		w.unwatched[d] = err
		w.mu.Unlock()
		hits.dirs = append(hits.dirs, d)
		hits.err = err
	case isGone(err):
	default:
		w.report(fmt.Errorf("native: watch %s: %w", d, err))
	}
	return !had
}

// unwatch drops the watch on d; the kernel may already have dropped it.
func (w *Watcher) unwatch(d string) {
	if w.fsw != nil {
		_ = w.fsw.Remove(d)
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
		if within(dir, d) {
			drop = append(drop, d)
			delete(w.dirs, d)
		}
	}
	for d := range w.unwatched {
		if within(dir, d) {
			delete(w.unwatched, d)
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
		w.report(&RootError{Root: dir})
		w.mu.Lock()
		w.gone[dir] = ""
		w.mu.Unlock()
		return w.rootBack()
	}
	return true
}

// rootBack re-watches vanished roots that exist again, and for the others
// watches the nearest existing ancestor, to see them come back.
func (w *Watcher) rootBack() bool {
	w.mu.Lock()
	gone := make(map[string]string, len(w.gone))
	for r, a := range w.gone {
		gone[r] = a
	}
	w.mu.Unlock()
	for root, anc := range gone {
		for {
			if st, err := lstatState(root); err == nil && isDir(st.mode) {
				w.setAncestor(root, anc, "")
				w.report(&RootError{Root: root, Back: true})
				if !w.addTree(root, addReport, nil) {
					return false
				}
				break
			}
			a := nearestDir(filepath.Dir(root))
			if a == anc {
				break
			}
			// Watch the new nearest ancestor, then look again: the root may
			// have appeared before the watch did.
			w.setAncestor(root, anc, a)
			anc = a
		}
	}
	return true
}

// setAncestor moves root's ancestor watch from old to anc ("" for none).
func (w *Watcher) setAncestor(root, old, anc string) {
	if anc != "" && w.fsw != nil {
		if err := w.fsw.Add(anc); err != nil {
			w.report(fmt.Errorf("native: watch %s for %s to come back: %w", anc, root, err))
		}
	}
	w.mu.Lock()
	drop := false
	if old != "" {
		w.ancestors[old]--
		if w.ancestors[old] <= 0 {
			delete(w.ancestors, old)
			drop = old != anc
		}
	}
	if anc == "" {
		delete(w.gone, root)
	} else {
		w.gone[root] = anc
		w.ancestors[anc]++
	}
	w.mu.Unlock()
	if drop {
		w.unwatch(old)
	}
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
