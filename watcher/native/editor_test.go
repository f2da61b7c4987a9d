package native

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reloadd/reloadd/debounce"
	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/watchertest"
)

// Real editors save index.html in a watched tree; every save must make
// exactly one build (one non-empty verified batch) naming index.html and
// nothing else — no temp, backup, swap or lock file — and a save that
// leaves the bytes as they were must make none. The pipeline is reloadd's:
// native watcher → debounce.Queue → Verify.

// save is one editor save of file; n counts the saves from 1. changed=false
// asks for a save that leaves the content as it is.
type save func(t *testing.T, root, file string, n int, changed bool)

func testSaves(t *testing.T, settle time.Duration, s save) {
	root := t.TempDir()
	file := filepath.Join(root, "index.html")
	watchertest.MakeTree(t, root, map[string]string{"index.html": "<h1>hello</h1>\n", "css/site.css": "h1{}\n"})
	w := start(t, root, watcher.Options{})
	rec := watchertest.Record(t, w, root, settle)
	want := []watchertest.Change{{Path: "index.html", Op: watcher.Write}}
	for n, changed := range []bool{true, true, false, true} {
		rec.Reset()
		s(t, root, file, n+1, changed)
		if changed {
			rec.Wait(t, want)
		}
		rec.Sync(t)
		got := rec.Batches()
		switch {
		case changed && (len(got) != 1 || !slices.Equal(got[0], want)):
			t.Errorf("save %d: builds %v, want exactly one: %v", n+1, got, want)
		case !changed && len(got) != 0:
			t.Errorf("save %d without changes: builds %v, want none", n+1, got)
		}
	}
}

// run runs a program and fails the test if it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func vimSave(backupcopy string) save {
	return func(t *testing.T, root, file string, n int, changed bool) {
		testenv.Need(t, "vim")
		edit := fmt.Sprintf("normal Goline %d", n)
		if !changed {
			edit = "echo" // :w of an unmodified buffer still writes the file
		}
		// backupskip= : vim skips backups under /tmp (t.TempDir) otherwise.
		run(t, root, nil, "vim", "-N", "-u", "NONE", "-i", "NONE", "-es",
			"-c", "set backupcopy="+backupcopy+" backupskip= writebackup", "-c", edit, "-c", "wq", file)
	}
}

func TestEditorVimBackupcopyNo(t *testing.T)   { testSaves(t, watchertest.Settle, vimSave("no")) }
func TestEditorVimBackupcopyYes(t *testing.T)  { testSaves(t, watchertest.Settle, vimSave("yes")) }
func TestEditorVimBackupcopyAuto(t *testing.T) { testSaves(t, watchertest.Settle, vimSave("auto")) }

func TestEditorEmacs(t *testing.T) {
	// Real emacs-nox in batch mode: it creates the .#index.html lock
	// symlink, renames index.html to index.html~ (its first-save backup;
	// backup-enable-predicate is set because emacs makes no backups under
	// /tmp otherwise), writes a new index.html and removes the lock.
	testSaves(t, watchertest.Settle, func(t *testing.T, root, file string, n int, changed bool) {
		testenv.Need(t, "emacs")
		edit := fmt.Sprintf(`(insert "line %d\n")`, n)
		if !changed {
			edit = `(set-buffer-modified-p t)` // save the same text again
		}
		run(t, root, []string{"HOME=" + t.TempDir()}, "emacs", "-Q", "--batch", "--eval", fmt.Sprintf(
			`(progn (setq backup-enable-predicate (lambda (_) t)) (find-file %q) (goto-char (point-max)) %s (save-buffer) (kill-buffer))`,
			file, edit))
	})
}

func TestEditorNano(t *testing.T) {
	testenv.Need(t, "nano")
	testenv.Need(t, "tmux")
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	screen := func(want string) {
		t.Helper()
		deadline := time.Now().Add(testenv.WaitLimit)
		for {
			s := tmux("capture-pane", "-p")
			if strings.Contains(s, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("nano never showed %q; screen:\n%s", want, s)
			}
			time.Sleep(20 * time.Millisecond) // polling a condition, not waiting for time
		}
	}
	started := false
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	testSaves(t, watchertest.Settle, func(t *testing.T, root, file string, n int, changed bool) {
		if !started {
			cmd := exec.Command("tmux", "-S", sock, "new-session", "-d", "-x", "100", "-y", "30",
				"nano --ignorercfiles "+file)
			cmd.Env = append(os.Environ(), "TERM=xterm")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("tmux: %v\n%s", err, out)
			}
			screen("GNU nano")
			started = true
		}
		if changed {
			tmux("send-keys", fmt.Sprintf("edit %d ", n))
			screen(fmt.Sprintf("edit %d ", n))
		}
		tmux("send-keys", "C-o")
		screen("File Name to Write")
		tmux("send-keys", "Enter")
		screen("Wrote")
	})
	tmux("send-keys", "C-x")
}

