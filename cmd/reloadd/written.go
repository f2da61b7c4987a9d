package main

import (
	"time"

	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/auto"
)

// When was a change written? reloadd knows when it saw a change; the time
// before that — how long a change took to be noticed — is known only where
// the source can tell. writtenAt is the one place that asks, so a source
// that knows better plugs in here:
//
//   - "ctime": a file on a polled mount (or a polled directory of a native
//     one). The poller sees a change up to an interval or a sweep after it
//     was made; the file's inode change time says when it was made, on the
//     file server's clock. It is believed only when it has sub-second
//     precision (sftp, and so sshfs, gives whole seconds), is not after the
//     sighting by more than futureSlack (clocks of a file server and this
//     machine disagree a little; later than that, they disagree too much
//     to tell), and not before it by more than maxNoticeLag.
//   - "agent": a file on a mount the forwarding agent (reloadd forward)
//     serves. Its record says how long before sending it the agent's
//     watcher saw the change (on the host a native watcher sees a write as
//     it happens); the change was written that long before the record
//     arrived, on this machine's clock (auto.Watcher.AgentWritten). The
//     network's one-way time is not counted. Believed within the same
//     bounds as a ctime.
//
// On a native mount the event's arrival is the write, to within
// microseconds: there is no seen phase to show.
//
// Design notes: maxNoticeLag is the longest a polled change can plausibly
// wait to be seen (a cold file in a large tree swept within the poller's
// CPU budget, an NFS attribute cache of up to 60 s); an older ctime is more
// likely a clock problem than a slow poll. futureSlack allows the pass's
// own duration (a poll pass is stamped when it starts) and small drift.
const (
	maxNoticeLag = 60 * time.Second
	futureSlack  = time.Second
)

// writtenAt returns when the change ev was written and what told, or zero
// and "" when no source can tell.
func (d *daemon) writtenAt(ev watcher.Event) (time.Time, string) {
	if ev.Path == "" || ev.Time.IsZero() {
		return time.Time{}, ""
	}
	if at, ok := d.watch.AgentWritten(ev.Path); ok {
		if at, ok := plausibleWrite(at, ev.Time); ok {
			return at, "agent"
		}
		return time.Time{}, ""
	}
	if !polled(d.watch.Mounts(), ev.Path) {
		return time.Time{}, ""
	}
	ct, ok := fileCtime(ev.Path)
	if !ok {
		return time.Time{}, ""
	}
	if at, ok := plausibleWrite(ct, ev.Time); ok {
		return at, "ctime"
	}
	return time.Time{}, ""
}

// polled reports whether path is watched by polling: on a mount in poll
// mode or switched to it, or in a directory inotify could not watch.
func polled(mounts []auto.MountStatus, path string) bool {
	var owner *auto.MountStatus
	for i := range mounts {
		m := &mounts[i]
		if watcher.Within(m.Path, path) && (owner == nil || len(m.Path) > len(owner.Path)) {
			owner = m
		}
	}
	if owner == nil {
		return false
	}
	if owner.Mode == auto.Poll || owner.Switched {
		return true
	}
	for _, dir := range owner.UnwatchedDirs {
		if watcher.Within(dir, path) {
			return true
		}
	}
	return false
}

// plausibleWrite decides whether ctime can be the write time of a change
// seen at seen (see writtenAt), and returns it, moved up to seen when it is
// slightly after.
func plausibleWrite(ctime, seen time.Time) (time.Time, bool) {
	switch {
	case ctime.IsZero() || ctime.Nanosecond() == 0:
		return time.Time{}, false // unknown, or whole seconds: too coarse
	case ctime.After(seen.Add(futureSlack)), ctime.Before(seen.Add(-maxNoticeLag)):
		return time.Time{}, false
	case ctime.After(seen):
		return seen, true
	}
	return ctime, true
}
