package watcher

import (
	"log/slog"
	"strings"
	"time"
)

// Op describes what happened to a path. It is a bitmask: one event may carry
// several operations.
type Op uint32

// The operations a backend reports.
const (
	// Create: a file or directory appeared at Path.
	Create Op = 1 << iota
	// Write: the content at Path may have changed.
	Write
	// Remove: Path no longer exists.
	Remove
	// Rename: the file at Path was moved away; Path no longer holds it. The
	// destination, if it is watched, is reported as a Create.
	Rename
	// Chmod: only attributes changed. Some event forwarders (Lima, Colima)
	// deliver content edits as attribute changes only, so a Chmod is "maybe
	// changed", for a [Verifier] to decide.
	Chmod
	// Rescan: something changed under Path (a directory) that the backend
	// could not describe, for example after an event-queue overflow. Look at
	// the whole subtree again.
	Rescan
	// Complete: the writer is done with Path. It comes with Write when a
	// file open for writing was closed (Linux: IN_CLOSE_WRITE), and with
	// Create when a file was renamed into place, whole (IN_MOVED_TO). It
	// is a hint for the debounce, which can hand a batch out early once
	// every file in it is complete; backends that cannot tell never set
	// it, and batches never carry it.
	Complete
	// Writing: Path is open for writing and its content is changing now
	// (Linux: IN_MODIFY). The writer's close comes as Write|Complete. It
	// comes with Write, and is a hint for the debounce, which holds a
	// batch while a file in it is being written (up to its MaxWait), so
	// that a slow writer's pauses never split a save and no build sees a
	// half-written file. Backends that cannot tell never set it, and
	// batches never carry it.
	Writing
)

var opNames = []struct {
	op   Op
	name string
}{
	{Create, "CREATE"}, {Write, "WRITE"}, {Remove, "REMOVE"},
	{Rename, "RENAME"}, {Chmod, "CHMOD"}, {Rescan, "RESCAN"}, {Complete, "COMPLETE"}, {Writing, "WRITING"},
}

// Has reports whether o contains any operation in h.
func (o Op) Has(h Op) bool { return o&h != 0 }

// String returns the operations in o joined by "|", e.g. "CREATE|WRITE".
func (o Op) String() string {
	var b strings.Builder
	for _, n := range opNames {
		if o.Has(n.op) {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(n.name)
		}
	}
	if b.Len() == 0 {
		return "NONE"
	}
	return b.String()
}

// Event is one change seen by a backend.
type Event struct {
	// Path is the absolute, cleaned path of the file or directory.
	Path string
	// Op is what happened.
	Op Op
	// Time is when the backend first saw the change.
	Time time.Time
}

// String returns a short human-readable form, e.g. `WRITE "/a/b.html"`.
func (e Event) String() string { return e.Op.String() + " " + quote(e.Path) }

func quote(s string) string { return `"` + s + `"` }

// Watcher is the interface every backend implements.
//
// Events and Errors are closed by the backend after Close returns. Close is
// idempotent and waits for every goroutine the backend started; after it
// returns, nothing more is delivered.
type Watcher interface {
	// Events delivers changes.
	Events() <-chan Event
	// Errors delivers problems the backend met while running (a directory
	// it could not watch or read, a queue overflow, a mount going away).
	// They are reports, not fatal: the backend keeps going.
	Errors() <-chan error
	// Close stops the backend and waits for its goroutines.
	Close() error
}

// Verifier is implemented by backends whose raw events over-report. Verify
// takes a settled batch of events and returns the net changes: paths whose
// content (or existence) differs from what was last reported, with Op set to
// Create, Write or Remove, sorted by path. A Rescan event in the batch asks
// for every file under its path to be compared. What Verify returns counts
// as reported: the next call compares against it. Verify is called from one
// goroutine at a time.
type Verifier interface {
	Verify(batch []Event) []Event
}

// Quieter is implemented by backends that can tell whether events are on
// their way: queued in the kernel, read but not yet delivered, or waiting in
// Events. A consumer that is about to act on a batch early (the debounce
// queue, once every change is complete) asks first: events of a write
// already under way may not have reached it yet, above all on a busy
// machine, where the goroutine that reads the kernel's queue can wait
// milliseconds for a turn. Quiet is safe for concurrent use.
type Quieter interface {
	// Quiet reports whether no event is on its way.
	Quiet() bool
}

// Options configure a backend. The zero value means the documented defaults.
type Options struct {
	// Filter decides which paths are ignored. Nil means [DefaultFilter].
	Filter *Filter
	// Logger receives debug-level diagnostics. Nil discards them.
	Logger *slog.Logger
	// MaxHashSize is the largest file whose content is hashed to confirm a
	// change; larger files are compared by size, mtime and inode. 0 means
	// [DefaultMaxHashSize].
	MaxHashSize int64
}

// MaxHashSizeOrDefault returns o.MaxHashSize, or [DefaultMaxHashSize] if it
// is not positive.
func (o Options) MaxHashSizeOrDefault() int64 {
	if o.MaxHashSize > 0 {
		return o.MaxHashSize
	}
	return DefaultMaxHashSize
}

// FilterOrDefault returns o.Filter, or a fresh default filter if it is nil.
func (o Options) FilterOrDefault() *Filter {
	if o.Filter != nil {
		return o.Filter
	}
	return DefaultFilter()
}

// LoggerOrDiscard returns o.Logger, or a logger that discards everything.
func (o Options) LoggerOrDiscard() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}
