package auto

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/reloadd/reloadd/internal/mountinfo"
)

// Mode is how a subtree is watched.
type Mode string

// The watch modes.
const (
	// Native: inotify (fsnotify) events only.
	Native Mode = "native"
	// Poll: content-hash polling only.
	Poll Mode = "poll"
	// Hybrid: native events plus a slow verifying sweep that switches the
	// mount to polling if it ever finds a change native watching missed.
	Hybrid Mode = "hybrid"
)

// Mount is one line of /proc/self/mountinfo that matters to reloadd.
type Mount = mountinfo.Mount

// ParseMountinfo parses the format of /proc/self/mountinfo (proc(5)).
func ParseMountinfo(r io.Reader) ([]Mount, error) { return mountinfo.Parse(r) }

// Filesystem magic numbers from statfs(2) f_type (linux/magic.h) that
// matter for the choice.
const (
	magicNFS     = 0x6969
	magicSMB     = 0x517B
	magicSMB2    = 0xFE534D42
	magicCIFS    = 0xFF534D42
	magicFUSE    = 0x65735546
	magicV9FS    = 0x01021997
	magicCeph    = 0x00C36400
	magicAFS     = 0x5346414F
	magicVBoxSF  = 0x786F4256
	magicOverlay = 0x794C7630
	magicExt4    = 0xEF53
	magicBtrfs   = 0x9123683E
	magicXFS     = 0x58465342
	magicTmpfs   = 0x01021994
)

// remoteMagic names the statfs types that mean "changes can come from the
// other side without an inotify event".
var remoteMagic = map[int64]string{
	magicNFS: "nfs", magicSMB: "smbfs", magicSMB2: "smb3", magicCIFS: "cifs",
	magicFUSE: "fuse", magicV9FS: "9p", magicCeph: "ceph", magicAFS: "afs",
	magicVBoxSF: "vboxsf",
}

// localTypes are filesystems whose every change goes through this kernel,
// so inotify sees it.
var localTypes = map[string]bool{
	"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true,
	"tmpfs": true, "ramfs": true, "f2fs": true, "zfs": true, "jfs": true,
	"reiserfs": true, "bcachefs": true, "nilfs2": true, "hfsplus": true,
	"vfat": true, "exfat": true, "ntfs3": true, "msdos": true, "udf": true,
	"devtmpfs": true, "squashfs": true, "erofs": true, "iso9660": true,
}

// remoteTypes are filesystems where edits made on the other side (the host
// of a VM or container, another machine) produce no inotify event here.
var remoteTypes = map[string]string{
	"nfs":       "network filesystem",
	"nfs4":      "network filesystem",
	"cifs":      "network filesystem (SMB)",
	"smb3":      "network filesystem (SMB)",
	"smbfs":     "network filesystem (SMB)",
	"9p":        "9p share (WSL2 drvfs or a VM host folder)",
	"vboxsf":    "VirtualBox shared folder",
	"virtiofs":  "virtiofs share from the VM host (Lima and Colima deliver no inotify events for host edits, Docker Desktop only creates and modifies): polled; a forced stat asks the host",
	"fuseblk":   "FUSE filesystem",
	"fuse":      "FUSE filesystem",
	"fakeowner": "Docker Desktop host share",
	"ceph":      "network filesystem (Ceph)",
	"glusterfs": "network filesystem (GlusterFS)",
	"afs":       "network filesystem (AFS)",
	"lustre":    "network filesystem (Lustre)",
	"gpfs":      "network filesystem (GPFS)",
	"prl_fs":    "Parallels shared folder",
	"vmhgfs":    "VMware shared folder",
	"davfs":     "network filesystem (WebDAV)",
	"drvfs":     "WSL drvfs share",
	"orangefs":  "network filesystem (OrangeFS)",
	"beegfs":    "network filesystem (BeeGFS)",
	"ocfs2":     "cluster filesystem (OCFS2)",
	"gfs2":      "cluster filesystem (GFS2)",
	"sshfs":     "network filesystem (sshfs)",
	"smb":       "network filesystem (SMB)",
	"coda":      "network filesystem (Coda)",
	"ncpfs":     "network filesystem (NetWare)",
	"cephfs":    "network filesystem (Ceph)",
	"moosefs":   "network filesystem (MooseFS)",
	"lizardfs":  "network filesystem (LizardFS)",
}