func TestEditorJetBrainsSafeWrite(t *testing.T) {
	// An exact replay of IntelliJ's "safe write".
	testSaves(t, watchertest.Settle, func(t *testing.T, root, file string, n int, changed bool) {
		data := content(t, file, n, changed)
		tmp, old := file+"___jb_tmp___", file+"___jb_old___"
		write(t, tmp, data)
		must(t, os.Rename(file, old))
		must(t, os.Rename(tmp, file))
		must(t, os.Remove(old))
	})
}

func TestEditorSed(t *testing.T) {
	testSaves(t, watchertest.Settle, func(t *testing.T, root, file string, n int, changed bool) {
		testenv.Need(t, "sed")
		expr := fmt.Sprintf("s/hello/hello %d/", n)
		if !changed {
			expr = "s/^/&/"
		}
		run(t, root, nil, "sed", "-i", expr, file)
	})
}

// TestEditorSlowRenameSaver saves the way sed -i and atomic-write
// libraries do, with a pause between closing the temporary file and
// renaming it over the real one (a busy machine makes one): the closed
// temporary is a new file, so the settle must not end early for it, or it
// would be built on its own. The window is long (the pause can stretch on
// a loaded machine); the rename ends it.
func TestEditorSlowRenameSaver(t *testing.T) {
	testSaves(t, time.Second, func(t *testing.T, root, file string, n int, changed bool) {
		tmp := filepath.Join(root, fmt.Sprintf("tmp%06d", n))
		write(t, tmp, content(t, file, n, changed))
		time.Sleep(5 * time.Millisecond) // the pause: part of the scenario
		must(t, os.Rename(tmp, file))
	})
}

func TestEditorVSCodeTruncateWrite(t *testing.T) {
	// VS Code writes in place: truncate, then write.
	testSaves(t, watchertest.Settle, func(t *testing.T, root, file string, n int, changed bool) {
		data := content(t, file, n, changed)
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
		must(t, err)
		_, err = f.WriteString(data)
		must(t, err)
		must(t, f.Close())
	})
}

func TestEditorCpOver(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.html")
	testSaves(t, watchertest.Settle, func(t *testing.T, root, file string, n int, changed bool) {
		testenv.Need(t, "cp")
		write(t, src, content(t, file, n, changed))
		run(t, root, nil, "cp", src, file)
	})
}

