// Package forward is reloadd's host agent (reloadd forward) and the
// daemon's endpoint for it (/_reloadd/agent): events from the machine where
// the edit happens, for a folder the daemon sees through a deaf mount
// (Docker Desktop, WSL2, Vagrant, Lima, NFS, SMB, sshfs).
//
// The agent watches DIR with reloadd's own watcher (watcher/auto: native
// where it can, polling where it must, the same ignore rules and editor-
// noise filter), folds events to their net effect (a debounce queue, then
// Verify), and sends records over one WebSocket. The daemon treats records
// as hints: its poller checks each path through the mount and reports only
// what differs from its index, so a forged or stale record costs a read,
// never a wrong build.
//
// # Protocol (version 1)
//
// JSON text frames, one message each. The agent connects without an Origin
// header (the daemon refuses any Origin: browsers always send one).
//
//	agent → daemon  hello      {version, nonce, cookie?, token?, host, dir, os, names?}
//	daemon → agent  challenge  {nonce, key: "cookie"|"token", proof}
//	agent → daemon  auth       {proof}
//	daemon → agent  welcome    {mount, epoch, gitignore, visible}
//	agent → daemon  manifest   {entries: [{p, d?, s?, m?, h?}], done?}   (parts, then done)
//	agent → daemon  changes    {records: [{n, p, op: "write"|"remove", s?, m?, h?, a?}]}
//	daemon → agent  error      {code, message}   (then the daemon closes)
//
// Proofs are HMAC-SHA256(key, "reloadd forward v1" | role | agent nonce |
// daemon nonce | cookie id), role "daemon" or "agent": each side proves it
// holds the key, the key never crosses the wire, a proof cannot be
// replayed (both nonces are fresh) or reflected (the roles differ). The
// daemon proves first, so an agent never sends its manifest to a server
// that does not hold the folder's cookie. The key is the cookie's secret
// (see cookie.go), or SHA-256 of a -token for shares the daemon cannot
// write to; with a token, the mount is the one whose top-level names match
// the agent's (Jaccard similarity ≥ 0.8, the clear best).
//
// Paths are relative to DIR, slash-separated, Unicode NFC (a Windows path
// or a macOS NFD name is normalised by the agent; the daemon finds the
// name its mount stores). The daemon refuses (closes the connection on)
// absolute paths, empty, "." and ".." names, NUL bytes and invalid UTF-8
// (CheckPath), and looks every path up through its poller's index, which
// never follows a symlink; the NFC lookup goes through os.Root.
//
// After welcome the agent sends its manifest (every file and directory it
// watches, with size and mtime), then records. Record numbers increase
// strictly for the agent process's lifetime. On every (re)connect the
// manifest lets the daemon's poller check exactly the paths where the
// agent's view and its index differ: changes made while apart are built
// once, unchanged files are not.
//
// # Design notes
//
//   - DefaultSettle (2 ms) is the agent's settle window: one editor save's
//     3–7 events arrive within a millisecond; what the agent splits, the
//     daemon's own settle window (10 ms) folds, and its index decides the
//     net effect, so a short window costs nothing but a few more frames.
//   - The agent starts its watcher after the first welcome, with the
//     daemon's filter settings (whether .gitignore files count, and which
//     directories they never hide): it must never ignore what the daemon
//     watches. It may report more (the daemon drops what it ignores).
//   - While disconnected the agent drops its records: the manifest of the
//     next connection covers them. The manifest is sent with the send lock
//     held, so no record precedes it.
//   - pingPeriod (5 s) and pongWait (15 s): a silent peer (a network cut,
//     a suspended VM) is given up within 15 s, and the mount is polled in
//     full again. A closed connection is noticed at once.
//   - MaxMessage (1 MiB), MaxRecords (1024 per message), MaxEntries (4096
//     per manifest part), MaxManifest (4,000,000 entries), and a rate of
//     5,000 records a second after a burst of 20,000: over the rate the
//     daemon stops reading, and TCP slows the agent down; nothing is lost.
//     At most 8 connections may be in their handshake at once, each for
//     at most 10 s.
//   - Refusals are printed at most once per remote host and reason every
//     10 s: a misconfigured agent retries, a hostile client may hammer.
//   - An agent retries a connection every 100 ms to 1 s (jittered), for
//     ever. It stops (exit 1) when retrying cannot help: no cookie of the
//     daemon in DIR for 5 s (cookieGrace: a new daemon's cookie may take a
//     moment to reach the host side), a proof that keeps failing for 10 s,
//     a wrong DIR by token, another protocol version.
//
// One agent serves one folder per DIR; `reloadd forward A B` runs one
// connection per DIR in one process.
package forward
