package native

import "path/filepath"

// Design notes: the baseline warm-up.
//
// New records every file's stat but reads none of them, to be ready fast
// (100,000 files: a few hundred ms). The worker then hashes them when it
// has nothing else to do, warmChunk files at a time so that watching new
// directories never waits long behind it, one file at a time so memory is
// one read buffer. A hash is attached only under the conditions described
// in state.go (stable state, equal to the start-up record, not racy).
const (
	// warmChunk is how many files the worker hashes before it looks at its
	// queue again: about a millisecond of small files.
	warmChunk = 64
	// warmMaxSize is the largest file hashed ahead of need. Larger ones
	// (media, archives) are hashed only when an event names them, so that
	// start-up does not read gigabytes; until then, a touch of one counts
	// as a change.
	warmMaxSize = 8 << 20
)

// warmState is the worker's progress through the baseline.
type warmState struct {
	dirs   []string // directories still to do
	dir    string
	names  []string // files of dir still to do
	states []fileState
	done   bool
}

// warmStep hashes up to warmChunk files of the baseline. It returns false
// if the watcher is closing.
func (w *Watcher) warmStep() bool {
	ws := &w.warm
	limit := min(w.maxHash, warmMaxSize)
	for n := 0; n < warmChunk; {
		if len(ws.names) == 0 {
			if len(ws.dirs) == 0 {
				*ws = warmState{done: true}
				close(w.warmed)
				return true
			}
			ws.dir, ws.dirs = ws.dirs[0], ws.dirs[1:]
			ws.names, ws.states = w.idx.unhashed(ws.dir, limit)
			continue
		}
		select {
		case <-w.quit:
			return false
		default:
		}
		name, st := ws.names[0], ws.states[0]
		ws.names, ws.states = ws.names[1:], ws.states[1:]
		p := filepath.Join(ws.dir, name)
		before, sum, ok, stable, err := hashFile(p, limit)
		if err == nil && ok && stable && before == st {
			w.idx.setHash(p, st, sum)
		}
		n++
	}
	return true
}
