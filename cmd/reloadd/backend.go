package main

import (
	"fmt"

	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/native"
	"github.com/reloadd/reloadd/watcher/poll"
)

// backend is the watcher the daemon runs, whichever kind -watch chose.
type backend interface {
	watcher.Watcher
	// WatchedDirs is the number of directories being watched.
	WatchedDirs() int
}

// newBackend starts the watcher -watch asks for and records, per root,
// the mode and why. auto watches natively for now (choosing per mount is
// the job of watcher/auto).
func (d *daemon) newBackend() (backend, error) {
	opts := watcher.Options{Filter: d.filter}
	var mounts []mountStatus
	var unwatched func() []string
	var w backend
	switch d.cfg.watch {
	case "poll":
		p, err := poll.New(d.roots, poll.Options{Options: opts, Interval: d.cfg.pollInterval})
		if err != nil {
			return nil, err
		}
		for _, r := range p.Roots() {
			reason := "-watch poll: stat trusted on this local filesystem, content hashed to confirm changes"
			if r.VerifyContent {
				reason = "-watch poll: stat may lie on this filesystem, so recently changed files are verified by content every -poll-interval"
			}
			mounts = append(mounts, mountStatus{Path: r.Path, FSType: r.FSType, Mode: "poll", Reason: reason})
		}
		w = p
	default:
		n, err := native.New(d.roots, opts)
		if err != nil {
			return nil, err
		}
		for _, r := range d.roots {
			mounts = append(mounts, mountStatus{Path: r, Mode: "native", Reason: fmt.Sprintf("-watch %s: watched with inotify", d.cfg.watch)})
		}
		unwatched = n.Unwatched
		w = n
	}
	d.mu.Lock()
	d.mounts = append(d.mounts, mounts...)
	d.unwatched = unwatched
	d.mu.Unlock()
	return w, nil
}
