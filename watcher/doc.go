// Package watcher holds the vocabulary every reloadd file-watching backend
// shares: [Event] and its [Op] bitmask, the small [Watcher] interface, the
// [Filter] that applies ignore rules and drops editor noise, and the content
// hashing helper [HashFile].
//
// It imports no backend. The backends live in subpackages: watcher/native
// (fsnotify, made recursive), watcher/poll (content-hash polling) and
// watcher/auto (picks one per mount and merges them).
//
// # Event semantics
//
// Paths in events are absolute and cleaned. An event says "look at this path
// again"; it does not promise the content changed. Backends whose raw events
// over-report (the native watcher sees every step of an editor's save) also
// implement [Verifier], which reduces a settled batch of events to the net
// changes by comparing file content with what was last reported.
package watcher
