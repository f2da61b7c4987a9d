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
// Machine-specific figures (what a stat or a system call costs here, what
// the benchmarks measured) are in bench/README.md; the reasons below are
// what does not depend on the machine.
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
//     afterwards.
//  2. Hot directories are stat'ed; a directory whose mtime or ctime moved
//     is listed and diffed. Most saves land as directory changes (vim's and
//     JetBrains' rename dance, sed -i, any atomic write-and-rename).
//  3. On local disks every directory is stat'ed once per
//     Options.DirPeriod ([DefaultDirPeriod], 200 ms) within [dirBudget]
//     (1 % of one core): a rename-style save of any file anywhere is seen
//     within 200 ms + the settle window (target ≤ 300 ms). The period is
//     two intervals, not 2.5: a sweep that ends between ticks leaves some
//     directories three ticks apart. Directories are stat'ed by
//     descriptor (see System calls). The budget pays for looking;
//     rescanning a directory that changed is paid for by the change
//     (charged to the budget, a large rescan after a checkout would stall
//     the sweep for seconds). Shares have no separate directory sweep:
//     their cold sweep lists every directory (see Shares).
//  4. The cold rest — every file — is swept, a slice per tick, so that the
//     sweep takes Options.ColdPeriod ([DefaultColdPeriod], 2 s) on a small
//     tree, but never more than Options.ColdBudget ([DefaultColdBudget],
//     2 % of one core, counted in wall time) of time. This catches in-place
//     writes to files nobody touched for a while: on a large tree the
//     budget binds and such a change is seen after half a sweep on average
//     (target ≤ 5 s at 100,000 files). Options.ColdBudget trades one for
//     the other. The sweep lists nothing: it stats each entry relative to
//     its directory's descriptor (statx on a dirfd, without allocating),
//     which saves the path walk, and builds a path only for a file it
//     reports or hashes.
//  5. Shares also get a read sweep (see Shares), and files the baseline
//     left without a hash are hashed by a fill pass (see Baseline hashing).
//
// System calls. A system call's cost on cloud machines is dominated by
// entering and leaving the kernel (speculative-execution mitigations), so
// the poller keeps their number down on local disk filesystems (statfs
// says ext4, xfs, btrfs, tmpfs, overlayfs ..., and only in directories on
// the root's device):
//
//   - Pins. Every directory below a root is held open with an O_PATH
//     descriptor: the directory sweep stats it by descriptor (no path
//     walk) and the cold sweep looks its entries up relative to it,
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
//     20 µs for as long as the tick runs. The price of a raw call is that
//     a stat waiting for the disk (an inode evicted from the cache) keeps
//     its P, and a stop-the-world waits for it: milliseconds on a local
//     disk. It is never used where a call can wait on a server or a FUSE
//     daemon (a hung server would then stall every goroutine at the next
//     garbage collection, not just the poller), nor for reading files or
//     listing directories.
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
// Baseline hashing. New hashes files for up to [baselineHashBudget] (1 s:
// ~100k small files with a warm page cache on a local disk), the most
// recently modified first: those are the likeliest to be edited, and the
// ones a stat cannot vouch for (a second write within the timestamp's
// granularity leaves it as it was), so small and medium trees are fully
// hashed when it returns. On local disks the rest is hashed once, in the
// background, by a fill pass within [fillBudget] (25 % of wall time: a
// one-time indexing cost, mostly disk reads when the page cache is cold),
// kept apart from the sweeps so that their cadence does not suffer; on
// shares the read sweep does it. The fill pass stats a file before and
// after reading it and keeps the hash only if the stat did not move. Until
// a file has a hash, a stat change of it is reported as a change (nothing
// can prove otherwise); where a share's stat lags, the stat of the file as
// read (through its open descriptor, which asks the server) is compared
// too, so a change made before a file's first read is not taken for its
// baseline.
//
// Racy entries (git's racy-clean rule). Two writes within one timestamp
// tick leave mtime and ctime unchanged, and maybe the size too. An entry
// whose mtime or ctime is within the racy window of the time it was
// stat'ed is flagged, and its next look hashes it whatever the stat says.
// The window is [racyLocal] (100 ms, well above any kernel's tick) on
// local filesystems and [racyRemote] (2 s: FAT's and SMB's timestamp
// granularity, sftp's whole seconds, and some clock skew between client
// and server) on shares.
//
// Shares. On FUSE, NFS, SMB, 9p, VirtioFS and other non-local filesystems
// (Options.Stat, by default decided by statfs's filesystem type) the
// kernel does not keep the stat itself; a stat asks the server, or a cache
// of it. There:
//
//   - stat uses statx with AT_STATX_FORCE_SYNC, which makes the kernel ask
//     the filesystem instead of its own attribute cache (through bindfs,
//     NFS and VirtioFS that is the truth; sshfs answers from its own
//     cache, ~20 s);
//   - whether a forced stat tells the truth is learnt per root, from what
//     the poller already reads: a read that finds a change is evidence —
//     the stat moved with it, or it did not (a lie; not counted when the
//     last look was racy). The verdict starts from the filesystem type
//     (sshfs, named by Options.MountType: lies; anything else: unproven)
//     and any lie among the last [evidenceRing] (16) observations makes it
//     lies, [evidenceMin] (3) truthful ones and no lie make it truthful.
//     When a lying stat catches up, the lag is measured. Reading a file
//     through sshfs refreshes sshfs's cache of it, so a hot file's stat
//     there is fresh: the lies show for files not read lately;
//   - the cold sweep goes directory by directory, those holding the most
//     recently modified files first (recomputed every pass; kept where the
//     cache has a known lifetime, below): it lists the
//     directory (new and vanished names) and stats every entry relative to
//     it, reading only what the stat says moved. The stat is forced, or
//     plain where that asks the server in one round trip instead of two
//     and is checked, answer by answer, not to have come from the cache
//     (lookup.go). Where stat lies, it still
//     bounds the delay to the cache's lifetime, so it is the sweep there
//     too. A look through FUSE mostly waits for the server, so the sweep is
//     paced by the process's CPU time (Options.ColdBudget,
//     [DefaultShareBudget], 7.5 % of a core; doubled ([startBoost]) for
//     the first [startWindow] (30 s), when the first saves come and hashes
//     are still being filled in, and on until the first sweep has ended
//     (sshfs: its first visits wait for its cache; at most
//     [firstSweepWindow]), and while anything is hot: someone is
//     editing, and their next save, of any file, is likely within the hot
//     window. A never-touched file's change is found half a sweep after it
//     on average, and a sweep's CPU is files × CPU per look, so a sweep
//     twice as fast costs twice the CPU: spent while it buys latency, not
//     while nothing changes) as well as by wall time ([shareWall], 50 %, so that
//     hot files keep their interval), and takes at least [sharePeriod]
//     (1 s). Its period therefore follows the measured cost per look:
//     files × CPU per forced stat ÷ budget. The status shows both. Where
//     the filesystem keeps attributes for a known time (Options.StatCache:
//     sshfs, 20 s unless its options say otherwise), the sweep takes at
//     least that long plus [statCacheMargin]: a visit before the entry
//     expires reads the cache, so a faster sweep costs more CPU for the
//     same latency (about the cache's lifetime at most). There the sweep
//     visits each directory once its cache entries have expired, in an
//     order kept from pass to pass: first StatCache + 1 s after the
//     baseline ended (whose listing filled the cache; all directories
//     then, as fast as the budget allows), then StatCache +
//     [cacheDueMargin] after its own last visit. A racy file with no hash
//     is not read by the stat sweep there (the fill pass reads it): on a
//     tree written just before the start, reading every file stretched the
//     first pass to ~40 s, and a save made in the first seconds, in a
//     directory visited before the cache expired, waited for the second
//     (up to 39 s measured; ≤ 21 s with timed visits). The verdict
//     stays "lies": a change that a later stat showed proves nothing;
//   - a read sweep reads files within a CPU budget, the most recently
//     modified first: the [readHead] (256) newest again after every
//     [readSlice] (1,024) of all of them, so a change a stat does not show
//     yet is seen soonest where it is likeliest. Its budget is
//     [readBudgetLies] (3 %) where stat lies, [readBudgetSafe] (1 %, a
//     safety net against a verdict that is wrong) where it told the truth,
//     and [readBudgetFill] (5 %) while files still lack a hash (it is the
//     shares' fill pass);
//   - hot files are read and hashed every interval, for the whole hot
//     window after they last changed: a read through FUSE can return old
//     bytes for a few hundred ms, so one unchanged read proves nothing.
//     Where the forced stat has proved truthful, only while the file is
//     fresh ([hotReadFor], 2 s after its last change or after its stat
//     last moved), then every [hotVerifyEvery] (1 s), the stat every
//     interval: 30 files saved in the last minute cost ~2.6 % of a core
//     through bindfs when all were read ten times a second.
//     Reading stops for the tick once it took [hotHashShare] (30 %) of the
//     interval (the rest are stat'ed only), so a large hot set or a slow
//     server cannot make ticks overrun; a typical hot set is read whole;
//   - hot directories are also listed where the stat lies, since a
//     directory's mtime lies as much as a file's;
//   - before reading a file the poller stats it through its open
//     descriptor (forced): a FUSE read stops at the size the kernel has
//     cached, and through sshfs a file that grew read as its new bytes cut
//     to the old length: one save reported twice.
//
// Everywhere, hot files are hashed every [hotVerifyEvery] (1 s) besides:
// tools that preserve mtime (cp -p, rsync -t, tar) can leave size and
// mtime as they were; on local disks ctime still moves, but a FUSE
// filesystem may pass the other side's ctime through unchanged.
//
// Verify. The poller reports a change the moment it reads new bytes, but a
// read can land between a writer's truncate and its write; through a
// share the window is wide enough to hit. [Watcher.Verify], which the
// daemon calls just before each build, looks at every path of the batch
// once more through the mount and records what it sees, so the next look
// compares with what the build reads (verify.go has the details).
//
// Hints. See hint.go: an agent's hints are checked at once, with backoff
// for bytes that lag; forwarded mode keeps only a slow safety sweep.
//
// Trouble. A file that vanishes between listing and stat or read is no
// error: its directory is rescanned and reports it removed. Symlinks are
// never followed (a symlink is an entry whose "content" is its target
// text), so symlink loops cannot happen; a directory that is its own
// ancestor (a bind mount loop) is reported and not descended into. A
// directory that cannot be read is reported once and skipped until its
// stat changes. A directory whose path is longer than PATH_MAX cannot be
// opened by it: the first under a root is reported once, and all are
// listed by [Watcher.Unwatched]. A root that becomes unreachable —
// ENOTCONN from a dead FUSE daemon, EIO or ESTALE from a network server,
// ENOENT, or a mount point that shows the directory below it again because
// it was unmounted — is reported as an [*UnreachableError]; its index is
// kept, nothing is reported removed, and it is retried every [retryEvery]
// (1 s). When it is back every directory is compared with the index,
// content hashes deciding, so a remount that renumbered every inode
// reports only what really changed.
package poll
