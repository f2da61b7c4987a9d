// Package auto decides, per mount, how reloadd watches a tree, and builds
// the watcher that does it.
//
// Mount detection reads the mount table (/proc/thread-self/mountinfo,
// parsed by github.com/moby/sys/mountinfo) and cross-checks each mount
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
// kind of system. [PlanMounts] adds the ignore rules (a mount inside
// node_modules, or below a directory a .gitignore names, is not watched)
// and a mode forced by -watch: it is the one plan that [New] watches and
// that reloadd -check prints.
package auto
