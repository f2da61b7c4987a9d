package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

// Telling a build's own outputs when they come back as changes. A build
// that writes into a watched directory (outside what -output, the served
// directory and the well-known outputs cover) triggers another build.
// Nothing in a file event says who wrote the file, so that build runs — a
// save made during a build looks the same, and is never dropped — but when
// it is plain that the files were the previous build's, reloadd says so
// once, with the -output flag that stops it:
//
//   - the build ran only for files last modified while the previous
//     build's commands ran (its run window, widened by outputSlack), and
//   - this build wrote every one of them again (their mtime moved, within
//     its own window), and
//   - with the same bytes (a build writes the same output from the same
//     sources; a second save during a build has new content), or this has
//     now happened to the same files echoStreak times in a row (a build
//     whose output differs each time — a timestamp — builds forever).

// runWindow is when one build's commands ran, from the build's start to
// the app accepting connections after it.
type runWindow struct {
	id         int64
	start, end time.Time
}

// covers reports whether a file modified at mtime may have been written
// during w.
func (w runWindow) covers(mtime time.Time) bool {
	return w.id != 0 && !mtime.Before(w.start.Add(-outputSlack)) && !mtime.After(w.end.Add(outputSlack))
}

const (
	// outputSlack widens a run window by the coarseness of file timestamps
	// (the kernel's clock tick, up to 10 ms, twice over).
	outputSlack = 20 * time.Millisecond
	// maxEchoCheck bounds the files looked at: a larger batch is a
	// checkout or a generator, not an echo worth a stat and a read each.
	maxEchoCheck = 256
	// echoStreak is how many builds in a row, each only for the same files
	// that the one before rewrote, count as a loop even when the content
	// changed each time.
	echoStreak = 3
)

// fileTime is a file as it was before a build: its mtime and content.
type fileTime struct {
	path   string
	mtime  time.Time
	sum    uint64
	hashed bool
}

// echoes is the build loop's memory for telling echoes. Not safe for
// concurrent use.
type echoes struct {
	last   runWindow // the last build that ran to the end
	set    string    // the files of the last echo (joined), for the streak
	streak int
	hinted map[string]bool // sets already hinted at: once each
}

// before returns the batch's files if every one of them was last modified
// while the last build ran, else nil.
func (e *echoes) before(events []watcher.Event) []fileTime {
	if e.last.id == 0 || len(events) == 0 || len(events) > maxEchoCheck {
		return nil
	}
	files := make([]fileTime, 0, len(events))
	for _, ev := range events {
		fi, err := os.Lstat(ev.Path)
		if err != nil || !e.last.covers(fi.ModTime()) {
			return nil // removed (nothing to tell by), or changed at another time
		}
		f := fileTime{path: ev.Path, mtime: fi.ModTime()}
		if fi.Mode().IsRegular() {
			f.sum, _, f.hashed, _ = watcher.HashFile(ev.Path, 0)
		}
		files = append(files, f)
	}
	return files
}

// after records that a build ran during w, for the batch whose files
// before returned. It returns them when they are to be hinted at.
func (e *echoes) after(w runWindow, files []fileTime) []fileTime {
	e.last = w
	if len(files) == 0 {
		e.set, e.streak = "", 0
		return nil
	}
	same := true
	for _, f := range files {
		fi, err := os.Lstat(f.path)
		if err != nil || fi.ModTime().Equal(f.mtime) || !w.covers(fi.ModTime()) {
			e.set, e.streak = "", 0
			return nil // not written again by this build: a save, most likely
		}
		if f.hashed {
			sum, _, ok, err := watcher.HashFile(f.path, 0)
			same = same && err == nil && ok && sum == f.sum
		} else {
			same = false
		}
	}
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.path
	}
	set := strings.Join(paths, "\x00")
	if set == e.set {
		e.streak++
	} else {
		e.set, e.streak = set, 1
	}
	if !same && e.streak < echoStreak || e.hinted[set] {
		return nil
	}
	if e.hinted == nil {
		e.hinted = make(map[string]bool)
	}
	e.hinted[set] = true
	return slices.Clone(files)
}

// hintOutputs says that build id ran only because of files that build
// prev wrote, and names the -output flag that stops it.
func (d *daemon) hintOutputs(id, prev int64, files []fileTime) {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.path
	}
	d.out.event("hint", fmt.Sprintf("reloadd: build %d ran only for %s, which build %d wrote (and build %d again): outputs trigger builds; %s stops this",
		id, d.out.short(paths), prev, id, outputFlags(paths, d.out.cwd)),
		map[string]any{"build": id, "paths": paths, "written_by": prev})
}
