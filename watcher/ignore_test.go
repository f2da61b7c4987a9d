package watcher

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

// gitignoreTable is what .gitignore files mean, row by row: each row is a
// tree with its .gitignore files, and paths marked "+" (ignored) or "-"
// (not ignored); a trailing "/" makes the path a directory. git decides
// (TestGitignoreMatchesGit checks each mark against `git check-ignore`,
// then the Filter against git on every path of the tree, parents too).
var gitignoreTable = []struct {
	name  string
	files map[string]string // directory ("" = the row's top) → its .gitignore
	paths []string
}{
	{"no slash: a name at any depth",
		map[string]string{"": "*.log\nbuild\n"},
		[]string{"+a.log", "+d/b.log", "-a.logx", "+build/", "+d/build", "-builds"}},
	{"negation re-includes",
		map[string]string{"": "*.log\n!keep.log\n"},
		[]string{"+a.log", "-keep.log", "-d/keep.log", "+d/x.log"}},
	{"the last matching line wins",
		map[string]string{"": "!keep.log\n*.log\n"},
		[]string{"+keep.log", "+a.log"}},
	{"leading slash anchors",
		map[string]string{"": "/top.txt\n"},
		[]string{"+top.txt", "-d/top.txt"}},
	{"a slash in the middle anchors",
		map[string]string{"": "doc/frotz\n"},
		[]string{"+doc/frotz", "-a/doc/frotz"}},
	{"a slash in the middle, with a glob: * stays in one directory",
		map[string]string{"": "doc/*.html\n"},
		[]string{"+doc/a.html", "-doc/sub/a.html", "-a/doc/b.html"}},
	{"trailing slash: directories only",
		map[string]string{"": "out/\n"},
		[]string{"+out/", "+out/a.js", "+d/out/", "+d/out/x", "-e/out"}},
	{"anchored directory",
		map[string]string{"": "/out/\n"},
		[]string{"+out/x", "-d/out/x"}},
	{"two trailing slashes: only one is the directory mark",
		map[string]string{"": "dd//\n"},
		[]string{"-dd/", "-dd/x"}},
	{"leading **/",
		map[string]string{"": "**/foo\n"},
		[]string{"+foo", "+a/foo", "+a/b/foo", "-foox"}},
	{"leading **/ with a slash after",
		map[string]string{"": "**/foo/bar\n"},
		[]string{"+foo/bar", "+a/foo/bar", "-foo/x/bar"}},
	{"trailing /** matches inside, not the directory itself",
		map[string]string{"": "abc/**\n"},
		[]string{"-abc/", "+abc/x", "+abc/d/x", "-xabc/x"}},
	{"trailing /** leaves room to re-include",
		map[string]string{"": "dist/**\n!dist/index.html\n"},
		[]string{"-dist/", "-dist/index.html", "+dist/app.js", "+dist/sub/index.html"}},
	{"/**/ in the middle: zero or more directories",
		map[string]string{"": "a/**/b\n"},
		[]string{"+a/b", "+a/x/b", "+a/x/y/b", "-a/xb", "-x/a/b"}},
	{"** not between slashes is *",
		map[string]string{"": "a**b\nx/c**d\n"},
		[]string{"+ab", "+axxb", "-a/b", "+x/cd", "+x/cqd", "-x/c/d"}},
	{"** after a literal, before a slash: git treats it as **/",
		map[string]string{"": "x/a**/b\n"},
		[]string{"+x/a/b", "+x/ab/b", "+x/a/q/b"}},
	{"**/ alone: every directory",
		map[string]string{"": "**/\n"},
		[]string{"+d/", "-f"}},
	{"**/name/",
		map[string]string{"": "**/cache/\n"},
		[]string{"+cache/", "+a/cache/", "-b/cache"}},
	{"character classes",
		map[string]string{"": "[abc].txt\n[!abc].md\n[^x]y\n[a-c]z\n"},
		[]string{"+a.txt", "-d.txt", "+d.md", "-a.md", "+ay", "-xy", "+bz", "-dz"}},
	{"] first in a class, - last or first",
		map[string]string{"": "[]]q\n[a-]r\n[-b]s\n"},
		[]string{"+]q", "+-r", "+ar", "-br", "+-s", "+bs"}},
	{"POSIX classes",
		map[string]string{"": "[[:digit:]]d\n[[:upper:][:punct:]]u\n"},
		[]string{"+5d", "-xd", "+Xu", "+_u", "-xu"}},
	{"an unknown POSIX class matches nothing",
		map[string]string{"": "[[:nope:]]x\n*.ok\n"},
		[]string{"-ax", "+a.ok"}},
	{"[: without :] is a plain class",
		map[string]string{"": "[[:a]n\n"},
		[]string{"+[n", "+:n", "+an", "-bn"}},
	{"an unclosed class matches nothing",
		map[string]string{"": "[ab\n*.ok\n"},
		[]string{"-[ab", "-a", "+a.ok"}},
	{"? is one byte",
		map[string]string{"": "?.q\n"},
		[]string{"+a.q", "-ab.q", "-é.q"}},
	{"escapes: \\#, \\!, \\*, \\[",
		map[string]string{"": "\\#hash\n\\!bang\nlit\\*\n\\[!x]\n"},
		[]string{"+#hash", "+!bang", "+lit*", "-litx", "+[!x]", "-[^x]", "-y"}},
	{"trailing spaces are dropped unless escaped",
		map[string]string{"": "trail   \nsp\\ \nsp2\\  \n"},
		[]string{"+trail", "-trail ", "+sp ", "-sp", "+sp2 "}},
	{"a trailing backslash matches nothing",
		map[string]string{"": "end\\\n*.ok\n"},
		[]string{"-end", "-end\\", "+a.ok"}},
	{"an escaped backslash, then a trailing space",
		map[string]string{"": "bs\\\\ \n"},
		[]string{"+bs\\", "-bs\\ "}},
	{"comments and blank lines",
		map[string]string{"": "# c\n\n   \n#x\n  #y\n"},
		[]string{"-#x", "-# c", "+  #y"}},
	{"lines that match nothing",
		map[string]string{"": "/\n!\n!/\n"},
		[]string{"-a", "-d/"}},
	{"CRLF line ends, a byte order mark",
		map[string]string{"": "\ufeff*.bom\r\n*.crlf\r\nx \r\n"},
		[]string{"+a.bom", "+a.crlf", "+x"}},
	{"an escaped slash is a slash",
		map[string]string{"": "a\\/b\n"},
		[]string{"+a/b", "-x/a/b"}},
	{"case matters",
		map[string]string{"": "*.LOG\nMake\n"},
		[]string{"-a.log", "+a.LOG", "-make", "+Make"}},
	{"re-include a directory, then everything in it but one",
		map[string]string{"": "/*\n!/src/\n/src/*\n!/src/keep\n"},
		[]string{"+a", "-src/", "+src/b", "-src/keep"}},
	{"ignore all files, keep directories and *.c",
		map[string]string{"": "*\n!*/\n!*.c\n"},
		[]string{"-d/", "-d/a.c", "+d/a.h", "+a.h"}},
	{"a file cannot be re-included if its directory is excluded",
		map[string]string{"": "build/\n!build/keep\n"},
		[]string{"+build/", "+build/keep"}},
	{"a deeper .gitignore overrides a shallower one",
		map[string]string{"": "*.tmp\n", "sub": "!*.tmp\n"},
		[]string{"+a.tmp", "-sub/a.tmp", "-sub/d/a.tmp"}},
	{"a deeper .gitignore re-includes a directory",
		map[string]string{"": "tmp\n", "a": "!tmp\n"},
		[]string{"+tmp/", "-a/tmp/", "-a/tmp/f"}},
	{"a .gitignore inside an excluded directory is never read",
		map[string]string{"": "gen/\n", "gen": "!x\n"},
		[]string{"+gen/x"}},
	{"a deeper .gitignore anchors at its own directory",
		map[string]string{"sub": "/x\nd/y\n"},
		[]string{"+sub/x", "-x", "-sub/d2/x", "+sub/d/y", "-sub/e/d/y"}},
	{"a deeper .gitignore cannot reach above itself",
		map[string]string{"sub": "../a\n/sub/b\n"},
		[]string{"-a", "-sub/b", "-sub/sub/c"}},
}