// content returns the file's next content: changed, or as it is.
func content(t *testing.T, file string, n int, changed bool) string {
	b, err := os.ReadFile(file)
	must(t, err)
	if !changed {
		return string(b)
	}
	return fmt.Sprintf("%s<p>save %d</p>\n", b, n)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestGitCheckout switches branches in a watched work tree: many files
// change at once (rewritten, removed, added in new directories), .git
// changes a lot; that must be one build naming exactly the files that
// differ between the branches.
func TestGitCheckout(t *testing.T) {
	testenv.Need(t, "git")
	root := t.TempDir()
	env := []string{"HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}
	git := func(args ...string) { t.Helper(); run(t, root, env, "git", args...) }
	tree := map[string]string{".gitignore": "dist/\n"}
	for d := range 3 {
		for f := range 20 {
			tree[fmt.Sprintf("d%d/f%02d.html", d, f)] = fmt.Sprintf("<p>%d %d</p>\n", d, f)
		}
	}
	watchertest.MakeTree(t, root, tree)
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-q", "-m", "main")
	git("checkout", "-q", "-b", "other")
	var want []watchertest.Change
	for d := range 3 {
		for f := range 20 {
			rel := fmt.Sprintf("d%d/f%02d.html", d, f)
			switch f % 6 {
			case 0, 1:
				write(t, filepath.Join(root, rel), "<p>other</p>\n")
				want = append(want, watchertest.Change{Path: rel, Op: watcher.Write})
			case 2:
				must(t, os.Remove(filepath.Join(root, rel)))
				want = append(want, watchertest.Change{Path: rel, Op: watcher.Remove})
			}
		}
	}
	for f := range 10 {
		rel := fmt.Sprintf("new/deep/n%02d.html", f)
		write(t, filepath.Join(root, rel), "new\n")
		want = append(want, watchertest.Change{Path: rel, Op: watcher.Create})
	}
	git("add", "-A")
	git("commit", "-q", "-m", "other")
	git("checkout", "-q", "main")

	w := start(t, root, watcher.Options{})
	// A longer settle than the editors': git writes ~60 files plus its
	// index, and this test counts builds on a loaded machine.
	rec := watchertest.Record(t, w, root, 4*watchertest.Settle)
	git("checkout", "-q", "other")
	rec.Wait(t, want)
	rec.Sync(t)
	if b := rec.Batches(); len(b) != 1 {
		t.Errorf("git checkout made %d builds, want 1: %v", len(b), b)
	}
	// And back: the same files again, the other way round.
	rec.Reset()
	git("checkout", "-q", "main")
	for i, c := range want {
		switch c.Op {
		case watcher.Create:
			want[i].Op = watcher.Remove
		case watcher.Remove:
			want[i].Op = watcher.Create
		}
	}
	rec.Wait(t, want)
	rec.Sync(t)
	if b := rec.Batches(); len(b) != 1 {
		t.Errorf("git checkout back made %d builds, want 1: %v", len(b), b)
	}
}

// TestChunkedWriteIsOneBuild writes a large file in place in chunks, with
// pauses between them and no close until the end, as a slow writer or a
// program streaming its output does. That must be one build, and the build
// must see the whole file: the settle ends only once the writer has closed
// it. With a long window the pauses are a few milliseconds (longer than
// debounce.CompleteSettle); with reloadd's default window (10 ms) they are
// longer than the window itself, and the file being open for writing
// (watcher.Writing) is what holds the batch until the close.
func TestChunkedWriteIsOneBuild(t *testing.T) {
	for _, tc := range []struct {
		name   string
		settle time.Duration
		pause  time.Duration
	}{
		{"pauses shorter than a long window", time.Second, 3 * time.Millisecond},
		{"pauses longer than the default window", debounce.DefaultSettle, 30 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) { testChunkedWrite(t, tc.settle, tc.pause) })
	}
}

func testChunkedWrite(t *testing.T, settle, pause time.Duration) {
	root := t.TempDir()
	file := filepath.Join(root, "big.bin")
	watchertest.MakeTree(t, root, map[string]string{"big.bin": "old"})
	w := start(t, root, watcher.Options{}).(*Watcher)
	q := debounce.New(w.Events(), debounce.Options{Settle: settle, MaxWait: time.Minute, Quiet: w.Quiet})
	defer q.Close()
	type build struct {
		paths []string
		data  []byte // big.bin as the build found it
	}
	builds := make(chan build, 16)
	go func() {
		defer close(builds)
		for b := range q.Batches() {
			var paths []string
			for _, ev := range w.Verify(b.Events) {
				paths = append(paths, filepath.Base(ev.Path))
			}
			if len(paths) > 0 {
				data, _ := os.ReadFile(file)
				builds <- build{paths, data}
			}
			q.Done()
		}
	}()
	const chunks, chunk = 8, 256 << 10
	want := make([]byte, 0, chunks*chunk)
	for i := range chunks {
		want = append(want, bytes.Repeat([]byte{byte('a' + i)}, chunk)...)
	}
	for round := range 3 {
		f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
		must(t, err)
		for i := range chunks {
			if i > 0 {
				time.Sleep(pause) // the writer's pause: part of the scenario
			}
			_, err := f.Write(want[i*chunk : (i+1)*chunk])
			must(t, err)
		}
		must(t, f.Close())
		// The marker is moved in after the close (complete at once): once
		// its build is seen, every build of the save has been.
		marker := fmt.Sprintf("marker%d", round)
		tmp := filepath.Join(t.TempDir(), marker)
		write(t, tmp, marker)
		must(t, os.Rename(tmp, filepath.Join(root, marker)))
		var got []build
		for seen := false; !seen; {
			select {
			case b := <-builds:
				got = append(got, b)
				seen = slices.Contains(b.paths, marker)
			case <-time.After(testenv.WaitLimit):
				t.Fatalf("round %d: no build for the marker; builds so far %d", round, len(got))
			}
		}
		var saves []build
		for _, b := range got {
			if slices.Contains(b.paths, "big.bin") {
				saves = append(saves, b)
			}
		}
		if len(saves) != 1 {
			for _, b := range got {
				t.Logf("build %v: %d bytes", b.paths, len(b.data))
			}
			t.Fatalf("round %d: %d builds of big.bin, want 1", round, len(saves))
		}
		if !bytes.Equal(saves[0].data, want) {
			t.Errorf("round %d: the build saw %d bytes of big.bin, want all %d", round, len(saves[0].data), len(want))
		}
		want[0]++ // the next round writes other bytes
	}
}
