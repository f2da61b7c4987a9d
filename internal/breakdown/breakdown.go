// Package breakdown splits the time one save took to reach the screen into
// phases that add up to the total: the arithmetic behind the "saves" of
// reloadd's status, its per-save terminal line and its dashboard.
//
// A save is a chain of instants, each measured where it happens:
//
//	written ─seen─► seen ─settle─► handed ─build─► built ─app─► ready ─send─► sent ─page─► loaded
//	(source)        (reloadd)      (build loop)    (-build)     (-run)       (build_complete queued)
//
// and a phase is the time between two consecutive instants, so the phases
// add up to the total by construction. An instant that comes out earlier
// than the one before it (clock granularity, a browser's rounding) is moved
// up to it: phases are never negative, and still add up.
//
// The server's instants are on its own clock. A browser's are on the
// browser's clock, which on another device can be seconds off: only its
// durations are used (navigation start, DOMContentLoaded and load minus
// the moment the message arrived), anchored at the server's "sent". So the
// page phase is the browser's own measurement whatever its clock says, and
// reports re-based by the hub (hub.Reloaded) or not give the same phases.
// The network's share (sent → received) cannot be told from a clock offset
// without a round trip; it is counted in the page phase's first part.
package breakdown

import (
	"math"
	"time"
)

// Phase names, in the order they happen.
const (
	Seen   = "seen"   // written → seen: how long the change took to be noticed (where the write time is known)
	Settle = "settle" // seen → handed: the settle window, and any wait for a running build
	Build  = "build"  // handed → built: verifying the batch, build_start, the -build command
	App    = "app"    // built → ready: restarting the -run app until it accepts connections
	Send   = "send"   // ready → sent: deciding what browsers do and queueing build_complete
	Page   = "page"   // sent → loaded: the browser's reload (or swap), by its report

	// The parts of one browser's page phase.
	Reload = "reload" // message sent → the new page's navigation start (unload, the request)
	DOM    = "dom"    // navigation start → DOMContentLoaded
	Load   = "load"   // DOMContentLoaded → load event
	Swap   = "swap"   // message sent → swapped stylesheets or images loaded (no reload)
)

// Phase is one named part of a save, in milliseconds.
type Phase struct {
	Name string  `json:"name"`
	MS   float64 `json:"ms"`
}

// Server is what reloadd measured of one build, on its clock. Zero
// instants are unknown or did not happen.
type Server struct {
	// Written is when the first change was written, where its source can
	// tell (a polled file's ctime, a forwarding agent's host time); zero
	// when unknown, and then there is no seen phase.
	Written time.Time
	// Seen is when reloadd first saw the first change (build_complete's
	// changed_at, to the nanosecond).
	Seen time.Time
	// Handed is when the build loop took the batch.
	Handed time.Time
	// Built is when the -build command ended (right after the verify
	// without -build).
	Built time.Time
	// Ready is when the -run app accepted connections; zero without -run.
	Ready time.Time
	// Sent is when build_complete was queued to every client; zero when
	// the build failed or was cancelled.
	Sent time.Time
	// Initial marks the start-up build: no save started it, so it starts
	// at Handed, without seen and settle.
	Initial bool
}

// Report is one browser's timing report (hub.Reloaded): milliseconds since
// changed_at, by the browser's clock (negative when it is behind the
// server's) or re-based on the server's — only differences are used. Zero
// fields are unknown.
type Report struct {
	Received         float64 // build_complete arrived
	NavigationStart  float64 // the reloaded page's navigation start
	DOMContentLoaded float64
	Load             float64 // the load event, or the swapped files loaded
	Swap             bool    // stylesheets or images swapped in place, no reload
}

// Result is a breakdown: its phases in order, and their sum.
type Result struct {
	// Start is the save's first instant: Written, else Seen (Handed for
	// the start-up build).
	Start time.Time
	// Phases are in order; each is at least 0, rounded to the microsecond.
	Phases []Phase
	// TotalMS is the sum of Phases.
	TotalMS float64
}

// chain accumulates consecutive instants as phases. Each boundary is
// rounded to the microsecond as an offset from the start, and a phase is
// the difference of two rounded boundaries: the phases add up exactly to
// the rounded total.
type chain struct {
	start, last time.Time
	lastMS      float64 // last, rounded, from start
	phases      []Phase
}

// to appends the phase from the last instant to at (moved up to the last
// instant when earlier). A zero at adds a zero phase.
func (c *chain) to(name string, at time.Time) {
	if !at.IsZero() && at.After(c.last) {
		c.last = at
	}
	off := ms(c.last.Sub(c.start))
	c.phases = append(c.phases, Phase{Name: name, MS: round3(off - c.lastMS)})
	c.lastMS = off
}

// Phases breaks the server's part down: seen (when Written is known),
// settle, build, app (with -run: Ready set), send (when Sent). The chain
// stops at the last instant known: a failed build ends at Built (or Ready).
func (s Server) Phases() Result {
	start := s.Seen
	if s.Initial {
		start = s.Handed
	} else if !s.Written.IsZero() && s.Written.Before(s.Seen) {
		start = s.Written
	}
	c := chain{start: start, last: start}
	if !s.Initial {
		if !s.Written.IsZero() {
			c.to(Seen, s.Seen)
		}
		c.to(Settle, s.Handed)
	}
	if !s.Built.IsZero() { // zero: nothing was built (-build-on)
		c.to(Build, s.Built)
	}
	if !s.Ready.IsZero() {
		c.to(App, s.Ready)
	}
	if !s.Sent.IsZero() {
		c.to(Send, s.Sent)
	}
	return Result{Start: start, Phases: c.phases, TotalMS: Sum(c.phases)}
}

// PagePhases breaks one browser's report down, from the moment the message
// was sent: reload, dom and load for a reload (dom and load only when the
// report has them), or swap. It returns nil when the report has no load
// time. sentMS is the server's changed_at → sent, the anchor for a report
// without Received (whose times are then taken as the server's).
func PagePhases(r Report, sentMS float64) []Phase {
	if r.Load == 0 {
		return nil
	}
	anchor := r.Received
	if anchor == 0 {
		anchor = sentMS
	}
	last, lastOff := anchor, 0.0
	var ps []Phase
	step := func(name string, at float64) {
		last = max(last, at)
		off := round3(last - anchor)
		ps = append(ps, Phase{Name: name, MS: round3(off - lastOff)})
		lastOff = off
	}
	if r.Swap || r.NavigationStart == 0 {
		if r.Swap {
			step(Swap, r.Load)
			return ps
		}
		step(Reload, r.Load) // no navigation timing: the whole reload
		return ps
	}
	step(Reload, r.NavigationStart)
	if r.DOMContentLoaded != 0 {
		step(DOM, r.DOMContentLoaded)
	}
	step(Load, r.Load)
	return ps
}

// WithPage is the save's breakdown with one browser's page phase (the sum
// of its PagePhases) appended.
func (res Result) WithPage(page []Phase) Result {
	if len(page) == 0 {
		return res
	}
	out := Result{Start: res.Start, Phases: append(append([]Phase(nil), res.Phases...), Phase{Name: Page, MS: Sum(page)})}
	out.TotalMS = Sum(out.Phases)
	return out
}

// Sum adds phases up, rounded to the microsecond.
func Sum(ps []Phase) float64 {
	t := 0.0
	for _, p := range ps {
		t += p.MS
	}
	return round3(t)
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
