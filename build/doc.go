// Package build runs reloadd's commands: the -build command, once per batch
// of changes ([Runner]), and the -run command, a long-running app restarted
// after each successful build ([App]).
//
// Both run through "sh -c" as the leader of their own process group, so
// that stopping them reaches every process they spawned: SIGTERM to the
// group, then SIGKILL after a grace period. Their stdout and stderr go, as
// one stream, to the terminal as they are written, and the last 64 KiB are
// kept for the browser's error overlay.
//
// # Design notes
//
// A command is finished when its shell has exited. Whatever it left running
// in its group is then asked to go (SIGTERM), given the grace period to
// close its output, and killed (SIGKILL): a build must not leave processes
// behind, and a server belongs in -run, where reloadd manages it. So when
// Build returns, or App's Stop does, the group has been sent SIGKILL; the
// kernel completes that at once.
//
// Output goes through a pipe that the command gets as its stdout and
// stderr, read by one goroutine: a single stream keeps stdout and stderr
// interleaved as written, and a terminal that stops taking output never
// stalls the command (the writer is dropped on its first error).
//
// Process groups are a Unix notion. Elsewhere (Windows) only the shell
// itself is signalled; its children may survive it.
package build
