package debounce

import (
	"cmp"
	"slices"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

// changeSet accumulates events into their net effect per path.
//
// The reduction, for a path seen several times within one batch:
//
//	Create … Remove/Rename    → nothing (a temporary file: sed's sedXXXXXX, rsync's .name.XXXXXX)
//	Remove/Rename … Create    → Write   (replaced: vim's and JetBrains' rename-style saves)
//	Create … Write/Chmod      → Create
//	Write  … Remove           → Remove
//	Chmod  … Write            → Write
//	Rescan                    → kept, whatever else happened
//
// Time is the first time the path was seen in the batch.
type changeSet struct {
	m     map[string]watcher.Event
	first time.Time // the earliest event's time; zero if none yet
}

// add folds ev into the set.
func (s *changeSet) add(ev watcher.Event) {
	if s.m == nil {
		s.m = make(map[string]watcher.Event)
	}
	if s.first.IsZero() || ev.Time.Before(s.first) {
		s.first = ev.Time
	}
	prev, seen := s.m[ev.Path]
	if !seen {
		s.m[ev.Path] = ev
		return
	}
	op, keep := reduce(prev.Op, ev.Op)
	if !keep {
		delete(s.m, ev.Path)
		return
	}
	prev.Op = op
	s.m[ev.Path] = prev
}

// reduce folds next into prev. keep=false means the path's net effect is
// nothing.
func reduce(prev, next watcher.Op) (op watcher.Op, keep bool) {
	rescan := (prev | next) & watcher.Rescan
	prev &^= watcher.Rescan
	next &^= watcher.Rescan
	gone := watcher.Remove | watcher.Rename
	switch {
	case next == 0:
		op = prev
	case next.Has(gone):
		if prev.Has(watcher.Create) && !next.Has(watcher.Create) {
			if rescan == 0 {
				return 0, false
			}
			op = 0
		} else {
			op = watcher.Remove
		}
	case next.Has(watcher.Create):
		if prev.Has(gone) {
			op = watcher.Write
		} else {
			op = watcher.Create
		}
	case next.Has(watcher.Write):
		if prev.Has(watcher.Create) {
			op = watcher.Create
		} else {
			op = watcher.Write
		}
	default: // Chmod
		if prev == 0 {
			op = next
		} else {
			op = prev
		}
	}
	return op | rescan, true
}

// then folds the later changes of o into s, where s holds changes that a
// cancelled build may already have acted on. A path whose net effect over
// both is nothing (created in s, removed in o) is kept as a Remove: the
// cancelled build may have left something behind for it, and the next build
// must hear that it is gone.
func (s *changeSet) then(o *changeSet) {
	for _, ev := range o.events() {
		prev, seen := s.m[ev.Path]
		s.add(ev)
		if _, kept := s.m[ev.Path]; seen && !kept {
			prev.Op = watcher.Remove | ev.Op&watcher.Rescan
			s.m[ev.Path] = prev
		}
	}
	if s.first.IsZero() || (!o.first.IsZero() && o.first.Before(s.first)) {
		s.first = o.first
	}
}

func (s *changeSet) len() int { return len(s.m) }

// events returns the set's events sorted by path.
func (s *changeSet) events() []watcher.Event {
	evs := make([]watcher.Event, 0, len(s.m))
	for _, ev := range s.m {
		evs = append(evs, ev)
	}
	slices.SortFunc(evs, func(a, b watcher.Event) int { return cmp.Compare(a.Path, b.Path) })
	return evs
}
