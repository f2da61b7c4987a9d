// Package native is reloadd's event-driven backend: fsnotify (inotify on
// Linux), made recursive.
//
// It adds one watch per directory (never per file), watches directories
// created later and scans them right after the watch is in place, so files
// created before the watch existed are reported too; it follows directories
// renamed and removed, and turns an event-queue overflow into a Rescan.
//
// # Goroutines
//
// A Watcher runs exactly two goroutines. The drain goroutine reads fsnotify's
// channels and forwards events in order; it never blocks on the filesystem.
// The worker goroutine does the blocking work (adding watches, walking new
// directories, dropping watches of directories that went away), fed by a
// queue and a one-slot doorbell channel. Close stops fsnotify, then both
// goroutines, and waits for them.
//
// # Linux notes
//
// Each directory costs one inotify watch, counted against
// fs.inotify.max_user_watches. Directories that cannot be watched (ENOSPC,
// EMFILE) are reported on Errors as a *[LimitError] and listed by
// [Watcher.Unwatched], so a caller can poll them instead.
// Network and FUSE filesystems deliver no events for changes made on the
// other side; use watcher/poll or watcher/auto there.
package native

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/reloadd/reloadd/watcher"
)

var _ watcher.Watcher = (*Watcher)(nil)
var _ watcher.Verifier = (*Watcher)(nil)

// eventBuffer is the capacity of the Events channel: enough to absorb the
// burst of a large git checkout while the consumer folds events into a
// batch, small enough not to matter in memory.
const eventBuffer = 4096

// LimitError reports directories that could not be watched because a kernel
// limit was reached.
type LimitError struct {
	Dirs []string // directories without a watch
	Err  error    // the kernel's error (ENOSPC or EMFILE)
}

func (e *LimitError) Error() string {
	what := "fs.inotify.max_user_watches"
	if errors.Is(e.Err, syscall.EMFILE) {
		what = "fs.inotify.max_user_instances"
	}
	return fmt.Sprintf("native: %d directories not watched (%v): raise %s (sysctl -w %s=524288) or use -watch poll",
		len(e.Dirs), e.Err, what, what)
}

func (e *LimitError) Unwrap() error { return e.Err }

// Watcher watches directory trees recursively. It is safe for concurrent
// use.
type Watcher struct {
	fsw    *fsnotify.Watcher
	filter *watcher.Filter
	roots  []string
	events chan watcher.Event
	errors chan error
	quit   chan struct{}
	wg     sync.WaitGroup // the drain and worker goroutines (exactly 2)
	once   sync.Once

	bell chan struct{} // one-slot doorbell for the worker

	mu        sync.Mutex
	work      []job               // the worker's queue
	dirs      map[string]struct{} // directories with a watch
	unwatched map[string]error    // directories that could not be watched
}

// job is a unit of blocking work for the worker goroutine.
type job struct {
	path string
	gone bool // the path was removed or renamed away; otherwise it was created
}

// New watches the given directory trees. Watches on every directory are in
// place when New returns, so any change made afterwards is reported.
func New(roots []string, opts watcher.Options) (*Watcher, error) {
	fsw, err := fsnotify.NewBufferedWatcher(eventBuffer)
	if err != nil {
		return nil, fmt.Errorf("native: %w", err)
	}
	w := &Watcher{
		fsw:       fsw,
		filter:    opts.FilterOrDefault(),
		events:    make(chan watcher.Event, eventBuffer),
		errors:    make(chan error, 16),
		quit:      make(chan struct{}),
		bell:      make(chan struct{}, 1),
		dirs:      make(map[string]struct{}),
		unwatched: make(map[string]error),
	}
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			fsw.Close()
			return nil, fmt.Errorf("native: %w", err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			fsw.Close()
			return nil, fmt.Errorf("native: watch %s: %w", r, err)
		}
		if !fi.IsDir() {
			fsw.Close()
			return nil, fmt.Errorf("native: watch %s: not a directory", r)
		}
		w.roots = append(w.roots, abs)
	}
	var limitDirs []string
	var limitErr error
	for _, r := range w.roots {
		w.addTree(r, false, func(dir string, err error) {
			limitDirs = append(limitDirs, dir)
			limitErr = err
		})
	}
	if len(limitDirs) > 0 {
		w.errors <- &LimitError{Dirs: limitDirs, Err: limitErr}
	}
	w.wg.Add(2)
	go w.drain()
	go w.worker()
	return w, nil
}

// Events implements watcher.Watcher.
func (w *Watcher) Events() <-chan watcher.Event { return w.events }

// Errors implements watcher.Watcher.
func (w *Watcher) Errors() <-chan error { return w.errors }

// Roots returns the absolute roots being watched.
func (w *Watcher) Roots() []string { return slices.Clone(w.roots) }

// WatchedDirs returns the number of directories with an inotify watch.
func (w *Watcher) WatchedDirs() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dirs)
}

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

