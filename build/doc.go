// Package build runs reloadd's commands: the -build command, once per batch
// of changes ([Runner]), and the -run command, a long-running app restarted
// after each successful build ([App]). [CheckPort] tells whether something
// already listens where the app is to listen, and who.
//
// A command runs as "sh -c COMMAND", its shell the leader of a process
// group of its own. Its stdout and stderr go, as one stream, to the
// terminal as they are written, and the last 64 KiB are kept for the
// browser's error overlay. A command is finished when its shell has
// exited; whatever it left running is then stopped: SIGTERM, and SIGKILL
// after the grace period.
//
// # What is guaranteed where
//
// On Linux, every command runs under a supervisor process (below). Every
// process the command starts is stopped when the command ends, when
// reloadd stops it (a restart, a cancelled build, reloadd's exit), and
// when reloadd dies without a chance to clean up (SIGKILL, a crash, the
// OOM killer): also a process that calls setsid, double-forks or
// daemonizes itself. The stop is graceful in every case, reloadd's SIGKILL
// included: SIGTERM first, SIGKILL to what is left after the grace period.
// Not reached: processes that are not the command's descendants (a
// container started through the Docker daemon, a unit started with
// systemd-run), and anything if the supervisor itself is killed with
// SIGKILL (its parent-death signal then kills the command's shell only).
// Without /proc (some chroots and minimal containers) commands run as on
// other Unix systems.
//
// On macOS, the BSDs and other Unix systems, a command's process group is
// signalled: a process that leaves the group (setsid, daemonizing) is not
// stopped, and when reloadd is killed with SIGKILL or crashes nothing is
// stopped at all (the app keeps running and keeps its port; a build runs
// on until it ends or writes to its output, which then has no reader). When reloadd exits normally, the groups are stopped.
// On Windows only the shell itself is stopped; its children may survive
// it.
//
// # Environment
//
// The build command gets the changed paths in RELOADD_CHANGED, one per
// line (empty for the start-up build); when the list is longer than an
// environment string may be, RELOADD_CHANGED is empty and
// RELOADD_CHANGED_FILE names a file holding it. Since a path may itself
// hold a newline, every build with changes also gets
// RELOADD_CHANGED_FILE0, naming a file of the paths each followed by a NUL
// byte ("xargs -0 -a "$RELOADD_CHANGED_FILE0" CMD"). The files are removed
// when the build ends.
//
// # Design notes
//
// Why a supervisor. A process group does not hold a process that calls
// setsid, and nothing of reloadd runs after SIGKILL, so the group scheme
// leaves orphans on both counts; the next reloadd's readiness probe then
// connects to the orphaned app. Alternatives weighed: a parent-death
// signal on the shell kills the shell only, its children are re-parented
// to init; reloadd as a child subreaper collects escaped processes while
// it lives, but orphans them all when it dies; a cgroup (cgroup.kill)
// would be complete, but needs a delegated, writable cgroup, which an
// ordinary shell or container does not have; a PID namespace (the kernel
// kills everything when its init dies) needs privileges or a user
// namespace, in which commands see themselves as root. The supervisor
// needs nothing: it is this binary re-executed from /proc/self/exe with
// argv[0] "reloadd-supervise" (an init function in this package
// recognises it, so reloadd and any test binary that imports the package
// act as the supervisor without their cooperation).
//
// The supervisor sets PR_SET_CHILD_SUBREAPER, so that every orphan of its
// commands is re-parented to it rather than to init: whatever a command
// does, all of its processes stay the supervisor's descendants, and "the
// supervisor has no child left" (wait4 answers ECHILD) means "every
// process of the command is gone", exactly. It learns that reloadd died
// in two independent ways: the end of the socket it shares with reloadd
// (the kernel closes reloadd's descriptors however it dies), and its
// parent-death signal (SIGTERM). That signal has a caveat
// (golang/go#27505): it fires when the thread that forked the supervisor
// ends, which Go does to a goroutine's locked thread when the goroutine
// exits, while reloadd lives on. So a signal counts as reloadd's death
// only if getppid() has changed; otherwise the supervisor reports it and
// ignores it. The supervisor forks the shells from its main thread, which
// Go keeps for the process's lifetime, so their own parent-death signal
// (SIGKILL, should the supervisor be killed) has no such caveat. The
// supervisor runs in a process group of its own: the terminal's Ctrl-C
// and hangup go to reloadd, which decides, and never to it.
//
// One supervisor per Runner and per App, started by the first command and
// kept until Close: each runs one command at a time, so a descendant of a
// supervisor is always a process of its current command. Starting it per
// command would re-execute the binary every build: 20 ms measured under
// load for reloadd (100 ms and more for a race-enabled test binary)
// against nothing of note for a command sent over the socket
// (BenchmarkBuildTrue). reloadd sends the command, its directory,
// environment and grace period, with the write end of the output pipe
// attached (SCM_RIGHTS); the supervisor reports the shell's pid, its exit
// (code, signal, core dump, as os.ProcessState would say it), and when
// everything is gone. The output pipe goes from the command straight to
// reloadd: the supervisor adds no copy and no latency to it.
//
// Stopping. To stop a command, the supervisor sends SIGTERM (with
// SIGCONT, so that a stopped process can act on it) to every descendant,
// found by one scan of /proc/*/stat (/proc/PID/task/TID/children would be
// cheaper, but needs CONFIG_PROC_CHILDREN, which not every kernel has);
// after the grace period, SIGKILL, repeated every killSweep (10 ms) to
// catch a process forked between scan and signal. A pid is pinned with a
// pidfd and its parent checked before it is signalled, so that a pid
// reused in the meantime is never hit (pid_max may be 32768). A process
// that SIGKILL does not end within unkillableWait (5 s: one blocked in
// uninterruptible I/O, on a hung NFS server) is named on reloadd's stderr
// and left, and the supervisor exits, so that reloadd never hangs on it. A command that
// leaves nothing behind costs no scan at all.
//
// The end of a command is its shell's exit, not its output's end: a
// daemon that keeps stdout open no longer holds the build for grace +
// drain (4.2 s before). After the shell's exit the output is read until
// it ends or for drainAfterExit (100 ms: long enough for what the
// leftovers print while they handle SIGTERM, on a loaded machine; short
// enough to go unnoticed), then Build returns. The supervisor stops the
// leftovers meanwhile; the next Build, and Close, wait until they are
// gone, so that the processes of two builds never overlap, and Build never
// waits for a grace period it does not need: a leftover that obeys
// SIGTERM is gone in milliseconds.
//
// Where there is no supervisor, the shell runs directly: when it has
// exited, its group gets SIGTERM, the grace period to close the output,
// and SIGKILL, and the output is read for at most drainAfterKill (1 s)
// after that; Build returns then.
package build
