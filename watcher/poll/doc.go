// Package poll is reloadd's content-hash poller: the backend for
// filesystems where inotify is deaf (Docker Desktop and VM shared folders,
// NFS, SMB, 9p, sshfs and other FUSE mounts), built to cost almost nothing
// on large trees.
//
// It keeps an index of every file — size, mtime, ctime, inode, mode and the
// xxhash of the content — and reports Create, Write, Remove and Rename
// (when an inode left one name and appeared under another, with the same
// mtime, in the same pass) of files; directories themselves are not
// reported (a new directory reports the files in it, a removed or renamed
// one the files that were in it). Stat comes first; the content is read and
// hashed only to confirm a stat change, or where the stat cannot be
// trusted. A stat change with the same content hash is no change, so the
// events are verified already: [Watcher.Verify] does no I/O and only turns
// Rename into Remove, the net effect a build needs.
//
// Ignore rules come from Options.Filter, including .gitignore files when
// the filter honours them: a directory's .gitignore is read before its
// entries are matched, and again when it changes. Ignored directories are
// never listed.
//
// [New] indexes the trees synchronously (the baseline), so any change made
// after it returns is reported. One goroutine does everything afterwards.
//
// An agent on the other side of a mount (reloadd forward) can make the
// poller look sooner: [Watcher.Hint] names paths that changed there, and
// the poller checks each through the mount at once, waiting with backoff
// for hinted bytes that lag; [Watcher.Reconcile] compares the agent's
// manifest with the index after a (re)connection and checks exactly the
// paths that differ; [Watcher.SetForwarded] stops hot polling while the
// agent serves the mount, leaving a slow safety sweep. A hint is never
// trusted: what the mount shows decides (hint.go has the design notes).
//
// # Design notes
//
// Scheduling. One loop wakes every Options.Interval (the -poll-interval
// flag, [DefaultInterval] 100 ms) and does, in order:
//
//  1. Hot files — those reported changed within Options.HotWindow — are
//     stat'ed, so a file being edited is seen within one interval (the
//     "recently changed" target is p50 ≤ 150 ms). Their directories are
//     hot too. [DefaultHotWindow] is 1 min: longer than sshfs's ~20 s
//     attribute cache and most NFS actimeo settings, and than a
//     developer's edit–look–edit cycle, while a hot file costs only one
//     stat per interval. At most [maxHot] (256) files and as many
//     directories are hot, the least recently changed dropped first, so a
//     checkout of thousands of files costs at most ~256 stats per tick
//     (~0.4 ms) afterwards.
//  2. Hot directories are stat'ed; a directory whose mtime or ctime moved
//     is listed and diffed. Most saves land as directory changes (vim's and
//     JetBrains' rename dance, sed -i, any atomic write-and-rename).
//  3. Every directory is stat'ed once per Options.DirPeriod
//     ([DefaultDirPeriod], 200 ms) within [dirBudget] (1 % of one core):
//     a rename-style save of any file anywhere is seen within 200 ms + the
//     settle window (target ≤ 300 ms). The period is two intervals, not
//     2.5: a sweep that ends between ticks leaves some directories three
//     ticks apart (measured at 250 ms: max 311 ms; at 200 ms: max 211 ms).
//     On local disks directories are stat'ed by descriptor (see System
//     calls): 500 directories are ~2,600 stats a second, ~0.3 % of a core.
//     The budget pays for looking; rescanning a directory that changed is
//     paid for by the change (charged to the budget, a 50 ms rescan after
//     a checkout would stall the sweep for 5 s).
//  4. The cold rest — every file — is swept, a slice per tick, so that the
//     sweep takes Options.ColdPeriod ([DefaultColdPeriod], 2 s) on a small
//     tree, but never more than Options.ColdBudget ([DefaultColdBudget],
//     2 % of one core, counted in wall time) of time. This catches in-place
//     writes to files nobody touched for a while. A stat of one of 100k
//     files costs ~1.5 µs of CPU on this 2-core VM (BenchmarkColdSweep100k;
//     ~0.56 µs of it is entering and leaving the kernel, the rest the
//     kernel's lookups, which miss the CPU caches on a tree that large), so
//     a sweep costs ~150 ms: at 2 % it takes ~7.5 s, and such a change is
//     seen after half that on average (target ≤ 5 s). Measured on the quiet
//     machine, 100k files in 500 directories, the whole reloadd process
//     (BenchmarkReloaddIdle100k, BenchmarkReloaddDetect100k): 2.4–2.55 %
//     of a core idle (target ≤ 3 %), never-touched file p50 3.6–4.2 s over
//     30 trials each, three runs. Options.ColdBudget trades one for the other. The sweep
//     lists nothing: it stats each entry relative to its directory's
//     descriptor (statx on a dirfd, without allocating), which saves the
//     path walk, and builds a path only for a file it reports or hashes.
//
// System calls. On this VM, as on many cloud machines, a system call costs
// ~0.56 µs just to enter and leave the kernel (speculative-execution
// mitigations), so the poller keeps their number down on local disk
// filesystems (statfs says ext4, xfs, btrfs, tmpfs, overlayfs ..., and
// only in directories on the root's device):
//
//   - Pins. Every directory below a root is held open with an O_PATH
//     descriptor: the directory sweep stats it by descriptor (~0.5 µs, no
//     path walk) and the cold sweep looks its entries up relative to it,
//     opening nothing. A pin cannot see a filesystem mounted over its
//     directory, so the cold sweep also stats each directory's path once a
//     pass. Roots are never pinned (their path is what must be checked:
//     unmounted, replaced). All pollers in a process share a cap of a
//     quarter of the descriptor limit, at most 16,384 ([maxPins]); beyond
//     it directories are stat'ed by path.
//   - Raw calls. Those stats, and opening and closing directories, go
//     through RawSyscall6, which skips the Go scheduler's hooks. The hooks
//     cost little themselves, but the first system call after the process
//     was idle wakes the runtime's sysmon thread, which then polls every
//     20 µs for as long as the tick runs: 11 % of the idle poller's CPU.
//     The price of a raw call is that a stat waiting for the disk (an
//     inode evicted from the cache) keeps its P, and a stop-the-world
//     waits for it: milliseconds on a local disk. It is never used where a
//     call can wait on a server or a FUSE daemon, nor for reading files
//     or listing directories.
//
// Together these took the idle poller from 3.1–3.2 % to 2.4–2.5 % of a
// core on the 100k tree.
//
// The Events channel holds [eventBuffer] (4096) events, enough for a large
// checkout's burst while the consumer folds it into a batch; Errors holds
// [errorBuffer] (16) reports, and further reports are dropped while nobody
// reads them rather than stall the loop.
//
// No goroutine or timer per file or directory: the index is a table of
// directories, each with its entries sorted by name, fixed-size (56 bytes)
// and all names of a directory in one string; the hot set is a small map.
//
// Baseline hashing. New hashes files while building the index for up to
// [baselineHashBudget] (1 s: ~100k small files with a warm page cache), so
// small and medium trees are fully hashed when it returns. The rest is
// hashed once, in the background, by a fill pass within [fillBudget] (25 %
// of wall time: a one-time indexing cost, mostly disk reads when the page
// cache is cold), kept apart from the sweeps so that their cadence does not
// suffer. The fill pass stats a file before and after reading it and keeps
// the hash only if the stat did not move. Until a file has a hash, a stat
// change of it is reported as a change (nothing can prove otherwise).
//
// Racy entries (git's racy-clean rule). Two writes within one timestamp
// tick (4 ms on this kernel) leave mtime and ctime unchanged, and maybe the
// size too. An entry whose mtime or ctime is within the racy window of the
// time it was stat'ed is flagged, and its next look hashes it whatever the
// stat says. The window is [racyLocal] (100 ms, well above any kernel tick)
// on local filesystems and [racyRemote] (2 s: FAT's and SMB's timestamp
// granularity, and some clock skew between client and server) elsewhere.
//
// Mounts whose stat lies. On FUSE, NFS, SMB, 9p and other non-local
// filesystems (Options.Stat, by default decided by statfs's filesystem
// type) a stat can show old attributes long after a change on the other
// side: ~1 s through bindfs (the kernel's attribute cache), ~20 s through
// sshfs (its own cache), up to 60 s on NFS (actimeo). There:
//
//   - stat uses statx with AT_STATX_FORCE_SYNC, which makes the kernel ask
//     the filesystem (enough for bindfs, useless for sshfs's own cache);
//   - hot files are read and hashed every interval, for the whole hot
//     window after they last changed: a read through FUSE can return old
//     bytes for a few hundred ms, so one unchanged read proves nothing.
//     Reading stops for the tick once it took [hotHashShare] (30 %) of the
//     interval (the rest are stat'ed only), so a large hot set or a slow
//     server cannot make ticks overrun; small source files take
//     microseconds to a few ms each, so a typical hot set is read whole;
//   - hot directories and the directory sweep also list the names, since
//     a directory's mtime lies as much as a file's;
//   - the cold sweep lists each directory and hashes every file in it, with
//     [DefaultRemoteBudget] (10 % of wall time, which here is mostly waiting
//     for the server, not CPU).
//
// Everywhere, hot files are hashed every [hotVerifyEvery] (1 s) besides:
// tools that preserve mtime (cp -p, rsync -t, tar) can leave size and
// mtime as they were; on local disks ctime still moves, but a FUSE
// filesystem may pass the other side's ctime through unchanged.
//
// Trouble. A file that vanishes between listing and stat or read is no
// error: its directory is rescanned and reports it removed. Symlinks are
// never followed (a symlink is an entry whose "content" is its target
// text), so symlink loops cannot happen; a directory that is its own
// ancestor (a bind mount loop) is reported and not descended into. A
// directory that cannot be read is reported once and skipped until its
// stat changes. A root that becomes unreachable — ENOTCONN from a dead FUSE
// daemon, EIO or ESTALE from a network server, ENOENT, or a mount point
// that shows the directory below it again because it was unmounted — is
// reported as an [*UnreachableError]; its index is kept, nothing is
// reported removed, and it is retried every [retryEvery] (1 s). When it is
// back every directory is compared with the index, content hashes deciding,
// so a remount that renumbered every inode reports only what really changed.
package poll
