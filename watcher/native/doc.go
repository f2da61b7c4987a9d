// Package native is reloadd's event-driven backend: inotify on Linux (read
// directly, see below), fsnotify elsewhere, made recursive, with a content
// index that makes its reports exact.
//
// It adds one watch per directory (never per file), watches directories
// created later and scans them right after the watch is in place, so files
// created before the watch existed are reported too; it follows
// directories renamed, moved and removed (their files are reported as
// removed under the old paths and created under the new ones), notices a
// root that is removed, replaced, unmounted or mounted over and watches
// what is at its path again, and turns an event-queue overflow into a
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
// A Watcher runs exactly two goroutines. The drain goroutine reads the
// kernel's events (on Linux the inotify descriptor itself, through the
// runtime's poller; elsewhere fsnotify's channels) and forwards them in
// order; it never touches the filesystem. The worker goroutine does the
// blocking work (adding watches, walking new directories, dropping watches
// of directories that went away, re-reading .gitignore files, checking the
// roots once a second, and, when idle, hashing the start-up baseline), fed
// by a queue and a one-slot doorbell channel. Verify runs on the caller's
// goroutine. Close closes the event source, then stops both goroutines,
// and waits for them.
//
// # Roots
//
// Besides its tree, the watcher watches each root's parent directory (a
// sentinel: names created, removed and renamed only). Through it a root
// removed or moved away is noticed even while another process holds the
// old directory open (the kernel reports the directory's own deletion only
// once the last descriptor is closed), and a root created again is seen at
// once. A root gone with its parent waits under its nearest existing
// ancestor. The sentinel costs one inotify watch per root, taken after the
// tree's: where watches are scarce, the tree has them. Every [rootCheckEvery] the worker also compares the directory
// at each root's path with the one it watches (device and inode): that is
// how a filesystem mounted over a root, or mounted again after an unmount,
// is noticed, since mounting makes no inotify event. Each of these is
// reported once on Errors as a *[RootError], and the tree at the path is
// watched and compared with the index afresh.
//
// # Linux notes
//
// Each directory costs one inotify watch, counted against
// fs.inotify.max_user_watches. Directories that cannot be watched (ENOSPC;
// or every directory, when no inotify instance can be created: EMFILE) are
// reported once on Errors as a *[LimitError] and listed by
// [Watcher.Unwatched], so a caller can poll them instead. Paths longer than
// PATH_MAX (4,096 bytes) cannot be watched, read or built by anyone by
// path: they are reported once as a *[TooLongError] and their directories
// listed by [Watcher.TooLong]. Network and FUSE filesystems deliver no
// events for changes made on the other side; use watcher/poll or
// watcher/auto there.
//
// # Design notes: why Linux has its own inotify reader
//
// reloadd needs three things from inotify that fsnotify 1.10 does not
// pass on: IN_CLOSE_WRITE (a writer closed the file: the save is complete;
// fsnotify has it only as the unexported xUnportableCloseWrite), IN_UNMOUNT
// (fsnotify drops it silently, with the watch, so an unmounted root went
// unnoticed), and the watch descriptor behind each event (fsnotify maps
// events to paths itself, so after a directory is replaced the old
// directory's late events arrive under the new one's path). The
// alternatives were a change upstream (exporting close-write is a design
// question fsnotify has kept open for years, and the other two would remain)
// or parsing fsnotify's debug output; a reader of our own on
// golang.org/x/sys/unix is ~200 lines, has no goroutine of its own (the
// drain reads the descriptor), and lets every event carry what the kernel
// said. fsnotify stays for the other platforms, where batches always wait
// the whole settle window and roots are checked only by the periodic
// identity check.
//
// The completion hint (watcher.Complete) is what lets reloadd hand a saved
// file to the build about a millisecond after the save instead of after a
// fixed 10 ms window; the rule that uses it lives in package debounce. So
// that it never acts while a write's events are still on their way, the
// watcher implements watcher.Quieter: Quiet looks at the kernel's queue
// (FIONREAD on the inotify descriptor), the events read but not yet
// forwarded, the worker, and Events.
package native
