package native

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/reloadd/reloadd/watcher"
)

// Verify implements watcher.Verifier. For every path of the batch it
// compares the file's current state with the state last recorded in the
// index (at start-up, or the last time Verify reported it) and returns the
// paths whose content or existence differs: Create for a file not recorded
// before, Write for one whose content changed, Remove for one that is
// gone. It records what it returns, so the next batch compares against
// it. Directories, ignored paths and unchanged files are dropped. A Rescan
// event is expanded: every file below its path, on disk or in the index,
// is compared. The result is sorted by path; each event keeps the time of
// the batch event it came from.
func (w *Watcher) Verify(batch []watcher.Event) []watcher.Event {
	w.vmu.Lock()
	defer w.vmu.Unlock()
	var rescans []watcher.Event
	for _, ev := range batch {
		if ev.Op.Has(watcher.Rescan) {
			rescans = append(rescans, ev)
		}
	}
	slices.SortFunc(rescans, func(a, b watcher.Event) int { return cmp.Compare(len(a.Path), len(b.Path)) })
	covered := func(p string, upTo int) bool {
		for _, r := range rescans[:upTo] {
			if watcher.Within(r.Path, p) {
				return true
			}
		}
		return false
	}
	out := make([]watcher.Event, 0, len(batch))
	for i, r := range rescans {
		if covered(r.Path, i) {
			continue
		}
		for _, p := range w.rescanPaths(r.Path) {
			if op, ok := w.check(p); ok {
				out = append(out, watcher.Event{Path: p, Op: op, Time: r.Time})
			}
		}
	}
	for _, ev := range batch {
		if ev.Op.Has(watcher.Rescan) || covered(ev.Path, len(rescans)) {
			continue
		}
		if op, ok := w.check(ev.Path); ok {
			out = append(out, watcher.Event{Path: ev.Path, Op: op, Time: ev.Time})
		}
	}
	slices.SortFunc(out, func(a, b watcher.Event) int { return cmp.Compare(a.Path, b.Path) })
	return slices.CompactFunc(out, func(a, b watcher.Event) bool { return a.Path == b.Path })
}

// check compares path with its record and updates the record. It returns
// the net change, if any.
func (w *Watcher) check(path string) (watcher.Op, bool) {
	path = filepath.Clean(path)
	root := w.rootOf(path)
	if root == "" || path == root {
		return 0, false
	}
	old, had := w.idx.get(path)
	cur, err := lstatState(path)
	gone := func() (watcher.Op, bool) {
		if had {
			w.idx.del(path)
			return watcher.Remove, true
		}
		return 0, false
	}
	switch {
	case err != nil && isGone(err):
		return gone()
	case err != nil:
		// Cannot look (permissions, I/O): say it changed rather than miss
		// a change, and keep the record.
		w.report(fmt.Errorf("native: %w", err))
		if had {
			return watcher.Write, true
		}
		return watcher.Create, true
	case isDir(cur.mode):
		return gone() // a file replaced by a directory; its files come as Creates
	case w.ignored(root, path, false):
		w.idx.del(path)
		return 0, false
	case had && cur == old.st && old.flags&flagRacy == 0:
		return 0, false // an equal, trustworthy stat: the content is the same
	}
	e, err := measure(path, cur, w.maxHash)
	switch {
	case err != nil && isGone(err):
		return gone()
	case err != nil:
		w.report(fmt.Errorf("native: %w", err))
		e = entry{st: cur, flags: flagNoHash | flagRacy}
	}
	w.idx.put(path, e)
	switch {
	case !had:
		return watcher.Create, true
	case differs(old, e):
		return watcher.Write, true
	}
	return 0, false
}

// rescanPaths returns every file below dir that is on disk (not ignored)
// or in the index, sorted.
func (w *Watcher) rescanPaths(dir string) []string {
	set := make(map[string]struct{})
	for _, p := range w.idx.under(dir) {
		set[p] = struct{}{}
	}
	root := w.rootOf(dir)
	if root != "" && !w.ignored(root, dir, true) {
		stack := []string{dir}
		l := &w.vlist
		for len(stack) > 0 {
			d := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if err := l.list(d, false); err != nil {
				continue
			}
			for i := range l.ents {
				if l.name(i) == watcher.IgnoreFile {
					if err := w.filter.LoadIgnoreFile(d); err != nil {
						w.report(fmt.Errorf("native: %w", err))
					}
				}
			}
			for i := range l.ents {
				p := filepath.Join(d, l.name(i))
				if w.filter.Match(p, l.ents[i].dir) {
					continue
				}
				if l.ents[i].dir {
					stack = append(stack, p)
				} else {
					set[p] = struct{}{}
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}
