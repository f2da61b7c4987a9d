package siteindex

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// tree writes files (slash paths → content) below dir.
func tree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// age sets every file's times an hour back, so that the baseline is not
// racy (a file written just now is re-read by every scan within the racy
// window, which would hide bugs in the stat comparison).
func age(t testing.TB, dir string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode()&os.ModeSymlink == 0 {
			os.Chtimes(p, old, old)
		}
		return nil
	})
}

func TestScan(t *testing.T) {
	base := map[string]string{
		"index.html":   "<h1>hi</h1>",
		"css/site.css": "h1{color:red}",
		"img/a.svg":    "<svg/>",
	}
	cases := []struct {
		name   string
		change func(t *testing.T, dir string)
		want   []Change
	}{
		{"nothing", func(t *testing.T, dir string) {}, nil},
		{"touch", func(t *testing.T, dir string) {
			now := time.Now()
			os.Chtimes(filepath.Join(dir, "css/site.css"), now, now)
		}, nil},
		{"chmod", func(t *testing.T, dir string) {
			os.Chmod(filepath.Join(dir, "index.html"), 0o600)
		}, nil},
		{"the same bytes written again", func(t *testing.T, dir string) {
			tree(t, dir, map[string]string{"index.html": "<h1>hi</h1>", "css/site.css": "h1{color:red}"})
		}, nil},
		{"the same bytes renamed into place", func(t *testing.T, dir string) {
			tree(t, dir, map[string]string{"css/.tmp": "h1{color:red}"})
			os.Rename(filepath.Join(dir, "css/.tmp"), filepath.Join(dir, "css/site.css"))
		}, nil},
		{"new content of the same size", func(t *testing.T, dir string) {
			tree(t, dir, map[string]string{"css/site.css": "h1{color:tan}"})
		}, []Change{{"css/site.css", Written}}},
		{"new content renamed into place", func(t *testing.T, dir string) {
			tree(t, dir, map[string]string{"css/.tmp": "h1{color:blue}"})
			os.Rename(filepath.Join(dir, "css/.tmp"), filepath.Join(dir, "css/site.css"))
		}, []Change{{"css/site.css", Written}}},
		{"created, in a new directory", func(t *testing.T, dir string) {
			tree(t, dir, map[string]string{"posts/new/index.html": "new", "b.css": ""})
		}, []Change{{"b.css", Created}, {"posts/new/index.html", Created}}},
		{"removed", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "index.html"))
		}, []Change{{"index.html", Removed}}},
		{"a directory removed", func(t *testing.T, dir string) {
			os.RemoveAll(filepath.Join(dir, "img"))
		}, []Change{{"img/a.svg", Removed}}},
		{"a file replaced by a directory", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "index.html"))
			tree(t, dir, map[string]string{"index.html/x": "x"})
		}, []Change{{"index.html", Removed}, {"index.html/x", Created}}},
		{"a file replaced by a symlink to the same content", func(t *testing.T, dir string) {
			tree(t, dir, map[string]string{"other.css": "h1{color:red}"})
			os.Remove(filepath.Join(dir, "css/site.css"))
			os.Symlink("../other.css", filepath.Join(dir, "css/site.css"))
		}, []Change{{"css/site.css", Written}, {"other.css", Created}}},
		{"repositories, node_modules and editor noise are skipped", func(t *testing.T, dir string) {
			tree(t, dir, map[string]string{".git/index": "x", "node_modules/a/b.js": "x", "css/.site.css.swp": "x", "css/site.css~": "x"})
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			tree(t, dir, base)
			age(t, dir)
			x := New(dir)
			first, err := x.Scan()
			if err != nil {
				t.Fatal(err)
			}
			if len(first) != len(base) || x.Len() != len(base) {
				t.Fatalf("baseline: %v, %d recorded; want %d created", first, x.Len(), len(base))
			}
			c.change(t, dir)
			got, err := x.Scan()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			// What a scan reports, it records: the next one sees nothing.
			if again, _ := x.Scan(); len(again) != 0 {
				t.Fatalf("a second scan reported %v", again)
			}
		})
	}
}

// TestRacyRecordIsReadAgain: a file rewritten within the clock tick of the
// scan that recorded it can keep its whole stat; a racy record is re-read
// however equal the stat looks. The equal stat is made by hand (a real
// same-tick rewrite cannot be forced).
func TestRacyRecordIsReadAgain(t *testing.T) {
	for _, racyRecord := range []bool{true, false} {
		t.Run(fmt.Sprintf("racy=%v", racyRecord), func(t *testing.T) {
			dir := t.TempDir()
			tree(t, dir, map[string]string{"a.css": "a{color:red}"})
			x := New(dir)
			if _, err := x.Scan(); err != nil {
				t.Fatal(err)
			}
			if e := x.files["a.css"]; !e.racy {
				t.Fatal("a file written just before its scan is not racy")
			}
			tree(t, dir, map[string]string{"a.css": "a{color:tan}"})
			fi, err := os.Lstat(filepath.Join(dir, "a.css"))
			if err != nil {
				t.Fatal(err)
			}
			x.files["a.css"].st = stateOf(fi) // as if the rewrite kept the stat
			x.files["a.css"].racy = racyRecord
			got, _ := x.Scan()
			if racyRecord && !slices.Equal(got, []Change{{"a.css", Written}}) {
				t.Fatalf("racy record: got %v, want the write", got)
			}
			if !racyRecord && len(got) != 0 {
				t.Fatalf("trusted equal stat: got %v (the test no longer shows why racy matters)", got)
			}
		})
	}
}

