// Package auto decides, per mount, how reloadd watches a tree, and builds
// the watcher that does it.
//
// Mount detection reads /proc/self/mountinfo and cross-checks each mount
// with statfs(2): subtrees on filesystems where edits made on the other side
// produce no inotify event (NFS, SMB/CIFS, 9p — WSL2's drvfs —, vboxsf,
// virtiofs, FUSE mounts such as sshfs, bindfs and Docker Desktop's grpcfuse
// and fakeowner, Ceph, GlusterFS, AFS) are polled; local filesystems are
// watched natively; overlay and unknown types get hybrid watching: native
// events plus a slow verifying sweep that switches the mount to polling the
// first time it finds a change native watching missed.
//
// The decision is a pure function ([Plan], [Classify]) over mountinfo text
// and statfs results, so it is tested with real mountinfo lines from each
// kind of system.
package auto
