//go:build !linux

package native

import (
	"errors"
	"fmt"

	"github.com/fsnotify/fsnotify"

	"github.com/reloadd/reloadd/watcher"
)

// fsnotifyBackend is the backend outside Linux. fsnotify does not say
// when a writer is done, so batches there always wait the whole settle
// window; nor does it report unmounts (the periodic root check does).
type fsnotifyBackend struct {
	w *fsnotify.Watcher
}

func newBackend() (backend, error) {
	w, err := fsnotify.NewBufferedWatcher(eventBuffer)
	if err != nil {
		return nil, err
	}
	return &fsnotifyBackend{w: w}, nil
}

func (b *fsnotifyBackend) add(path string, _ watchKind) (string, error) { return "", b.w.Add(path) }

func (b *fsnotifyBackend) remove(path string) { _ = b.w.Remove(path) }

func (b *fsnotifyBackend) close() error { return b.w.Close() }

// pending sees only what fsnotify has read already: events still in the
// kernel's queue are not counted.
func (b *fsnotifyBackend) pending() bool { return len(b.w.Events) > 0 }

func (b *fsnotifyBackend) read(evs []rawEvent) ([]rawEvent, error) {
	select {
	case fev, ok := <-b.w.Events:
		if !ok {
			return evs, errBackendClosed
		}
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
		if op != 0 {
			evs = append(evs, rawEvent{path: fev.Name, op: op})
		}
		return evs, nil
	case err, ok := <-b.w.Errors:
		if !ok {
			return evs, errBackendClosed
		}
		if errors.Is(err, fsnotify.ErrEventOverflow) {
			return append(evs, rawEvent{kind: rawOverflow}), nil
		}
		return evs, fmt.Errorf("fsnotify: %w", err)
	}
}
