package mountinfo_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/reloadd/reloadd/internal/mountinfo"
	"github.com/reloadd/reloadd/internal/testenv"
)

// TestParseEscapes: the kernel writes space, tab, newline and backslash in
// mount points as \ooo; anything else that looks like an escape is kept.
func TestParseEscapes(t *testing.T) {
	for field, want := range map[string]string{
		`/tmp/a`:          "/tmp/a",
		`/tmp/a\040b`:     "/tmp/a b",
		`/tmp/a\134b`:     `/tmp/a\b`,
		`/tmp/a\04`:       `/tmp/a\04`,
		`/tmp/a\0x0`:      `/tmp/a\0x0`,
		`/tmp/\011tab\12`: "/tmp/\ttab\\12",
		`/tmp/\012nl`:     "/tmp/\nnl",
		`\`:               `\`,
		`/x\777`:          `/x\777`, // not a byte
		`/mnt/with\040`:   "/mnt/with ",
	} {
		line := "36 35 98:0 / " + field + " rw,noatime - ext3 /dev/root rw\n"
		ms, err := mountinfo.Parse(strings.NewReader(line))
		if err != nil || len(ms) != 1 {
			t.Errorf("Parse(%q) = %+v, %v", line, ms, err)
			continue
		}
		if ms[0].Point != want {
			t.Errorf("mount point %q parsed as %q, want %q", field, ms[0].Point, want)
		}
	}
}

// TestParseFields: optional fields (zero or more before the "-") do not
// shift the fields after it; lines without the mandatory fields are errors.
func TestParseFields(t *testing.T) {
	tests := []struct {
		line                  string
		id, parent            int
		point, fstype, source string
	}{
		{"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue", 36, 35, "/mnt2", "ext3", "/dev/root"},
		{"36 35 98:0 / /mnt2 rw - ext3 /dev/root rw", 36, 35, "/mnt2", "ext3", "/dev/root"},
		{"36 35 98:0 / /m rw shared:7 master:2 propagate_from:2 unbindable - fuse.sshfs u@h:/x\\040y rw", 36, 35, "/m", "fuse.sshfs", "u@h:/x y"},
		{"37 35 0:81 / /a\\040-\\040b rw - tmpfs none rw", 37, 35, "/a - b", "tmpfs", "none"},
	}
	for _, tc := range tests {
		ms, err := mountinfo.Parse(strings.NewReader(tc.line))
		if err != nil || len(ms) != 1 {
			t.Errorf("Parse(%q) = %+v, %v", tc.line, ms, err)
			continue
		}
		m := ms[0]
		if m.ID != tc.id || m.Parent != tc.parent || m.Point != tc.point || m.FSType != tc.fstype || m.Source != tc.source {
			t.Errorf("Parse(%q) = %+v", tc.line, m)
		}
	}
	for _, bad := range []string{
		"1 2 3",
		"1 2 0:1 / /a rw ext4 /dev/a rw",    // no separator
		"1 2 0:1 / /a rw x y - ext4 /dev/a", // nothing after the source
	} {
		if _, err := mountinfo.Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q) accepted a malformed line", bad)
		}
	}
}

// TestReadRealMount mounts a real tmpfs at a path with a space, a tab, a
// newline and a backslash in it, marked shared (so that its line carries an
// optional field), and finds it in this process's real mount table.
func TestReadRealMount(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sp ace\ttab\nnl\\bs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.Tmpfs(t, dir)
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make %q shared: %v", dir, err)
	}

	// The kernel's line for it really is escaped and has an optional field.
	escaped := strings.NewReplacer(" ", `\040`, "\t", `\011`, "\n", `\012`, `\`, `\134`).Replace(dir)
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for sc := bufio.NewScanner(strings.NewReader(string(raw))); sc.Scan(); {
		if f := strings.Fields(sc.Text()); len(f) > 4 && f[4] == escaped {
			line = sc.Text()
		}
	}
	if !strings.Contains(line, " shared:") {
		t.Fatalf("precondition: no shared line for %s in /proc/self/mountinfo:\n%s", escaped, raw)
	}

	for name, read := range map[string]func() ([]mountinfo.Mount, error){
		"Read":  mountinfo.Read,
		"Parse": func() ([]mountinfo.Mount, error) { return mountinfo.Parse(strings.NewReader(string(raw))) },
	} {
		ms, err := read()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		found := false
		for _, m := range ms {
			if m.Point == dir {
				found = true
				if m.FSType != "tmpfs" || m.Source != "reloadd-test" {
					t.Errorf("%s: %q parsed as %+v (line %q)", name, dir, m, line)
				}
			}
		}
		if !found {
			t.Errorf("%s: no mount at %q (line %q)", name, dir, line)
		}
	}
	if !mountinfo.IsMountPoint(dir) || !mountinfo.IsMountPoint(dir+"/") {
		t.Errorf("IsMountPoint(%q) = false", dir)
	}
	if mountinfo.IsMountPoint(filepath.Dir(dir)) {
		t.Errorf("IsMountPoint(%q) = true", filepath.Dir(dir))
	}
}
