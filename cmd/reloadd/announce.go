package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reloadd/reloadd/build"
	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/serve"
)

// Announcing what the build loop did: one place turns an outcome into the
// browsers' message, the terminal line and the status record.

// announceStart tells browsers a build started (they show a badge when it
// takes a while).
func (d *daemon) announceStart(o *outcome) {
	d.hub.Start(o.id, o.paths)
	d.saves.start(o.id, o.paths, o.initial, o.changedAt)
}

// announce tells browsers, the terminal and the status what a build came
// to. A cancelled build gets a terminal line only: it does not count. A
// successful build's terminal line is its save's (saves.go).
func (d *daemon) announce(o *outcome) {
	d.saves.flush() // a save line still waiting for a page report goes first
	what := "start-up build"
	if !o.initial {
		what = d.out.short(o.paths)
	} else if len(o.paths) > 0 {
		what += " + " + d.out.short(o.paths)
	}
	fields := map[string]any{"build": o.id, "paths": o.paths, "duration_ms": msFloat(o.res.Duration)}
	rec := buildRecord{ID: o.id, OK: o.res.OK, Paths: len(o.paths), DurationMS: msFloat(o.res.Duration), At: time.Now().UTC().Format(time.RFC3339Nano)}
	switch {
	case o.res.OK:
		urls, cssOnly := d.siteURLs(o.paths)
		n, _ := d.hub.Complete(hub.BuildComplete{
			Build: o.id, Paths: o.paths, URLs: urls,
			CSSOnly: cssOnly, ChangedAt: o.changedAt.UnixMilli(),
		})
		o.at.sent = time.Now()
		rec.Clients = n
		fields["clients"] = n
		took := ms(o.res.Duration)
		if d.cfg.build == "" {
			took = "" // nothing was run: no time worth printing
		}
		if o.app.ready > 0 {
			took = strings.TrimPrefix(took+", app ready in "+ms(o.app.ready), ", ")
			fields["app_ready_ms"] = msFloat(o.app.ready)
		}
		line := fmt.Sprintf("build %d  %s  ", o.id, what)
		if took != "" {
			line += took + "  "
		}
		d.out.record("build_complete", line+count(n, "client", "clients"), fields) // JSON only: the terminal shows the save line
		d.saveFinished(o, what, n)
		d.checkServedDir()
	case o.cancelled():
		d.out.event("build_cancelled", fmt.Sprintf("build %d  %s  cancelled", o.id, what), fields)
		d.saveFinished(o, what, 0)
		return
	default:
		reason := fmt.Sprintf("exit %d", o.res.ExitCode)
		if o.res.Err != nil {
			reason = o.res.Err.Error()
		}
		n, _ := d.hub.Failed(hub.BuildFailed{Build: o.id, ExitCode: o.res.ExitCode, Output: o.output})
		rec.Clients = n
		fields["exit_code"] = o.res.ExitCode
		fields["error"] = reason
		failed := "FAILED"
		if o.app.failed {
			failed = "app FAILED" // the build itself succeeded
		}
		d.out.event("build_failed", fmt.Sprintf("build %d  %s  %s (%s) after %s", o.id, what, failed, reason, ms(o.res.Duration)), fields)
		d.saveFinished(o, what, n)
	}
	d.records.add(rec)
}

// checkServedDir, after the first successful build, ends reloadd when the
// served directory that did not exist at start-up still does not: the
// build is not the one that makes it, and serving nothing would look like
// a broken site.
func (d *daemon) checkServedDir() {
	if !d.servedLater {
		return
	}
	d.servedLater = false // the build loop's alone
	st, ok := d.site.(*serve.Static)
	if !ok {
		return
	}
	if err := st.Check(); errors.Is(err, fs.ErrNotExist) {
		select {
		case d.fatal <- fmt.Errorf("serve %s: still missing after the first successful build (does -build write it?)", d.out.short([]string{d.served})):
		default:
		}
	}
}

// announceAppExit reports a crash of the -run app: once on the terminal
// and once to the browsers, as build_failed with its last output. The app
// stays down until the next successful build (no restart loop that repeats
// the same crash).
func (d *daemon) announceAppExit(ex build.Exit) {
	d.appOut.flush()
	why := "the app exited (" + ex.Reason + ")"
	d.setAppState(serve.AppDown, why+"; it restarts after the next successful build")
	id := d.hub.Build()
	n, _ := d.hub.Failed(hub.BuildFailed{Build: id, ExitCode: ex.ExitCode, Output: note(why, ex.Output)})
	d.out.event("app_exited", fmt.Sprintf("app  %s; it restarts after the next successful build  %s", why, count(n, "client", "clients")),
		map[string]any{"build": id, "exit_code": ex.ExitCode, "reason": ex.Reason, "clients": n})
}

// siteURLs maps changed paths under the served directory to their URL paths,
// and reports whether every changed path is a stylesheet there.
func (d *daemon) siteURLs(paths []string) (urls []string, cssOnly bool) {
	urls = []string{}
	if d.served == "" {
		return urls, false
	}
	cssOnly = len(paths) > 0
	for _, p := range paths {
		if !within(d.served, p) || p == d.served {
			cssOnly = false
			continue
		}
		rel, err := filepath.Rel(d.served, p)
		if err != nil {
			cssOnly = false
			continue
		}
		u := (&url.URL{Path: "/" + filepath.ToSlash(rel)}).EscapedPath()
		urls = append(urls, u)
		if !strings.EqualFold(filepath.Ext(p), ".css") {
			cssOnly = false
		}
	}
	return urls, cssOnly
}

// buildRecord is one entry of "builds" in /_reloadd/status.
type buildRecord struct {
	ID         int64   `json:"id"`
	OK         bool    `json:"ok"`
	Paths      int     `json:"paths"`
	DurationMS float64 `json:"duration_ms"`
	Clients    int     `json:"clients"`
	At         string  `json:"at"`
}

// keepBuilds is how many builds the status lists.
const keepBuilds = 20

// buildRecords holds the last keepBuilds builds, newest last. Safe for
// concurrent use.
type buildRecords struct {
	mu   sync.Mutex
	recs []buildRecord
}

func (r *buildRecords) add(rec buildRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	if len(r.recs) > keepBuilds {
		r.recs = slices.Delete(r.recs, 0, len(r.recs)-keepBuilds)
	}
}

// list returns a copy, never nil.
func (r *buildRecords) list() []buildRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]buildRecord{}, r.recs...)
}

// status is the JSON served at /_reloadd/status.
func (d *daemon) status() any {
	return map[string]any{
		"epoch":          d.epoch,
		"build":          d.hub.Build(),
		"clients":        d.hub.Clients(),
		"mounts":         d.watch.Mounts(),
		"builds":         d.records.list(),
		"reload_latency": d.latency.snapshot(),
		"saves":          d.saves.list(),
		"client_list":    d.hub.ClientList(),
		"dashboards":     d.hub.Dashboards(),
	}
}
