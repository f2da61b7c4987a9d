package native

import (
	"errors"

	"github.com/reloadd/reloadd/watcher"
)

// backend is the kernel's event source: reloadd's own inotify reader on
// Linux (inotify_linux.go), fsnotify elsewhere (fsnotify_other.go). See
// the package documentation for why Linux has its own.
//
// add, remove and close may be called from any goroutine; read is called
// by one goroutine at a time (the drain).
type backend interface {
	// add watches the directory path, or widens the existing watch to
	// what kind asks for. Adding a path whose directory was replaced
	// moves the watch to the new directory. If the directory was watched
	// under another path (renamed, and not yet forgotten there), it
	// reports under path from now on, and add returns the other path.
	add(path string, kind watchKind) (displaced string, err error)
	// remove drops the watch on path, if there is one.
	remove(path string)
	// read blocks until the kernel has events, and appends them to evs.
	// After close it returns errBackendClosed. Other errors are reports:
	// the next read may succeed.
	read(evs []rawEvent) ([]rawEvent, error)
	// close stops the backend; a read blocked in another goroutine
	// returns errBackendClosed.
	close() error
	// pending reports whether the kernel holds events not read yet (as far
	// as the backend can tell).
	pending() bool
}

// errBackendClosed is read's error once the backend is closed.
var errBackendClosed = errors.New("native: backend closed")

// watchKind is what a watch is for.
type watchKind uint8

const (
	// watchTree: a directory of a watched tree (not a root): everything
	// that happens to its entries. A symlink is never followed.
	watchTree watchKind = iota
	// watchRoot: a root; as watchTree, but a root given as a symlink is
	// followed.
	watchRoot
	// watchSentinel: an ancestor of a root, watched only to see the root
	// (or the way to it) removed, moved or created: entries created,
	// removed and renamed, and the directory itself going away.
	watchSentinel
)

// rawKind says what a rawEvent reports.
type rawKind uint8

const (
	// rawEntry: something happened to path, an entry of a watched
	// directory (or the directory itself, for attribute changes).
	rawEntry rawKind = iota
	// rawSelf: the watched directory path was removed (op Remove) or
	// moved away (op Rename). Linux only: fsnotify reports these as
	// rawEntry events.
	rawSelf
	// rawUnmount: the filesystem of the watched directory path was
	// unmounted; the kernel dropped the watch. Linux only.
	rawUnmount
	// rawOverflow: the kernel's event queue overflowed; events were lost.
	rawOverflow
)

// dirHint says whether an entry is a directory, where the kernel says.
type dirHint uint8

const (
	dirUnknown dirHint = iota // fsnotify does not say
	dirNo
	dirYes
)

// rawEvent is one event from the backend.
type rawEvent struct {
	path string
	// op is Create, Write, Remove, Rename or Chmod, with Complete added
	// where the kernel says a writer is done (Linux: IN_CLOSE_WRITE is
	// Write|Complete, IN_MOVED_TO Create|Complete).
	op   watcher.Op
	kind rawKind
	dir  dirHint
}
