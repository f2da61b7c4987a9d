// Package debounce is reloadd's coalescing build queue: it turns a stream of
// file events into batches, one build each.
//
// # Semantics
//
//   - The first change starts a batch; the batch is handed out once no new
//     change has arrived for the settle window (default 10 ms), or once the
//     batch is MaxWait old (default 1 s), whichever comes first, so a
//     continuous stream of writes cannot starve the build.
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
