package auto

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
)

// sshfsOptions finds the sshfs process serving the mount at point and
// returns its -o options (name → value, "" for a flag). found is false when
// no such process is visible (sshfs runs in another PID namespace, e.g. on
// the host of a container), and the caller must not guess. The mount's
// options are sshfs's own, not the kernel's: /proc/self/mountinfo does not
// have them, sshfs's command line does.
func sshfsOptions(point string) (opts map[string]string, found bool) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
	}
	point = filepath.Clean(point)
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil || len(raw) == 0 {
			continue
		}
		argv := strings.Split(string(bytes.TrimRight(raw, "\x00")), "\x00")
		if filepath.Base(argv[0]) != "sshfs" {
			continue
		}
		cwd, _ := os.Readlink(filepath.Join("/proc", p.Name(), "cwd"))
		if o, mnt, ok := parseSSHFSArgs(argv[1:]); ok && absFrom(cwd, mnt) == point {
			return o, true
		}
	}
	return nil, false
}

// parseSSHFSArgs parses sshfs's arguments: its options and the mount
// point (the second argument that is not an option, after [user@]host:dir).
func parseSSHFSArgs(args []string) (opts map[string]string, mnt string, ok bool) {
	opts = map[string]string{}
	var pos []string
	addOpts := func(list string) {
		for o := range strings.SplitSeq(list, ",") {
			k, v, _ := strings.Cut(o, "=")
			if k != "" {
				opts[k] = v
			}
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" && i+1 < len(args):
			i++
			addOpts(args[i])
		case strings.HasPrefix(a, "-o"):
			addOpts(a[2:])
		case a == "-p" || a == "-F":
			i++ // takes a value
		case strings.HasPrefix(a, "-"):
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) < 2 {
		return nil, "", false
	}
	return opts, pos[1], true
}

func absFrom(cwd, p string) string {
	if !filepath.IsAbs(p) && cwd != "" {
		p = filepath.Join(cwd, p)
	}
	return filepath.Clean(p)
}
