package auto

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
		cache      time.Duration // what the poller is told of sshfs's attribute cache
	}{
		{"default", nil, "mount with -o dir_cache=no", "mounted with dir_cache=no", 20 * time.Second},
		{"dir_cache=no", []string{"dir_cache=no"}, "mounted with dir_cache=no", "mount with -o", 0},
		{"dcache_timeout=5", []string{"dcache_timeout=5"}, "mount with -o dir_cache=no", "mounted with dir_cache=no", 5 * time.Second},
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
			if len(plan) == 1 && plan[0].StatCache != tc.cache {
				t.Errorf("stat cache %v, want %v", plan[0].StatCache, tc.cache)
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

func TestSSHFSStatCache(t *testing.T) {
	for _, tc := range []struct {
		opts  map[string]string
		found bool
		want  time.Duration
	}{
		{nil, false, 20 * time.Second}, // its process not visible: sshfs's default
		{map[string]string{}, true, 20 * time.Second},
		{map[string]string{"dir_cache": "no"}, true, 0},
		{map[string]string{"cache": "no"}, true, 0},
		{map[string]string{"dcache_timeout": "5"}, true, 5 * time.Second},
		{map[string]string{"dcache_timeout": "5", "dcache_stat_timeout": "1.5"}, true, 1500 * time.Millisecond},
		{map[string]string{"cache_timeout": "60"}, true, time.Minute},
		{map[string]string{"dcache_timeout": "x"}, true, 20 * time.Second},
	} {
		if got := sshfsStatCache(tc.opts, tc.found); got != tc.want {
			t.Errorf("sshfsStatCache(%v, %v) = %v, want %v", tc.opts, tc.found, got, tc.want)
		}
	}
}
