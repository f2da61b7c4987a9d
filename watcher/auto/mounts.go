package auto

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reloadd/reloadd/internal/mountinfo"
	"github.com/reloadd/reloadd/watcher"
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

// sshfsDefaultCache is how long sshfs keeps attributes unless told
// otherwise (its dcache_timeout).
const sshfsDefaultCache = 20 * time.Second

// isSSHFS reports whether fstype is sshfs's.
func isSSHFS(fstype string) bool { return fstype == "fuse.sshfs" || fstype == "sshfs" }

// sshfsStatCache is how long the sshfs serving a mount keeps a file's
// attributes, from its options (found: its process was seen): none with
// dir_cache=no (sshfs 3: names, attributes and links) or cache=no (sshfs
// 2); else dcache_stat_timeout, dcache_timeout or cache_timeout (sshfs 2),
// in seconds; else the default, 20 s — also when its process is not
// visible (sshfs in another PID namespace), the likeliest case.
func sshfsStatCache(opts map[string]string, found bool) time.Duration {
	if found && (opts["dir_cache"] == "no" || opts["cache"] == "no") {
		return 0
	}
	for _, k := range []string{"dcache_stat_timeout", "dcache_timeout", "cache_stat_timeout", "cache_timeout"} {
		if v, ok := opts[k]; ok {
			if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 {
				return time.Duration(n * float64(time.Second))
			}
		}
	}
	return sshfsDefaultCache
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
	// StatCache is how long the filesystem itself keeps a file's
	// attributes, where known (sshfs: see sshfsStatCache); 0 for none or
	// unknown. The poller of the mount is told (poll.Options.StatCache).
	StatCache time.Duration `json:"-"`
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
		var cache time.Duration
		if isSSHFS(fstype) {
			opts, found := sshfsOptions(m.Point)
			why, cache = sshfsReason(opts, found), sshfsStatCache(opts, found)
		}
		out = append(out, Choice{Path: path, FSType: fstype, Mode: mode, Reason: why, StatCache: cache})
	}
	for _, root := range roots {
		m, found := containing(root, top)
		add(root, m, found)
		for point, sub := range top {
			if point != root && watcher.Within(root, point) {
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

// For returns the choice that governs path: the one with the longest Path
// that contains it.
func For(choices []Choice, path string) (Choice, bool) {
	best := -1
	for i, c := range choices {
		if watcher.Within(c.Path, path) && (best < 0 || len(c.Path) > len(choices[best].Path)) {
			best = i
		}
	}
	if best < 0 {
		return Choice{}, false
	}
	return choices[best], true
}

// PlanMounts decides how New watches roots with opts, and is what New
// watches: the mounts the roots span (by opts.Plan, or Detect), except
// those the filter ignores (a mount inside node_modules or .git, or below
// a directory a .gitignore names), each with its mode — forced to
// opts.Mode unless that is Auto or "". reloadd -check prints it.
//
// Roots are made absolute. If the filter honours .gitignore files, those
// of the directories from each root down to each mount below it are read
// (the backends read them again as they walk). The result is sorted by
// path; a root that the filter ignores itself (one inside a directory
// named by DefaultIgnores) is left out, as nothing below it is watched.
func PlanMounts(roots []string, opts Options) ([]Choice, error) {
	mode := opts.Mode
	switch mode {
	case "":
		mode = Auto
	case Auto, Native, Poll, Hybrid:
	default:
		return nil, fmt.Errorf("auto: unknown mode %q", mode)
	}
	detect := opts.Plan
	if detect == nil {
		detect = Detect
	}
	filter := opts.FilterOrDefault()
	abs := make([]string, 0, len(roots))
	for _, r := range roots {
		a, err := filepath.Abs(r)
		if err != nil {
			return nil, fmt.Errorf("auto: %w", err)
		}
		abs = append(abs, a)
	}
	all, err := detect(abs)
	if err != nil {
		return nil, err
	}
	var plan []Choice
	for _, c := range all {
		if root, ok := deepestRoot(abs, c.Path); ok && root != c.Path {
			loadIgnoreFiles(filter, root, filepath.Dir(c.Path))
		}
		if filter.Ignored(c.Path, true) {
			continue
		}
		if mode != Auto {
			c.Mode, c.Reason = mode, "forced by -watch "+string(mode)
		}
		plan = append(plan, c)
	}
	slices.SortFunc(plan, func(a, b Choice) int { return strings.Compare(a.Path, b.Path) })
	return plan, nil
}

// deepestRoot returns the longest of roots that contains path.
func deepestRoot(roots []string, path string) (string, bool) {
	best := ""
	for _, r := range roots {
		if watcher.Within(r, path) && len(r) > len(best) {
			best = r
		}
	}
	return best, best != ""
}

// loadIgnoreFiles reads the .gitignore files of dir and of every directory
// between root and it, outer first (as a walk from root would).
func loadIgnoreFiles(f *watcher.Filter, root, dir string) {
	var dirs []string
	for d := dir; watcher.Within(root, d); d = filepath.Dir(d) {
		dirs = append(dirs, d)
		if d == root || d == filepath.Dir(d) {
			break
		}
	}
	for _, d := range slices.Backward(dirs) {
		// A line that is not a pattern is reported by the backend that
		// walks the directory; here it is only skipped.
		f.LoadIgnoreFile(d)
	}
}
