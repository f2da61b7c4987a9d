package auto

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

// TestSSHFSDirCacheHint: the start-up reason for an sshfs mount advises
// -o dir_cache=no only when the mount does not have it, found from the
// sshfs process's command line (real sshfs mounts, both ways).
func TestSSHFSDirCacheHint(t *testing.T) {
	for _, tc := range []struct {
		name       string
		opts       []string
		want, dont string
	}{
		{"default", nil, "mount with -o dir_cache=no", "mounted with dir_cache=no"},
		{"dir_cache=no", []string{"dir_cache=no"}, "mounted with dir_cache=no", "mount with -o"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			src, mnt := filepath.Join(base, "src"), filepath.Join(base, "mnt")
			for _, d := range []string{src, mnt} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			testenv.SSHFS(t, src, mnt, tc.opts...)
			plan, err := Detect([]string{mnt})
			if err != nil {
				t.Fatal(err)
			}
			if len(plan) != 1 || plan[0].Mode != Poll || !strings.Contains(plan[0].Reason, tc.want) || strings.Contains(plan[0].Reason, tc.dont) {
				t.Errorf("plan = %+v; want a reason with %q and without %q", plan, tc.want, tc.dont)
			}
		})
	}
}

func TestParseSSHFSArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		mnt  string
		opt  string // an option that must be "no"
	}{
		{[]string{"-f", "-p", "2222", "-o", "IdentityFile=k,dir_cache=no", "u@h:/src", "/mnt"}, "/mnt", "dir_cache"},
		{[]string{"u@h:", "m", "-odir_cache=no,reconnect"}, "m", "dir_cache"},
		{[]string{"-o", "cache=no", "h:/x", "./rel/mnt"}, "./rel/mnt", "cache"},
	} {
		opts, mnt, ok := parseSSHFSArgs(tc.args)
		if !ok || mnt != tc.mnt || opts[tc.opt] != "no" {
			t.Errorf("parseSSHFSArgs(%q) = %v, %q, %v", tc.args, opts, mnt, ok)
		}
	}
	if _, _, ok := parseSSHFSArgs([]string{"-f", "h:/only"}); ok {
		t.Error("a command line without a mount point parsed")
	}
	if got := absFrom("/home/u", "rel/mnt"); got != "/home/u/rel/mnt" {
		t.Errorf("absFrom = %q", got)
	}
}
