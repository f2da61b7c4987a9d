package watchertest

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

// action is one filesystem operation, paths relative to the root
// (slash-separated; "../outside/x" leaves the watched tree).
type action func(t *testing.T, root string)

func abs(root, rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// do runs actions in order.
func do(as ...action) func(t *testing.T, root string) {
	return func(t *testing.T, root string) {
		t.Helper()
		for _, a := range as {
			a(t, root)
		}
	}
}

// write writes data to rel in place (open with O_TRUNC, write, close),
// creating parent directories.
func write(rel, data string) action {
	return func(t *testing.T, root string) {
		t.Helper()
		p := abs(root, rel)
		check(t, os.MkdirAll(filepath.Dir(p), 0o755))
		check(t, os.WriteFile(p, []byte(data), 0o644))
	}
}

// appendTo appends data to rel.
func appendTo(rel, data string) action {
	return func(t *testing.T, root string) {
		t.Helper()
		f, err := os.OpenFile(abs(root, rel), os.O_WRONLY|os.O_APPEND, 0)
		check(t, err)
		_, err = f.WriteString(data)
		check(t, err)
		check(t, f.Close())
	}
}

// truncWrite is VS Code's save: truncate the file, then write it, as two
// separate system calls.
func truncWrite(rel, data string) action {
	return func(t *testing.T, root string) {
		t.Helper()
		f, err := os.OpenFile(abs(root, rel), os.O_WRONLY, 0)
		check(t, err)
		check(t, f.Truncate(0))
		_, err = f.WriteAt([]byte(data), 0)
		check(t, err)
		check(t, f.Close())
	}
}

func remove(rel string) action {
	return func(t *testing.T, root string) { t.Helper(); check(t, os.Remove(abs(root, rel))) }
}

func removeAll(rel string) action {
	return func(t *testing.T, root string) { t.Helper(); check(t, os.RemoveAll(abs(root, rel))) }
}

func rename(from, to string) action {
	return func(t *testing.T, root string) {
		t.Helper()
		check(t, os.MkdirAll(filepath.Dir(abs(root, to)), 0o755))
		check(t, os.Rename(abs(root, from), abs(root, to)))
	}
}

func mkdir(rel string) action {
	return func(t *testing.T, root string) { t.Helper(); check(t, os.MkdirAll(abs(root, rel), 0o755)) }
}

func touch(rel string) action {
	return func(t *testing.T, root string) {
		t.Helper()
		now := time.Now()
		check(t, os.Chtimes(abs(root, rel), now, now))
	}
}

func chmod(rel string, mode os.FileMode) action {
	return func(t *testing.T, root string) { t.Helper(); check(t, os.Chmod(abs(root, rel), mode)) }
}

func symlink(target, rel string) action {
	return func(t *testing.T, root string) { t.Helper(); check(t, os.Symlink(target, abs(root, rel))) }
}

// seq returns n writes of distinct content to rel, the last one data.
func seq(rel string, n int, data string) action {
	return func(t *testing.T, root string) {
		t.Helper()
		for i := range n - 1 {
			write(rel, fmt.Sprintf("draft %d", i))(t, root)
		}
		write(rel, data)(t, root)
	}
}

func ch(op watcher.Op, paths ...string) []Change {
	out := make([]Change, len(paths))
	for i, p := range paths {
		out[i] = Change{Path: p, Op: op}
	}
	return out
}

func changes(groups ...[]Change) []Change {
	var out []Change
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

var (
	create = watcher.Create
	wrote  = watcher.Write
	gone   = watcher.Remove
)

// Cases returns the conformance cases, fresh each call (callers may filter
// or change them).
func Cases() []Case {
	page := map[string]string{"index.html": "<h1>one</h1>", "css/site.css": "h1{}"}
	nested := map[string]string{"d/x.html": "x", "d/sub/y.html": "y", "keep.html": "k"}
	return []Case{
		// Files.
		{Name: "create file", Steps: []Step{{Do: do(write("new.html", "new")), Want: ch(create, "new.html")}}},
		{Name: "create empty file", Steps: []Step{{Do: do(write("empty.txt", "")), Want: ch(create, "empty.txt")}}},
		{Name: "create dotfile", Steps: []Step{{Do: do(write(".env", "A=1")), Want: ch(create, ".env")}}},
		{Name: "write file", Tree: page, Steps: []Step{{Do: do(write("index.html", "<h1>two</h1>")), Want: ch(wrote, "index.html")}}},
		{Name: "append to file", Tree: page, Steps: []Step{{Do: do(appendTo("index.html", "<p>more</p>")), Want: ch(wrote, "index.html")}}},
		{Name: "truncate to empty", Tree: page, Steps: []Step{{Do: do(write("css/site.css", "")), Want: ch(wrote, "css/site.css")}}},
		{Name: "truncate then write (VS Code)", Tree: page, Steps: []Step{{Do: do(truncWrite("index.html", "<h1>vs</h1>")), Want: ch(wrote, "index.html")}}},
		{Name: "many writes to one file", Tree: page, Steps: []Step{{Do: do(seq("index.html", 30, "<h1>final</h1>")), Want: ch(wrote, "index.html")}}},
		{Name: "remove file", Tree: page, Steps: []Step{{Do: do(remove("index.html")), Want: ch(gone, "index.html")}}},
		{Name: "rename file", Tree: page, Steps: []Step{{Do: do(rename("index.html", "home.html")),
			Want: changes(ch(gone, "index.html"), ch(create, "home.html"))}}},
		{Name: "rename file chain", Tree: page, Steps: []Step{{Do: do(rename("index.html", "a.html"), rename("a.html", "b.html")),
			Want: changes(ch(gone, "index.html"), ch(create, "b.html"))}}},
		{Name: "move file between directories", Tree: map[string]string{"a/x.html": "x", "b/": ""}, Steps: []Step{{
			Do: do(rename("a/x.html", "b/x.html")), Want: changes(ch(gone, "a/x.html"), ch(create, "b/x.html"))}}},
		{Name: "rename over file, new bytes", Tree: map[string]string{"a.html": "a", "b.html": "b"}, Steps: []Step{{
			Do: do(rename("a.html", "b.html")), Want: changes(ch(gone, "a.html"), ch(wrote, "b.html"))}}},
		{Name: "rename over file, same bytes", Tree: map[string]string{"a.html": "same", "b.html": "same"}, Steps: []Step{{
			Do: do(rename("a.html", "b.html")), Want: ch(gone, "a.html")}}},
		{Name: "swap two files", Tree: map[string]string{"a.html": "a", "b.html": "b"}, Steps: []Step{{
			Do:   do(rename("a.html", "swap.tmp"), rename("b.html", "a.html"), rename("swap.tmp", "b.html")),
			Want: ch(wrote, "a.html", "b.html")}}},
		{Name: "remove and recreate with new bytes", Tree: page, Steps: []Step{{
			Do: do(remove("index.html"), write("index.html", "<h1>new</h1>")), Want: ch(wrote, "index.html")}}},
		{Name: "file moved in from outside", Tree: page, Steps: []Step{{
			Do: do(write("../outside/in.html", "in"), rename("../outside/in.html", "in.html")), Want: ch(create, "in.html")}}},
		{Name: "file moved out", Tree: page, Steps: []Step{
			{Do: do(rename("index.html", "../outside/index.html")), Want: ch(gone, "index.html")},
			{Name: "write the moved-out file", Do: do(write("../outside/index.html", "away"))},
		}},

		// No content change, no build.
		{Name: "touch", Tree: page, Steps: []Step{{Do: do(touch("index.html"))}}},
		{Name: "chmod", Tree: page, Steps: []Step{{Do: do(chmod("index.html", 0o600))}}},
		{Name: "rewrite same bytes", Tree: page, Steps: []Step{{Do: do(write("index.html", "<h1>one</h1>"))}}},
		{Name: "rewrite same bytes by rename", Tree: page, Steps: []Step{{
			Do: do(write("index.html.tmp", "<h1>one</h1>"), rename("index.html.tmp", "index.html"))}}},
		{Name: "temp file created and removed", Tree: page, Steps: []Step{{
			Do: do(write("sedAb12Cd", "tmp"), remove("sedAb12Cd"), write(".index.html.Xy12ab", "rsync"), remove(".index.html.Xy12ab"))}}},
		{Name: "create then change then same again", Tree: page, Steps: []Step{
			{Do: do(write("new.html", "1")), Want: ch(create, "new.html")},
			{Name: "touch the new file", Do: do(touch("new.html"), chmod("new.html", 0o600))},
			{Name: "rewrite the new file", Do: do(write("new.html", "2")), Want: ch(wrote, "new.html")},
		}},

		// Editor saves, replayed system call by system call.
		{Name: "vim save, backupcopy=no", Tree: page, Steps: []Step{{
			Do: do(write("4913", ""), remove("4913"), rename("index.html", "index.html~"),
				write("index.html", "<h1>vim</h1>"), chmod("index.html", 0o644), remove("index.html~")),
			Want: ch(wrote, "index.html")}}},
		{Name: "vim save, backupcopy=yes", Tree: page, Steps: []Step{{
			Do: do(write(".index.html.swp", "swap"), write("index.html~", "<h1>one</h1>"), truncWrite("index.html", "<h1>vim</h1>"),
				remove("index.html~"), remove(".index.html.swp")),
			Want: ch(wrote, "index.html")}}},
		{Name: "emacs save", Tree: page, Steps: []Step{{
			Do: do(symlink("root@host.1234:1700000000", ".#index.html"), rename("index.html", "index.html~"),
				write("index.html", "<h1>emacs</h1>"), remove(".#index.html")),
			Want: ch(wrote, "index.html")}}},
		{Name: "JetBrains safe write", Tree: page, Steps: []Step{{
			Do: do(write("index.html___jb_tmp___", "<h1>idea</h1>"), rename("index.html", "index.html___jb_old___"),
				rename("index.html___jb_tmp___", "index.html"), remove("index.html___jb_old___")),
			Want: ch(wrote, "index.html")}}},
		{Name: "sed -i", Tree: page, Steps: []Step{{
			Do: do(write("sedX1y2Z3", "<h1>sed</h1>"), rename("sedX1y2Z3", "index.html")), Want: ch(wrote, "index.html")}}},

		// Noise and ignore rules.
		{Name: "editor noise ignored", Tree: page, Steps: []Step{{
			Do: do(write("4913", ""), write("index.html~", "b"), write(".index.html.swp", "s"), write(".index.html.swx", "s"),
				symlink("x", ".#index.html"), write("#index.html#", "a"), write("index.html___jb_tmp___", "j"),
				write("index.html___jb_old___", "j"), write(".DS_Store", "d"), write(".goutputstream-AB12CD", "g"),
				write("index.html.kate-swp", "k"))}}},
		{Name: "ignored directories", Tree: map[string]string{"node_modules/pkg/index.js": "1", ".git/HEAD": "ref", "index.html": "i"}, Steps: []Step{{
			Do: do(write("node_modules/pkg/index.js", "2"), write("node_modules/new/x.js", "x"), write(".git/HEAD", "ref2"),
				write(".git/objects/ab/cdef", "obj"), write("sub/node_modules/y.js", "y"), write("index.html", "j")),
			Want: ch(wrote, "index.html")}}},
		{Name: "ignore patterns", Ignore: []string{"*.log", "build/", "/only-top.txt"}, Steps: []Step{{
			Do: do(write("debug.log", "l"), write("build/out.js", "o"), write("sub/build/x.js", "x"), write("only-top.txt", "t"),
				write("sub/only-top.txt", "s"), write("keep.html", "k")),
			Want: ch(create, "keep.html", "sub/only-top.txt")}}},
		{Name: ".gitignore files honoured", Tree: map[string]string{
			".gitignore": "dist/\n*.tmp\n", "sub/.gitignore": "local.txt\n", "dist/app.js": "1", "sub/a.txt": "a"}, Steps: []Step{{
			Do: do(write("dist/app.js", "2"), write("dist/new/x.js", "x"), write("a.tmp", "t"), write("sub/b.tmp", "t"),
				write("sub/local.txt", "l"), write("local.txt", "top"), write("sub/a.txt", "b")),
			Want: changes(ch(create, "local.txt"), ch(wrote, "sub/a.txt"))}}},

		// Directories.
		{Name: "new nested directories", Steps: []Step{
			{Do: do(write("a/b/c/f.html", "f")), Want: ch(create, "a/b/c/f.html")},
			{Name: "write into the new directories later", Do: do(write("a/b/c/g.html", "g"), write("a/h.html", "h")),
				Want: ch(create, "a/b/c/g.html", "a/h.html")},
		}},
		{Name: "empty directory filled later", Steps: []Step{
			{Do: do(mkdir("d/e"))},
			{Name: "fill it", Do: do(write("d/e/f.html", "f")), Want: ch(create, "d/e/f.html")},
		}},
		{Name: "directory renamed within the tree", Tree: nested, Steps: []Step{
			{Do: do(rename("d", "e")), Want: changes(ch(gone, "d/x.html", "d/sub/y.html"), ch(create, "e/x.html", "e/sub/y.html"))},
			{Name: "write under the new name", Do: do(write("e/sub/y.html", "y2"), write("e/z.html", "z")),
				Want: changes(ch(wrote, "e/sub/y.html"), ch(create, "e/z.html"))},
		}},
		{Name: "directory moved into a subdirectory", Tree: map[string]string{"a/x.html": "x", "a/s/y.html": "y", "b/k.html": "k"}, Steps: []Step{
			{Do: do(rename("a", "b/a")), Want: changes(ch(gone, "a/x.html", "a/s/y.html"), ch(create, "b/a/x.html", "b/a/s/y.html"))},
			{Name: "write in the moved directory", Do: do(write("b/a/s/y.html", "y2")), Want: ch(wrote, "b/a/s/y.html")},
		}},
		{Name: "directory renamed then written at once", Tree: nested, Steps: []Step{{
			Do: do(rename("d", "e"), write("e/x.html", "x2")), Want: changes(ch(gone, "d/x.html", "d/sub/y.html"), ch(create, "e/x.html", "e/sub/y.html"))}}},
		{Name: "directory moved in from outside", Steps: []Step{
			{Do: do(write("../outside/o/x.html", "x"), write("../outside/o/sub/y.html", "y"), rename("../outside/o", "o")),
				Want: ch(create, "o/x.html", "o/sub/y.html")},
			{Name: "write in the moved-in directory", Do: do(write("o/sub/y.html", "y2"), write("o/sub/z.html", "z")),
				Want: changes(ch(wrote, "o/sub/y.html"), ch(create, "o/sub/z.html"))},
		}},
		{Name: "directory moved out", Tree: nested, Steps: []Step{
			{Do: do(rename("d", "../outside/d")), Want: ch(gone, "d/x.html", "d/sub/y.html")},
			{Name: "write in the moved-out directory", Do: do(write("../outside/d/sub/y.html", "y2"), write("../outside/d/new.html", "n"))},
		}},
		{Name: "directory deleted", Tree: nested, Steps: []Step{{Do: do(removeAll("d")), Want: ch(gone, "d/x.html", "d/sub/y.html")}}},
		{Name: "directory deleted and recreated", Tree: map[string]string{"d/x.html": "1", "d/y.html": "1", "d/s/z.html": "1"}, Steps: []Step{
			{Do: do(removeAll("d"), write("d/x.html", "2"), write("d/n.html", "n")),
				Want: changes(ch(wrote, "d/x.html"), ch(gone, "d/y.html", "d/s/z.html"), ch(create, "d/n.html"))},
			{Name: "write in the recreated directory", Do: do(write("d/x.html", "3"), write("d/s/z.html", "z")),
				Want: changes(ch(wrote, "d/x.html"), ch(create, "d/s/z.html"))},
		}},
		{Name: "file replaced by directory", Tree: map[string]string{"x": "file"}, Steps: []Step{{
			Do: do(remove("x"), write("x/y.html", "y")), Want: changes(ch(gone, "x"), ch(create, "x/y.html"))}}},
		{Name: "directory replaced by file", Tree: map[string]string{"x/y.html": "y"}, Steps: []Step{{
			Do: do(removeAll("x"), write("x", "file")), Want: changes(ch(gone, "x/y.html"), ch(create, "x"))}}},
		{Name: "watched root deleted and recreated", Tree: map[string]string{"a.html": "1", "b.html": "1", "d/c.html": "1"}, Steps: []Step{
			{Do: do(removeAll("."), write("a.html", "2")), Want: changes(ch(wrote, "a.html"), ch(gone, "b.html", "d/c.html"))},
			{Name: "write in the recreated root", Do: do(write("e.html", "e"), write("a.html", "3"), write("d/c.html", "c")),
				Want: changes(ch(create, "e.html", "d/c.html"), ch(wrote, "a.html"))},
		}},

		// Many changes at once.
		{Name: "checkout-like bulk change", Tree: bulkTree(), Steps: []Step{{Do: bulkChange, Diff: true}}},
		{Name: "stress: concurrent creates, renames and removes", Tree: stressTree(), Steps: []Step{{Do: stress, Diff: true}}},
	}
}

// bulkTree is 120 files in 6 directories.
func bulkTree() map[string]string {
	tree := make(map[string]string)
	for d := range 6 {
		for f := range 20 {
			tree[fmt.Sprintf("dir%d/file%02d.html", d, f)] = fmt.Sprintf("<p>%d %d</p>", d, f)
		}
	}
	return tree
}

// bulkChange is what a git checkout of another branch does to bulkTree:
// rewrites some files, rewrites others with the same bytes, removes some,
// creates new files in new directories.
func bulkChange(t *testing.T, root string) {
	for d := range 6 {
		for f := range 20 {
			rel := fmt.Sprintf("dir%d/file%02d.html", d, f)
			switch f % 4 {
			case 0:
				write(rel, fmt.Sprintf("<p>%d %d v2</p>", d, f))(t, root)
			case 1:
				write(rel, fmt.Sprintf("<p>%d %d</p>", d, f))(t, root) // same bytes
			case 2:
				if d%2 == 0 {
					remove(rel)(t, root)
				}
			}
		}
	}
	for d := range 3 {
		for f := range 15 {
			write(fmt.Sprintf("new%d/deep/file%02d.html", d, f), "new")(t, root)
		}
	}
}

// stressWorkers each own a subtree of the stress case and change it
// concurrently with the others.
const (
	stressWorkers = 8
	stressOps     = 60
)

func stressTree() map[string]string {
	tree := make(map[string]string)
	for w := range stressWorkers {
		for f := range 6 {
			tree[fmt.Sprintf("w%d/a/f%d.txt", w, f)] = fmt.Sprintf("initial %d %d", w, f)
			tree[fmt.Sprintf("w%d/a/b/g%d.txt", w, f)] = fmt.Sprintf("initial %d %d", w, f)
		}
	}
	return tree
}

// stress runs stressWorkers goroutines that each do stressOps random
// creates, writes, renames (of files and directories) and removes in their
// own subtree. Names and contents are never reused, so the net change of
// every path is the difference between the trees before and after.
func stress(t *testing.T, root string) {
	var wg sync.WaitGroup
	errs := make(chan error, stressWorkers)
	for w := range stressWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stressWorker(filepath.Join(root, fmt.Sprintf("w%d", w)), uint64(w)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

func stressWorker(base string, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	n := 0
	fresh := func(prefix string) string { n++; return fmt.Sprintf("%s%d", prefix, n) }
	list := func() (dirs, files []string, err error) {
		err = filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, p)
			} else {
				files = append(files, p)
			}
			return nil
		})
		return dirs, files, err
	}
	for range stressOps {
		dirs, files, err := list()
		if err != nil {
			return err
		}
		dir := dirs[rng.IntN(len(dirs))]
		var file string
		if len(files) > 0 {
			file = files[rng.IntN(len(files))]
		}
		switch op := rng.IntN(10); {
		case op < 3 || file == "": // create
			err = os.WriteFile(filepath.Join(dir, fresh("n")+".txt"), []byte(fresh("content ")), 0o644)
		case op < 5: // write
			err = os.WriteFile(file, []byte(fresh("content ")), 0o644)
		case op < 7: // rename a file, maybe into another directory
			err = os.Rename(file, filepath.Join(dir, fresh("r")+".txt"))
		case op < 8: // remove a file
			err = os.Remove(file)
		case op < 9: // a new nested directory with a file
			d := filepath.Join(dir, fresh("d"), fresh("e"))
			if err = os.MkdirAll(d, 0o755); err == nil {
				err = os.WriteFile(filepath.Join(d, "f.txt"), []byte(fresh("content ")), 0o644)
			}
		default: // rename or remove a directory (never the worker's base)
			if dir == base {
				continue
			}
			if rng.IntN(2) == 0 {
				err = os.RemoveAll(dir)
			} else {
				to := filepath.Join(dirs[rng.IntN(len(dirs))], fresh("m"))
				if strings.HasPrefix(to, dir+string(filepath.Separator)) {
					continue // not into itself
				}
				err = os.Rename(dir, to)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
