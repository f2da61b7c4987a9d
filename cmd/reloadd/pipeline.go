package main

import (
	"context"
	"errors"
	"time"

	"github.com/reloadd/reloadd/build"
	"github.com/reloadd/reloadd/debounce"
	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/serve"
	"github.com/reloadd/reloadd/watcher"
)

// The build loop: batches in, outcomes out. It runs on one goroutine, which
// owns the runner, the -run app and the build ids; what an outcome means for
// browsers, the terminal and the status is announce.go's job.

// outcome is what one build and the app restart after it led to, or what
// a change that needed no build (-build-on) leads to.
type outcome struct {
	id      int64
	initial bool // the start-up build (or its re-run after a restart)
	// built: the commands ran (-build, the -run restart); false for a
	// change that needed neither, which browsers are only told about.
	built     bool
	paths     []string
	changedAt time.Time // when the first change of the build was seen
	res       build.Result
	app       appOutcome
	// output is what the browser's overlay shows on failure: the
	// command's output, with reloadd's reason above it when it has one.
	output string
	// plan is what browsers do after a success (decide.go).
	plan plan
	at   stamps // where the time went (saves.go)
}

// stamps are the instants of a build, for its save's breakdown.
type stamps struct {
	first  watcher.Event // the change seen first
	handed time.Time     // the build loop took the batch
	built  time.Time     // the -build command ended
	ready  time.Time     // the -run app was restarted (and accepts connections)
	sent   time.Time     // build_complete was queued to every client
}

// cancelled reports whether the build (or the wait for the app) was cut
// short by newer changes or shutdown: it does not count.
func (o *outcome) cancelled() bool {
	return errors.Is(o.res.Err, build.ErrCancelled)
}

// buildLoop consumes batches until the queue closes. Between batches it
// reports the -run app's crashes.
func (d *daemon) buildLoop(ctx context.Context) {
	var id int64
	for {
		var b debounce.Batch
		select {
		case <-d.appExits():
			d.announceAppExit(d.app.Reap())
			continue
		case batch, ok := <-d.queue.Batches():
			if !ok {
				return
			}
			b = batch
		}
		handed := time.Now()
		if ctx.Err() != nil {
			d.queue.Done() // shutting down: nothing more is built
			continue
		}
		// Every batch is verified, the start-up one too: what it reports
		// counts as built, so a change made during the start-up build is
		// not built a second time by the next unrelated event.
		events := d.watch.Verify(b.Events)
		if !b.Initial && len(events) == 0 {
			d.queue.Done()
			continue
		}
		if !b.Initial && !d.needsBuild(events) {
			d.refresh(&id, b, events)
			d.queue.Done()
			continue
		}
		echo := d.echoes.before(events) // is this the last build's output coming back?
		id++
		start := time.Now()
		o := d.build(ctx, id, b, events)
		o.at.handed = handed
		var hint []fileTime
		prev := d.echoes.last.id
		if !o.cancelled() {
			hint = d.echoes.after(runWindow{id: id, start: start, end: time.Now()}, echo)
			switch {
			case o.res.OK:
				o.plan = d.decide(o)
			case o.initial && d.index != nil:
				d.index.Scan() // the baseline, even of a failed start-up build
			}
		}
		d.announce(o)
		if hint != nil {
			d.hintOutputs(id, prev, hint)
		}
		if o.cancelled() && ctx.Err() == nil {
			d.queue.Requeue() // cancelled by newer changes: its changes go into the next build
		} else {
			d.queue.Done()
		}
	}
}

// build runs one build and, after a successful one, restarts the app. It
// tells browsers that a build started; everything else is the caller's to
// announce.
func (d *daemon) build(ctx context.Context, id int64, b debounce.Batch, events []watcher.Event) *outcome {
	o := newOutcome(b, events)
	o.id, o.built = id, true
	d.announceStart(o)

	bctx, cancel := context.WithCancel(b.Context())
	stop := context.AfterFunc(ctx, cancel)
	defer cancel()
	defer stop()
	o.res = d.runner.Build(bctx, o.paths)
	o.at.built = time.Now()
	d.buildOut.flush()
	o.output = o.res.Output
	if o.res.Err != nil && !errors.Is(o.res.Err, build.ErrCancelled) {
		o.output = note(o.res.Err.Error(), o.output) // say why on the overlay too
	}
	switch {
	case o.res.OK && d.app != nil:
		d.setAppState(serve.AppStarting, "")
		o.app = d.restartApp(bctx)
		o.at.ready = time.Now()
		switch {
		case o.app.cancelled:
			o.res.OK, o.res.Err = false, build.ErrCancelled
		case o.app.failed:
			o.res.OK, o.res.ExitCode, o.res.Err, o.output = false, o.app.exitCode, errors.New(o.app.reason), o.app.output
			d.setAppState(serve.AppDown, o.app.reason)
		default:
			d.setAppState(serve.AppUp, "")
		}
	case !o.res.OK && !o.cancelled() && d.app != nil && !d.app.Running():
		// The app needs a successful build first: it is not coming.
		d.setAppState(serve.AppDown, "the build it needs failed; it starts after the next successful build")
	}
	return o
}

func newOutcome(b debounce.Batch, events []watcher.Event) *outcome {
	o := &outcome{initial: b.Initial, paths: make([]string, len(events)), changedAt: changedAt(b, events)}
	o.at.first = firstChange(events)
	for i, ev := range events {
		o.paths[i] = ev.Path
	}
	return o
}

// refresh tells browsers about changes that need no build (-build-on):
// the app keeps running, the page reloads or swaps what changed. It takes
// a build id only when there is something to tell.
func (d *daemon) refresh(id *int64, b debounce.Batch, events []watcher.Event) {
	o := newOutcome(b, events)
	o.at.handed = time.Now()
	o.res.OK = true
	o.plan = d.decide(o)
	if o.plan.action == hub.ActionNone {
		d.announceNothing(o)
		return
	}
	*id++
	o.id = *id
	d.announce(o)
}

// setAppState tells the proxy, with -run and -proxy, whether the app is
// starting, up or down, so that pages are not kept waiting for an app that
// is not coming.
func (d *daemon) setAppState(state serve.AppState, reason string) {
	if p, ok := d.site.(*serve.Proxy); ok && d.app != nil {
		p.SetAppState(state, reason)
	}
}

// changedAt is when the first change of a build was first seen: the
// earliest time among the verified events (a batch's events that Verify
// dropped — duplicates, temporary files — do not count), else the batch's.
func changedAt(b debounce.Batch, events []watcher.Event) time.Time {
	first := firstChange(events).Time
	if first.IsZero() {
		return b.First
	}
	return first
}

// appExits fires when the -run app ends by itself; nil without one.
func (d *daemon) appExits() <-chan struct{} {
	if d.app == nil {
		return nil
	}
	return d.app.Exited()
}