func TestRacyWindow(t *testing.T) {
	at := time.Unix(1000, 500_000_000)
	cases := []struct {
		mtime time.Time
		want  bool
	}{
		{at.Add(-racyWindow - time.Millisecond), false},
		{at.Add(-racyWindow + time.Millisecond), true},
		{at.Add(time.Second), true},
		{time.Unix(999, 0), true},  // whole seconds: FAT-like, the coarse window
		{time.Unix(997, 0), false}, // beyond it
	}
	for _, c := range cases {
		if got := racy(state{mtime: c.mtime.UnixNano()}, at); got != c.want {
			t.Errorf("mtime %v: racy %v, want %v", c.mtime, got, c.want)
		}
	}
}

func TestMissingDirectoryIsEmptyUntilCreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "public")
	x := New(dir)
	if got, err := x.Scan(); err != nil || len(got) != 0 {
		t.Fatalf("missing dir: %v, %v", got, err)
	}
	tree(t, dir, map[string]string{"index.html": "x"})
	if got, err := x.Scan(); err != nil || !slices.Equal(got, []Change{{"index.html", Created}}) {
		t.Fatalf("after creating it: %v, %v", got, err)
	}
	os.RemoveAll(dir)
	if got, err := x.Scan(); err != nil || !slices.Equal(got, []Change{{"index.html", Removed}}) {
		t.Fatalf("after removing it: %v, %v", got, err)
	}
}

func TestFilesOverTheHashLimitCompareByStat(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, map[string]string{"big.mp4": "0123456789"})
	age(t, dir)
	x := New(dir)
	x.maxHash = 4
	x.Scan()
	if got, _ := x.Scan(); len(got) != 0 {
		t.Fatalf("unchanged: %v", got)
	}
	tree(t, dir, map[string]string{"big.mp4": "0123456789"}) // same bytes, new mtime: cannot tell
	if got, _ := x.Scan(); !slices.Equal(got, []Change{{"big.mp4", Written}}) {
		t.Fatalf("rewritten: %v", got)
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{Created: "created", Written: "written", Removed: "removed", 9: "Op(9)"} {
		if op.String() != want {
			t.Errorf("%d: %q", op, op.String())
		}
	}
}

// benchTree is a served site of n files: 100 per directory, 1 KiB each.
func benchTree(b *testing.B, n int) string {
	dir := b.TempDir()
	body := make([]byte, 1024)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("d%03d", i/100), fmt.Sprintf("page%05d.html", i))
		if i%100 == 0 {
			os.MkdirAll(filepath.Dir(p), 0o755)
		}
		body[0] = byte(i)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	age(b, dir)
	return dir
}

const benchFiles = 10_000

// reportCPU reports CPU time per op alongside ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// BenchmarkScanBaseline: the first scan reads every file.
func BenchmarkScanBaseline(b *testing.B) {
	dir := benchTree(b, benchFiles)
	cpu := cpuTime()
	for b.Loop() {
		New(dir).Scan()
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(benchFiles), "files")
}

// BenchmarkScanUnchanged: the scan after a build that touched nothing — a
// stat per file, no reads.
func BenchmarkScanUnchanged(b *testing.B) {
	dir := benchTree(b, benchFiles)
	x := New(dir)
	x.Scan()
	cpu := cpuTime()
	for b.Loop() {
		if got, _ := x.Scan(); len(got) != 0 {
			b.Fatal(got)
		}
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(benchFiles), "files")
}

// BenchmarkScanOneChanged: a build that changed one stylesheet.
func BenchmarkScanOneChanged(b *testing.B) {
	dir := benchTree(b, benchFiles)
	x := New(dir)
	x.Scan()
	css := filepath.Join(dir, "site.css")
	i := 0
	cpu := cpuTime()
	for b.Loop() {
		i++
		os.WriteFile(css, fmt.Appendf(nil, "h1{order:%d}", i), 0o644)
		if got, _ := x.Scan(); len(got) != 1 {
			b.Fatal(got)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkScanAllRewritten: a build that rewrote every file with the bytes
// it had (a static site generator's full build): every file is read.
func BenchmarkScanAllRewritten(b *testing.B) {
	dir := benchTree(b, benchFiles)
	x := New(dir)
	x.Scan()
	for b.Loop() {
		b.StopTimer()
		age(b, filepath.Join(dir, "d000")) // new mtimes in one directory…
		t := time.Now().Add(-time.Minute)
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				os.Chtimes(p, t, t) // …and a new stat for every file
			}
			return nil
		})
		b.StartTimer()
		if got, _ := x.Scan(); len(got) != 0 {
			b.Fatal(got)
		}
	}
}
