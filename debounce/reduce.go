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
//
// It also keeps, per path, whether the path is complete (see complete),
// and counts the paths that are not.
type changeSet struct {
	m          map[string]change
	first      time.Time // the earliest event's time; zero if none yet
	incomplete int       // paths whose complete is false
	writing    int       // paths whose writing is true
}

// change is one path's net effect so far.
type change struct {
	ev       watcher.Event // Op without Complete and Writing
	complete bool
	removed  bool // a Remove was seen in this batch (not a Rename)
	// writing: the path's last event said a writer has it open and is
	// changing it (watcher.Writing), and no close has come since.
	writing bool
}

// complete says whether a path is complete after an event: whether a
// writer is done with it, so that nothing more is to be expected of this
// save. c is the path's change including the event (op reduced), ev the
// event's own op (Complete stripped), done whether it carried Complete,
// and was the path's state before it (true for a path new to the set).
//
//	renamed into place (Create|Complete, IN_MOVED_TO)     complete: the final step of a rename-style save
//	closed after writing (Write|Complete, IN_CLOSE_WRITE) complete, unless the file is new in this batch,
//	                                                      or was deleted and created again in it: a new
//	                                                      file closed may be a temporary about to be
//	                                                      renamed (sed -i, atomic writers); a file deleted
//	                                                      and rewritten is how git checkout and install(1)
//	                                                      replace files one after the other, and the next
//	                                                      is likely on its way. Editors never delete the
//	                                                      file they save: they rename it, or write in place
//	Chmod                                                 as it was (vim and emacs chmod after closing)
//	anything else (Create, Write, Remove, Rename, Rescan) not complete: more is to come, or it is gone and
//	                                                      its replacement may be on the way
func complete(c change, ev watcher.Op, done, was bool) bool {
	switch {
	case c.ev.Op.Has(watcher.Rescan):
		return false
	case done && ev.Has(watcher.Create):
		return true
	case done:
		return c.ev.Op != watcher.Create && !c.removed
	case ev == watcher.Chmod:
		return was
	}
	return false
}

// add folds ev into the set.
func (s *changeSet) add(ev watcher.Event) {
	if s.m == nil {
		s.m = make(map[string]change)
	}
	if s.first.IsZero() || ev.Time.Before(s.first) {
		s.first = ev.Time
	}
	done := ev.Op.Has(watcher.Complete)
	writing := ev.Op.Has(watcher.Writing) && !done
	ev.Op &^= watcher.Complete | watcher.Writing
	if ev.Op == 0 {
		ev.Op = watcher.Write // a bare completion: the file was open for writing
	}
	removed := ev.Op.Has(watcher.Remove)
	prev, seen := s.m[ev.Path]
	if !seen {
		c := change{ev: ev, removed: removed, writing: writing}
		c.complete = complete(c, ev.Op, done, true)
		s.put(ev.Path, c, false)
		return
	}
	op, keep := reduce(prev.ev.Op, ev.Op)
	if !keep {
		s.drop(ev.Path)
		return
	}
	c := prev
	c.ev.Op = op
	c.removed = c.removed || removed
	c.complete = complete(c, ev.Op, done, prev.complete)
	switch {
	case writing:
		c.writing = true
	case done || ev.Op.Has(watcher.Remove|watcher.Rename):
		c.writing = false // closed, or gone: nothing more is being written
	}
	s.put(ev.Path, c, true)
}

// put sets path's change, keeping the count; seen says it was in the set.
func (s *changeSet) put(path string, c change, seen bool) {
	if seen {
		old := s.m[path]
		if !old.complete {
			s.incomplete--
		}
		if old.writing {
			s.writing--
		}
	}
	if !c.complete {
		s.incomplete++
	}
	if c.writing {
		s.writing++
	}
	s.m[path] = c
}

// drop removes path from the set.
func (s *changeSet) drop(path string) {
	if c, ok := s.m[path]; ok {
		if !c.complete {
			s.incomplete--
		}
		if c.writing {
			s.writing--
		}
		delete(s.m, path)
		if len(s.m) == 0 {
			// Nothing left (a temporary file created and removed): the
			// next change starts a new batch, with its own first time,
			// so MaxWait counts from it and not from the temporary file.
			s.first = time.Time{}
		}
	}
}

// complete reports whether the set has changes and every one is complete.
func (s *changeSet) complete() bool { return len(s.m) > 0 && s.incomplete == 0 }

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
// must hear that it is gone. Each path of o keeps its completeness.
func (s *changeSet) then(o *changeSet) {
	for _, ev := range o.events() {
		prev, seen := s.m[ev.Path]
		s.add(ev)
		c, kept := s.m[ev.Path]
		if seen && !kept {
			prev.ev.Op = watcher.Remove | ev.Op&watcher.Rescan
			prev.complete = false
			s.put(ev.Path, prev, false)
			continue
		}
		c.complete = o.m[ev.Path].complete && !c.ev.Op.Has(watcher.Rescan)
		c.writing = o.m[ev.Path].writing
		s.put(ev.Path, c, true)
	}
	if s.first.IsZero() || (!o.first.IsZero() && o.first.Before(s.first)) {
		s.first = o.first
	}
}

func (s *changeSet) len() int { return len(s.m) }

// events returns the set's events sorted by path.
func (s *changeSet) events() []watcher.Event {
	evs := make([]watcher.Event, 0, len(s.m))
	for _, c := range s.m {
		evs = append(evs, c.ev)
	}
	slices.SortFunc(evs, func(a, b watcher.Event) int { return cmp.Compare(a.Path, b.Path) })
	return evs
}
