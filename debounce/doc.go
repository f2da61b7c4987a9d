// Package debounce is reloadd's coalescing build queue: it turns a stream of
// file events into batches, one build each.
//
// # Semantics
//
//   - The first change starts a batch; the batch is handed out once no new
//     change has arrived for the settle window (default 10 ms), or once the
//     batch is MaxWait old (default 1 s), whichever comes first, so a
//     continuous stream of writes cannot starve the build.
//   - The settle ends early when the save is complete: once every change
//     pending is complete (see below), the batch is handed out after
//     [CompleteSettle] (1 ms) of quiet instead of the whole window, unless
//     [Options.Fixed] is set (reloadd sets it when -debounce is given).
//   - Within a batch, events are reduced to their net effect per path (see
//     changeSet): a temporary file created and removed is no change, a file
//     replaced by rename is a Write.
//   - While the consumer builds a batch (between receiving it and calling
//     [Queue.Done] or [Queue.Requeue]), new changes accumulate. Under
//     [PolicyQueue] they become exactly one more batch after the build;
//     under [PolicyRestart] the running batch's context is cancelled as soon
//     as they settle, and once the consumer has given the batch back with
//     Requeue, one batch with the union of both is handed out.
//   - Nothing is lost and nothing is handed out twice: every event received
//     ends up in exactly one batch that the consumer finished with Done. A
//     batch given back with Requeue (its build was cancelled) is not
//     finished: its events go into the next batch.
//
// # Complete changes
//
// A backend that knows when a writer is done marks the event
// [watcher.Complete] (the native watcher on Linux: IN_CLOSE_WRITE, a file
// open for writing was closed; IN_MOVED_TO, a file was renamed into
// place). Per path, the queue keeps whether the last thing that happened
// to it ends a save:
//
//   - renamed into place: complete (the last step of every rename-style
//     save: JetBrains, sed -i, atomic writers);
//   - closed after writing: complete, unless the file is new in this batch
//     (created, not replaced): a new file closed may be a temporary about
//     to be renamed over the real one (sed -i writes sedXXXXXX, closes it,
//     renames it), which must not be built on its own; and unless it was
//     deleted and created again in this batch: that is how git checkout
//     and install(1) replace files, one after the other, so more are
//     likely on their way (editors never delete the file they save: they
//     rename it away, or write in place);
//   - a chmod leaves it as it was (vim and emacs chmod after closing);
//   - anything else is not complete: a file written and still open (a
//     large file written in chunks), created, removed or renamed away (its
//     replacement may be on the way: vim renames the file to file~ before
//     writing the new one), a rescan.
//
// Before a batch goes out early, the queue makes sure the save is really
// over: events already waiting are folded in first, and the source is asked
// whether more are on their way ([Options.Quiet], watcher.Quieter: on a
// loaded machine a write's events can sit in the kernel's queue for
// milliseconds after the write); if so, the batch waits the whole window,
// or until they arrive.
//
// A batch with even one path that is not complete waits the whole window,
// as before; so does every batch from a backend that never says (the
// poller, fsnotify on other platforms). The early hand-out cannot split a
// save whose steps are each on the way when the last one completes; what
// it can split is a command that writes several existing files in place
// (without deleting them first) with a pause of more than CompleteSettle
// between them: each build then sees every file it names complete. A git
// checkout keeps the window throughout (it deletes and recreates the
// files it changes, and its new files and removals are not complete
// either), so it builds as often as with the fixed window.
//
// # Design notes
//
// One goroutine owns all state; the consumer talks to it only through the
// Batches channel, Done and Requeue. Time comes from package time, so tests
// run the queue inside a testing/synctest bubble with a fake clock.
//
// Whether a cancelled build still counts is the consumer's call, not the
// queue's: a build can finish in the instant its context is cancelled, and
// only the consumer knows whether it did. So the queue never assumes: Done
// means "built", Requeue means "not built, hand these changes out again".
//
// Restart cancels only once the new changes have settled, so the first byte
// of a save does not kill a build that the rest of the save would have
// cancelled anyway, and a build that finishes within the settle window is
// not cancelled at all. Under a stream of changes that never settles,
// MaxWait still bounds the wait; a build longer than MaxWait then never
// completes under Restart while the stream lasts, which is what the user
// asked for by choosing it.
package debounce