func TestGitignoreMatchesGit(t *testing.T) {
	dir := t.TempDir()
	repo := newGitRepo(t, dir)
	type mark struct {
		row  int
		want bool
	}
	marks := map[string]mark{} // path in the repository → the table's mark
	all := ignoreTree{files: map[string]string{}}
	for i, row := range gitignoreTable {
		top := fmt.Sprintf("r%02d", i)
		for d, text := range row.files {
			all.files[strings.TrimSuffix(top+"/"+d, "/")] = text
		}
		for _, p := range row.paths {
			want := strings.HasPrefix(p, "+")
			if !want && !strings.HasPrefix(p, "-") {
				t.Fatalf("row %q: path %q is not marked + or -", row.name, p)
			}
			all.paths = append(all.paths, top+"/"+p[1:])
			marks[top+"/"+strings.TrimSuffix(p[1:], "/")] = mark{i, want}
		}
	}
	nodes, fromGit, fromFilter, err := repo.judge(all, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range slices.Sorted(maps.Keys(marks)) {
		if m := marks[rel]; fromGit[rel] != m.want {
			t.Errorf("table row %q: the table says %s is ignored=%v, git says %v",
				gitignoreTable[m.row].name, rel, m.want, fromGit[rel])
		}
	}
	for _, n := range nodes {
		if fromFilter[n.rel] != fromGit[n.rel] {
			var i int
			fmt.Sscanf(n.rel, "r%d", &i)
			row := gitignoreTable[i]
			t.Errorf("row %q, .gitignore files %q: %s (dir=%v): Filter says ignored=%v, git says %v",
				row.name, row.files, n.rel, n.isDir, fromFilter[n.rel], fromGit[n.rel])
		}
	}
}

// TestGitignoreSymlinkNotFollowed: git does not read a .gitignore that is a
// symbolic link (since 2.32), so neither does the Filter.
func TestGitignoreSymlinkNotFollowed(t *testing.T) {
	dir := t.TempDir()
	repo := newGitRepo(t, dir)
	tr := ignoreTree{files: map[string]string{"": "*.y\n"}, paths: []string{"s/a.x", "s/a.y"}}
	if err := os.Mkdir(filepath.Join(dir, "s"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "s", "rules"), []byte("*.x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("rules", filepath.Join(dir, "s", IgnoreFile)); err != nil {
		t.Fatal(err)
	}
	_, fromGit, fromFilter, err := repo.judge(tr, "")
	if err != nil {
		t.Fatal(err)
	}
	if fromGit["s/a.x"] || !fromGit["s/a.y"] {
		t.Fatalf("precondition: git says %v; want s/a.x kept (the symlinked .gitignore is not read), s/a.y ignored", fromGit)
	}
	for _, p := range []string{"s/a.x", "s/a.y"} {
		if fromFilter[p] != fromGit[p] {
			t.Errorf("%s: Filter says ignored=%v, git says %v", p, fromFilter[p], fromGit[p])
		}
	}
}

// fuzzRepo is the scratch repository a test process shares between fuzz
// inputs (git init per input would cost more than the check); each input
// gets a directory of its own in it. When fuzzing, TestMain makes one for
// all the worker processes (fuzzRepoEnv names it) and removes it at the end.
var fuzzRepo struct {
	once sync.Once
	repo *gitRepo
	err  error
	n    atomic.Int64
}

const fuzzRepoEnv = "RELOADD_GITIGNORE_FUZZ_REPO"

// FuzzGitignore compares the Filter with `git check-ignore` on generated
// .gitignore files (one at the top, one in the directory "a") and paths.
// Run it for a few seconds with
//
//	go test ./watcher -run '^$' -fuzz FuzzGitignore -fuzztime 20s
//
// The seed corpus runs in every `go test`.
func FuzzGitignore(f *testing.F) {
	seeds := []struct{ top, sub, paths string }{
		{"*.log\n!keep.log\n", "!*.log\n", "x.log\nkeep.log\na/y.log\nb/keep.log"},
		{"dist/**\n!dist/index.html\n", "", "dist/index.html\ndist/app.js\ndist/sub/x"},
		{"/*\n!/src/\n/src/*\n!/src/keep\n", "", "a\nsrc/b\nsrc/keep"},
		{"a/**/b\n**/c/\nd/**\n", "", "a/b\na/x/y/b\nc/\nq/c/\nd/e/f"},
		{"x/a**/b\n[!a-c]?\n", "", "x/a/q/b\nx/ab\nab\nzq"},
		{"[]a-]x\n[[:alpha:][:digit:]]y\n[[:a]z\n", "", "]x\n-x\nay\n5y\n:z\n[z"},
		{"\\#h\n\\!b\nsp\\ \\  \nbs\\\\ \n", "", "#h\n!b\nsp  \nbs\\"},
		{"\xef\xbb\xbf*.bom\r\nc\x00rest\n", "/top\nsub/\n", "x.bom\nc\ncrest\na/top\na/sub/z\ntop"},
		{"*\n!*/\n!*.c\n", "*.c\n", "d/a.c\nd/a.h\na/b.c"},
		{"build/\n!build/keep\n", "", "build/keep\nbuild/\na/build/x"},
		{"**/\n", "", "d/\nf"},
		{"a\\/b\n?\n", "", "a/b\nx\nxy\n\xc3\xa9"},
	}
	for _, s := range seeds {
		f.Add(s.top, s.sub, s.paths)
	}
	f.Fuzz(func(t *testing.T, top, sub, pathList string) {
		if len(top)+len(sub)+len(pathList) > 1024 {
			t.Skip("keep inputs small: each is judged by a git process")
		}
		testenv.Need(t, "git")
		fuzzRepo.once.Do(func() {
			if dir := os.Getenv(fuzzRepoEnv); dir != "" {
				fuzzRepo.repo, fuzzRepo.err = openGitRepo(dir)
				return
			}
			dir, err := os.MkdirTemp("", "reloadd-gitignore-")
			if err != nil {
				fuzzRepo.err = err
				return
			}
			fuzzRepo.repo, fuzzRepo.err = initGitRepo(dir)
			if fuzzRepo.repo == nil {
				os.RemoveAll(dir)
			}
		})
		if fuzzRepo.err != nil {
			t.Fatal(fuzzRepo.err)
		}
		repo := fuzzRepo.repo
		base := fmt.Sprintf("p%d-%d", os.Getpid(), fuzzRepo.n.Add(1))
		t.Cleanup(func() { os.RemoveAll(filepath.Join(repo.dir, base)) })

		tr := ignoreTree{files: map[string]string{base: top, base + "/a": sub}}
		for _, p := range append(fuzzPaths(pathList), likelyMatches(top+"\n"+sub)...) {
			tr.paths = append(tr.paths, base+"/"+p, base+"/a/"+p)
		}
		nodes, fromGit, fromFilter, err := repo.judge(tr, base)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if fromFilter[n.rel] != fromGit[n.rel] {
				t.Errorf("%s/.gitignore %q, a/.gitignore %q: %s (dir=%v): Filter says ignored=%v, git says %v",
					base, top, sub, n.rel, n.isDir, fromFilter[n.rel], fromGit[n.rel])
			}
		}
	})
}

// fuzzPaths turns newline-separated text into at most 12 usable relative
// paths: no empty, ".", ".." or .git elements, no NUL, at most four
// elements of at most 16 bytes.
func fuzzPaths(list string) []string {
	var out []string
	for _, line := range strings.Split(list, "\n") {
		dir := strings.HasSuffix(line, "/")
		var elems []string
		for _, e := range strings.Split(line, "/") {
			e = strings.ReplaceAll(e, "\x00", "_")
			if len(e) > 16 {
				e = e[:16]
			}
			if e == "" || e == "." || e == ".." || e == ".git" || e == IgnoreFile {
				continue
			}
			elems = append(elems, e)
		}
		if len(elems) == 0 {
			continue
		}
		p := strings.Join(elems[:min(len(elems), 4)], "/")
		if dir {
			p += "/"
		}
		if out = append(out, p); len(out) == 12 {
			break
		}
	}
	return out
}

// likelyMatches makes, from each pattern line, a path it probably matches
// (glob characters replaced by plain ones), so that the fuzzer does not
// have to guess names.
func likelyMatches(lines string) []string {
	r := strings.NewReplacer("**", "d", "*", "x", "?", "q", "\\", "", "[", "", "]", "", "!", "")
	var out []string
	for _, l := range strings.Split(lines, "\n") {
		l = strings.TrimLeft(strings.TrimSpace(l), "!/")
		out = append(out, fuzzPaths(r.Replace(l))...)
	}
	return out[:min(len(out), 12)]
}

var (
	randomSeed  = flag.Int64("gitignore.seed", 1, "seed of TestGitignoreRandomTrees")
	randomTrees = flag.Int("gitignore.trees", 150, "number of trees TestGitignoreRandomTrees makes")
)

// TestGitignoreRandomTrees compares the Filter with git on many small
// random trees at once (one git process for all of them): patterns and
// names built from a few pieces, so that they often meet. The fuzz test
// explores further, one git process per input; this one is cheap enough
// to run every time. Try other seeds with -gitignore.seed=N
// -gitignore.trees=5000.
func TestGitignoreRandomTrees(t *testing.T) {
	rnd := rand.New(rand.NewPCG(uint64(*randomSeed), 0))
	pick := func(s []string) string { return s[rnd.IntN(len(s))] }
	pieces := []string{"a", "b", "ab", "*", "**", "?", "/", "[ab]", "[!a]", "[a-c]", "[]a]", `\*`, `\ `, " ", "!", ".", "-", "[[:alpha:]]"}
	names := []string{"a", "b", "ab", "ba", "aa", "c", ".a", "a b", "*", "a*", "[ab]", "!a", "-", "b ", "]a"}
	line := func() string {
		var b strings.Builder
		if rnd.IntN(4) == 0 {
			b.WriteString("!")
		}
		if rnd.IntN(4) == 0 {
			b.WriteString("/")
		}
		for range 1 + rnd.IntN(4) {
			b.WriteString(pick(pieces))
		}
		if rnd.IntN(4) == 0 {
			b.WriteString("/")
		}
		return b.String()
	}
	file := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(line() + "\n")
		}
		return b.String()
	}
	path := func() string {
		elems := make([]string, 1+rnd.IntN(3))
		for i := range elems {
			elems[i] = pick(names)
		}
		p := strings.Join(elems, "/")
		if rnd.IntN(3) == 0 {
			p += "/"
		}
		return p
	}
	dir := t.TempDir()
	repo := newGitRepo(t, dir)
	all := ignoreTree{files: map[string]string{}}
	for i := range *randomTrees {
		top := fmt.Sprintf("t%04d", i)
		all.files[top] = file(1 + rnd.IntN(4))
		all.files[top+"/a"] = file(rnd.IntN(3))
		for range 8 {
			all.paths = append(all.paths, top+"/"+path())
		}
	}
	nodes, fromGit, fromFilter, err := repo.judge(all, "")
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for _, n := range nodes {
		if fromFilter[n.rel] != fromGit[n.rel] {
			top, _, _ := strings.Cut(n.rel, "/")
			t.Errorf("%s/.gitignore %q, a/.gitignore %q: %s (dir=%v): Filter says ignored=%v, git says %v",
				top, all.files[top], all.files[top+"/a"], n.rel, n.isDir, fromFilter[n.rel], fromGit[n.rel])
			if bad++; bad == 20 {
				t.Fatal("too many mismatches")
			}
		}
	}
}