// Close stops watching and waits for the goroutines. It is idempotent.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		err = w.fsw.Close()
		close(w.quit)
		w.wg.Wait()
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
	select {
	case w.errors <- err:
	case <-w.quit:
	default:
		// Nobody is reading errors right now; dropping a report is better
		// than stalling the event path.
	}
}

// drain forwards fsnotify's events in order and hands blocking work to the
// worker.
func (w *Watcher) drain() {
	defer w.wg.Done()
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
				// The kernel dropped events: look at everything again.
				now := time.Now()
				for _, r := range w.roots {
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
	now := time.Now()
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
	w.mu.Unlock()

	if op.Has(watcher.Create) {
		w.enqueue(job{path: path})
	}
	if isDir && op.Has(watcher.Remove|watcher.Rename) {
		w.enqueue(job{path: path, gone: true})
	}
	if isDir && op == watcher.Chmod {
		return true // a directory's attributes are no change to build
	}
	if w.filter.Ignored(path, isDir) {
		return true
	}
	return w.emit(watcher.Event{Path: path, Op: op, Time: now})
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

// worker does the blocking work: watching new directories and forgetting
// removed ones.
func (w *Watcher) worker() {
	defer w.wg.Done()
	for {
		select {
		case <-w.bell:
		case <-w.quit:
			return
		}
		for {
			w.mu.Lock()
			if len(w.work) == 0 {
				w.work = nil
				w.mu.Unlock()
				break
			}
			j := w.work[0]
			w.work = w.work[1:]
			w.mu.Unlock()
			if j.gone {
				w.forget(j.path)
				continue
			}
			var limitDirs []string
			var limitErr error
			fi, err := os.Lstat(j.path)
			if err != nil || !fi.IsDir() {
				continue // a file, or already gone
			}
			if !w.addTree(j.path, true, func(dir string, err error) {
				limitDirs = append(limitDirs, dir)
				limitErr = err
			}) {
				return
			}
			if len(limitDirs) > 0 {
				w.report(&LimitError{Dirs: limitDirs, Err: limitErr})
			}
		}
	}
}

// forget drops the watches of dir and everything below it. inotify keeps a
// watch on a directory that was renamed, under its old name; dropping it
// before the new location is walked gives the new path a fresh watch.
func (w *Watcher) forget(dir string) {
	w.mu.Lock()
	var drop []string
	for d := range w.dirs {
		if d == dir || strings.HasPrefix(d, dir+string(filepath.Separator)) {
			drop = append(drop, d)
			delete(w.dirs, d)
		}
	}
	for d := range w.unwatched {
		if d == dir || strings.HasPrefix(d, dir+string(filepath.Separator)) {
			delete(w.unwatched, d)
		}
	}
	w.mu.Unlock()
	for _, d := range drop {
		_ = w.fsw.Remove(d) // the kernel may already have dropped it
	}
}

// addTree watches dir and every directory below it that the filter does not
// ignore. If emit is set, it reports every file it finds as a Create: they
// may have been created before the watch existed. Directories that hit a
// kernel limit go to limit. It returns false if the watcher is closing.
func (w *Watcher) addTree(dir string, emit bool, limit func(dir string, err error)) bool {
	if w.filter.Ignored(dir, true) {
		return true
	}
	if err := w.fsw.Add(dir); err != nil {
		switch {
		case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EMFILE):
			w.mu.Lock()
			w.unwatched[dir] = err
			w.mu.Unlock()
			limit(dir, err)
			// Keep walking: files here still need reporting, and the caller
			// will poll this directory instead.
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			return true // gone already
		default:
			w.report(fmt.Errorf("native: watch %s: %w", dir, err))
			return true
		}
	} else {
		w.mu.Lock()
		w.dirs[dir] = struct{}{}
		w.mu.Unlock()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			w.report(fmt.Errorf("native: read %s: %w", dir, err))
		}
		return true
	}
	now := time.Now()
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			if !w.addTree(p, emit, limit) {
				return false
			}
			continue
		}
		if emit && !w.filter.Match(p, false) {
			if !w.emit(watcher.Event{Path: p, Op: watcher.Create, Time: now}) {
				return false
			}
		}
	}
	return true
}

// Verify implements watcher.Verifier: it drops paths that are directories
// and reports what each remaining path is now: Create or Write if it is a
// file, Remove if it is gone.
func (w *Watcher) Verify(batch []watcher.Event) []watcher.Event {
	out := batch[:0:0]
	for _, ev := range batch {
		if ev.Op.Has(watcher.Rescan) {
			out = append(out, ev)
			continue
		}
		fi, err := os.Lstat(ev.Path)
		switch {
		case err != nil:
			if ev.Op.Has(watcher.Create) && !ev.Op.Has(watcher.Write) {
				continue // came and went
			}
			ev.Op = watcher.Remove
		case fi.IsDir():
			continue
		case ev.Op.Has(watcher.Create):
			ev.Op = watcher.Create
		default:
			ev.Op = watcher.Write
		}
		out = append(out, ev)
	}
	return out
}
