package main

import (
	"errors"
	"fmt"
	"io/fs"
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
	fields := map[string]any{"build": o.id, "paths": o.paths, "duration_ms": msFloat(o.res.Duration), "built": o.built}
	rec := buildRecord{ID: o.id, OK: o.res.OK, Built: o.built, Paths: len(o.paths), DurationMS: msFloat(o.res.Duration), At: time.Now().UTC().Format(time.RFC3339Nano)}
	switch {
	case o.res.OK:
		p := o.plan
		n, _ := d.hub.Complete(hub.BuildComplete{
			Build: o.id, Paths: o.paths, URLs: p.urls,
			Action: p.action, Names: p.names, CSSOnly: p.cssOnly(), ChangedAt: o.changedAt.UnixMilli(),
		})
		o.at.sent = time.Now()
		rec.Clients = n
		rec.Action = p.action
		fields["clients"] = n
		fields["action"] = p.action
		fields["urls"] = p.urls
		if len(p.names) > 0 {
			fields["names"] = p.names
		}
		took := ms(o.res.Duration)
		switch {
		case !o.built:
			took = "no build (-build-on)"
		case d.cfg.build == "":
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
		switch p.action {
		case hub.ActionNone:
			line += "nothing visible changed: no reload"
		case hub.ActionSwap:
			line += p.swapWhat() + "  " + count(n, "client", "clients")
		default:
			line += count(n, "client", "clients")
		}
		d.out.record("build_complete", line, fields) // JSON only: the terminal shows the save line
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
		stage := hub.StageBuild
		if o.app.failed {
			stage = hub.StageApp
		}
		n, _ := d.hub.Failed(hub.BuildFailed{Build: o.id, ExitCode: o.res.ExitCode, Output: o.output, Stage: stage})
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

// announceNothing says that changes needed no build and changed nothing
// a browser shows: nobody is told, no build id is taken.
func (d *daemon) announceNothing(o *outcome) {
	d.out.event("no_reload", fmt.Sprintf("change  %s  no build (-build-on), nothing visible changed: no reload", d.out.short(o.paths)),
		map[string]any{"paths": o.paths, "action": hub.ActionNone, "built": false})
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
	n, _ := d.hub.Failed(hub.BuildFailed{Build: id, ExitCode: ex.ExitCode, Output: note(why, ex.Output), Stage: hub.StageApp})
	d.out.event("app_exited", fmt.Sprintf("app  %s; it restarts after the next successful build  %s", why, count(n, "client", "clients")),
		map[string]any{"build": id, "exit_code": ex.ExitCode, "reason": ex.Reason, "clients": n})
}

// buildRecord is one entry of "builds" in /_reloadd/status.
type buildRecord struct {
	ID int64 `json:"id"`
	OK bool  `json:"ok"`
	// Built is false for changes that needed no build (-build-on).
	Built bool `json:"built"`
	// Action is what browsers were told to do: reload, swap or none; ""
	// after a failure.
	Action     string  `json:"action,omitempty"`
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