// TestGlobPathological: patterns that make a backtracking matcher take
// exponential time finish at once (the test would hang otherwise).
func TestGlobPathological(t *testing.T) {
	deep := strings.Repeat("a/", 100)
	tests := []struct {
		pat, path string
		want      bool
	}{
		{strings.Repeat("**/", 8) + "b", deep + "c", false},
		{strings.Repeat("**/", 8) + "b", deep + "b", true},
		{"x/" + strings.Repeat("**/a*", 8) + "b", "x/" + strings.Repeat("aaaaaaa/", 25) + "c", false},
		{strings.Repeat("*a", 15) + "*b", strings.Repeat("a", 200), false},
		{strings.Repeat("*a", 15) + "*b", strings.Repeat("a", 200) + "b", true},
	}
	for _, tc := range tests {
		p, ok, err := compilePattern(tc.pat)
		if !ok || err != nil {
			t.Fatalf("compilePattern(%q) = %v, %v", tc.pat, ok, err)
		}
		if got := p.match(tc.path, false); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.pat, tc.path, got, tc.want)
		}
	}
}

// BenchmarkFilterIgnored: one Ignored call, as the backends make for every
// event and every entry they walk, with the defaults and a typical
// project's .gitignore.
func BenchmarkFilterIgnored(b *testing.B) {
	root := b.TempDir()
	gitignore := "node_modules/\n/dist/\n/build\n*.log\n.env*\n!.env.example\ncoverage/\n" +
		"*.tmp\n.DS_Store\n/public/**/*.map\n**/__pycache__/\n*.py[cod]\n.cache/\ntarget/\n"
	if err := os.WriteFile(filepath.Join(root, IgnoreFile), []byte(gitignore), 0o644); err != nil {
		b.Fatal(err)
	}
	f := DefaultFilter()
	if err := f.LoadIgnoreFile(root); err != nil {
		b.Fatal(err)
	}
	paths := []string{"src/app/main.ts", "src/components/button/Button.tsx", "public/css/site.css",
		"public/js/app.js.map", "docs/guide/intro.md", "server/handlers/user.go"}
	for i, p := range paths {
		paths[i] = filepath.Join(root, p)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f.Ignored(paths[i%len(paths)], false)
	}
}