// Classify decides the mode for a filesystem type as mountinfo names it,
// cross-checked with the statfs magic number (0 if unknown). It returns the
// mode and a human reason. fuse.* types (sshfs, bindfs, Docker Desktop's
// grpcfuse) are polled; overlay and unknown types get the self-verifying
// hybrid mode.
func Classify(fstype string, magic int64) (Mode, string) {
	if fstype == "fuse.sshfs" || fstype == "sshfs" {
		return Poll, sshfsReason(nil, false)
	}
	if why, ok := remoteTypes[fstype]; ok {
		return Poll, why + ": edits made on the other side produce no inotify events"
	}
	if sub, ok := strings.CutPrefix(fstype, "fuse."); ok {
		return Poll, "FUSE filesystem (" + sub + "): edits made behind it produce no inotify events"
	}
	if why, ok := remoteMagic[magic]; ok {
		return Poll, fmt.Sprintf("statfs says %s although mountinfo says %q: edits made on the other side produce no inotify events", why, fstype)
	}
	if localTypes[fstype] {
		return Native, "local filesystem: every change goes through this kernel"
	}
	if fstype == "overlay" || fstype == "aufs" {
		return Hybrid, "overlay filesystem: native events, verified by a slow sweep in case the layers change underneath"
	}
	return Hybrid, fmt.Sprintf("filesystem type %q not known to be local: native events, verified by a slow sweep", fstype)
}

// sshfsReason explains the choice for an sshfs mount. sshfs keeps its own
// caches: of attributes (a stat shows a change when its entry expires, 20 s
// by default) and of directory listings (a new file shows when the listing
// expires, unless mounted with -o dir_cache=no). opts are the mount's sshfs
// options when its process could be seen (found), so the hint about
// dir_cache is given only where it applies.
func sshfsReason(opts map[string]string, found bool) string {
	why := "FUSE filesystem (sshfs): edits made on the server produce no inotify events; sshfs's own cache delays a stat (20 s)"
	listing := opts["dir_cache"] == "no" || opts["cache"] == "no"
	switch {
	case found && listing:
		return why + "; new files show at once (mounted with dir_cache=no)"
	case found:
		return why + "; new files show when its directory cache expires (20 s): mount with -o dir_cache=no to see them at once"
	}
	return why + "; new files may show only when its directory cache expires (20 s), unless it was mounted with -o dir_cache=no (its sshfs process is not visible here)"
}

// Choice is the watch mode chosen for one mount within a watched tree.
type Choice struct {
	// Path is the subtree: a watched root, or a mount point below one.
	Path string `json:"path"`
	// FSType is the filesystem type from mountinfo.
	FSType string `json:"fstype"`
	// Mode is how Path is watched.
	Mode Mode `json:"mode"`
	// Reason says why, for the terminal and /_reloadd/status.
	Reason string `json:"reason"`
}

// Plan decides, for each watched root, the mounts it spans and the mode for
// each: the mount the root lies on, and every mount whose point lies below
// the root. statfs returns the f_type magic of a path (or an error, in which
// case mountinfo alone decides). Roots must be absolute and clean. The
// result is sorted by path; a root on an unknown mount gets Hybrid.
func Plan(roots []string, mounts []Mount, statfs func(path string) (int64, error)) []Choice {
	// The visible mount at a point is the last one mounted there.
	top := make(map[string]Mount, len(mounts))
	for _, m := range mounts {
		top[filepath.Clean(m.Point)] = m
	}
	seen := make(map[string]bool)
	var out []Choice
	add := func(path string, m Mount, found bool) {
		if seen[path] {
			return
		}
		seen[path] = true
		var magic int64
		if statfs != nil {
			if v, err := statfs(path); err == nil {
				magic = v
			}
		}
		fstype := m.FSType
		if !found {
			fstype = "unknown"
		}
		mode, why := Classify(fstype, magic)
		if fstype == "fuse.sshfs" || fstype == "sshfs" {
			why = sshfsReason(sshfsOptions(m.Point))
		}
		out = append(out, Choice{Path: path, FSType: fstype, Mode: mode, Reason: why})
	}
	for _, root := range roots {
		m, found := containing(root, top)
		add(root, m, found)
		for point, sub := range top {
			if point != root && within(root, point) {
				add(point, sub, true)
			}
		}
	}
	slices.SortFunc(out, func(a, b Choice) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// containing returns the mount whose point is the longest prefix of path.
func containing(path string, top map[string]Mount) (Mount, bool) {
	for p := path; ; p = filepath.Dir(p) {
		if m, ok := top[p]; ok {
			return m, true
		}
		if p == filepath.Dir(p) {
			return Mount{}, false
		}
	}
}

// within reports whether path is dir or lies below it.
func within(dir, path string) bool {
	if dir == string(filepath.Separator) {
		return strings.HasPrefix(path, dir)
	}
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}

// For returns the choice that governs path: the one with the longest Path
// that contains it.
func For(choices []Choice, path string) (Choice, bool) {
	best := -1
	for i, c := range choices {
		if within(c.Path, path) && (best < 0 || len(c.Path) > len(choices[best].Path)) {
			best = i
		}
	}
	if best < 0 {
		return Choice{}, false
	}
	return choices[best], true
}
