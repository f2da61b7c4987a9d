package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/internal/breakdown"
	"github.com/reloadd/reloadd/watcher"
)

// Saves: where each save's time went (internal/breakdown does the
// arithmetic). The build loop stamps an outcome as it goes (pipeline.go:
// outcome.at), announce.go hands the outcome here, browsers' reports come
// in from browser.go. From them: one terminal line per save, the "saves"
// of /_reloadd/status, and the dashboard's live updates.
//
// Design notes:
//
//   - keepSaves: the status and the dashboard show the last 50 saves: a
//     morning's work at a glance, and the dashboard's bars stay readable.
//   - pageWait: with a browser connected, the save line waits for the
//     first page report so that it can say how long the page took — a
//     small page reloads in about 60 ms after the message. 2 s covers heavy
//     development pages; past it the line is printed without the page (and
//     a report that comes later still gets a short line), so a build line
//     is never held longer than that. Without a browser (no client, or
//     only programs and LiveReload clients, which never report) the line
//     is printed at once.
//   - keepReports: reports kept per save, one per tab; more tabs than that
//     tell nothing the first ones did not.
//   - outputTail: the end of a build's output kept per save for the
//     dashboard (where errors are); the whole tail is on the terminal and,
//     after a failure, in the browser's overlay.
//   - Dashboards are told when it costs the saves nothing. A dashboard tab
//     that redraws takes CPU (a new row moves every row below it: tens of
//     milliseconds of layout and raster per tab) from the browsers'
//     reloads and from the next save on its way. So changed records wait
//     until the pipeline has been quiet for quietPush — no build started
//     or finished, no report — and then go out together: a page reloads
//     and reports within about 100 ms of build_complete, and saves by hand
//     come half a second or more apart, so 250 ms of quiet falls between
//     a save reaching the screen and the next one. A stream of saves
//     closer than that delays them at most maxPushDelay: a dashboard lags
//     it by a second. A build is marked as running only once it has run
//     buildingPush (as the browser's "rebuilding…" indicator): a fast one
//     is never shown as running.
const (
	keepSaves    = 50
	pageWait     = 2 * time.Second
	keepReports  = 16
	outputTail   = 2048
	buildingPush = 150 * time.Millisecond
	quietPush    = 250 * time.Millisecond
	maxPushDelay = time.Second
)

// Save states.
const (
	stateBuilding  = "building"
	stateOK        = "ok"
	stateFailed    = "failed"
	stateCancelled = "cancelled"
)

// saveRecord is one entry of "saves" in /_reloadd/status and of the
// dashboard's "save" messages (docs/DESIGN.md).
type saveRecord struct {
	Build int64 `json:"build"`
	// Seq increases with every change of any save record: of two copies of
	// a record, the one with the higher Seq is newer.
	Seq       int64     `json:"seq"`
	State     string    `json:"state"`
	Initial   bool      `json:"initial,omitempty"`
	Paths     []string  `json:"paths"` // the first few changed paths, absolute
	PathCount int       `json:"path_count"`
	At        time.Time `json:"at"` // the save's start: written, else seen
	// WrittenBy says what told when the change was written ("ctime" or
	// "agent"); absent when unknown, and then there is no seen phase.
	WrittenBy string            `json:"written_by,omitempty"`
	Phases    []breakdown.Phase `json:"phases"`
	TotalMS   float64           `json:"total_ms"`
	Clients   int               `json:"clients"`
	Reports   []reportRecord    `json:"reports"`
	ExitCode  int               `json:"exit_code,omitempty"`
	Error     string            `json:"error,omitempty"`
	Output    string            `json:"output,omitempty"`
}

// reportRecord is one browser's report on a save, in milliseconds since
// the save's start on the server's clock.
type reportRecord struct {
	ReceivedMS         float64           `json:"received_ms"`
	NavigationStartMS  float64           `json:"navigation_start_ms,omitempty"`
	DOMContentLoadedMS float64           `json:"dom_content_loaded_ms,omitempty"`
	LoadMS             float64           `json:"load_ms"`
	Swap               string            `json:"swap,omitempty"` // "css", "img" or "css+img"
	Phases             []breakdown.Phase `json:"phases"`
	TotalMS            float64           `json:"total_ms"`
}

// showPaths is how many paths a record keeps.
const showPaths = 8

// finished is what the build loop knows of a build once it is announced.
type finished struct {
	id        int64
	what      string // the terminal's name for the change
	paths     []string
	initial   bool
	state     string
	server    breakdown.Server
	writtenBy string
	clients   int  // build_complete was queued to
	browsers  bool // a browser page may report
	exitCode  int
	err       string
	output    string
	note      string // what browsers were told, when not a reload: "css swap", …
}

// save is one record and what the terminal line needs.
type save struct {
	rec    saveRecord
	srv    breakdown.Result // the server's part
	sentMS float64          // changed_at (ms) → sent: anchor for reports without received
	what   string
	note   string         // finished.note
	paged  bool           // the terminal has shown a page phase for it
	early  []hub.Reloaded // reports that came before the build was finished here
	// building marks the record for dashboards once the build has run
	// buildingPush.
	building *time.Timer
}

// saveLog keeps the last saves and prints their lines. Safe for concurrent
// use: the build loop starts and finishes saves, client readers report.
type saveLog struct {
	out  *printer
	push func(saveRecord) // to dashboards; called without the lock held
	wait time.Duration    // pageWait

	mu       sync.Mutex
	seq      int64
	saves    []*save // oldest first
	pending  *save   // its line waits for a page report
	timer    *time.Timer
	lastLine int64 // the build whose line was printed last
	closed   bool
	// For dashboards: the records changed since the last push, since when,
	// and the timer that pushes them once things are quiet.
	dirty []*save
	since time.Time
	quiet *time.Timer
}

func newSaveLog(out *printer, push func(saveRecord)) *saveLog {
	return &saveLog{out: out, push: push, wait: pageWait}
}

// find returns the save of build id, or nil. Called with the lock held.
func (l *saveLog) find(id int64) *save {
	for i := len(l.saves) - 1; i >= 0; i-- {
		if l.saves[i].rec.Build == id {
			return l.saves[i]
		}
	}
	return nil
}

// changedLocked bumps s's Seq; with tell, dashboards get the record once
// things are quiet.
func (l *saveLog) changedLocked(s *save, tell bool) {
	l.seq++
	s.rec.Seq = l.seq
	if !tell || l.push == nil || l.closed {
		l.armLocked()
		return
	}
	if !slices.Contains(l.dirty, s) {
		l.dirty = append(l.dirty, s)
	}
	if l.since.IsZero() {
		l.since = time.Now()
	}
	l.armLocked()
}

// armLocked (re)starts the wait for quiet when records wait for the
// dashboards: quietPush from now, but no later than maxPushDelay after the
// first of them changed.
func (l *saveLog) armLocked() {
	if len(l.dirty) == 0 || l.closed {
		return
	}
	d := min(quietPush, max(maxPushDelay-time.Since(l.since), 0))
	if l.quiet == nil {
		l.quiet = time.AfterFunc(d, l.pushQuiet)
	} else {
		l.quiet.Reset(d)
	}
}

// pushQuiet sends the changed records to the dashboards, oldest change
// first.
func (l *saveLog) pushQuiet() {
	l.mu.Lock()
	recs := make([]saveRecord, 0, len(l.dirty))
	for _, s := range l.dirty {
		recs = append(recs, l.copyLocked(s))
	}
	l.dirty, l.since = nil, time.Time{}
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return
	}
	slices.SortFunc(recs, func(a, b saveRecord) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, rec := range recs {
		l.push(rec)
	}
}

// start records that build id started.
func (l *saveLog) start(id int64, paths []string, initial bool, seen time.Time) {
	l.mu.Lock()
	s := l.find(id)
	if s == nil {
		s = &save{}
		l.saves = append(l.saves, s)
		if len(l.saves) > keepSaves {
			l.saves = l.saves[len(l.saves)-keepSaves:]
		}
	}
	s.rec = saveRecord{Build: id, State: stateBuilding, Initial: initial, Paths: firstPaths(paths), PathCount: len(paths),
		At: seen.UTC(), Phases: []breakdown.Phase{}, Reports: []reportRecord{}}
	l.changedLocked(s, false) // a build that is fast is never shown as running
	if !l.closed {
		s.building = time.AfterFunc(buildingPush, func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if s.rec.State == stateBuilding {
				l.changedLocked(s, true)
			}
		})
	}
	l.mu.Unlock()
}

// copyLocked is a copy of s's record that shares nothing with it.
func (l *saveLog) copyLocked(s *save) saveRecord {
	rec := s.rec
	rec.Reports = append([]reportRecord{}, s.rec.Reports...)
	return rec
}

// finish records how build f.id ended and prints its line: at once, or,
// when a browser will report, with the first report (at most l.wait
// later). Failed and cancelled builds have their own lines (announce.go).
func (l *saveLog) finish(f finished) {
	l.mu.Lock()
	l.flushLocked()
	s := l.find(f.id)
	if s == nil {
		s = &save{}
		l.saves = append(l.saves, s)
		if len(l.saves) > keepSaves {
			l.saves = l.saves[len(l.saves)-keepSaves:]
		}
	}
	if s.building != nil {
		s.building.Stop()
		s.building = nil
	}
	s.srv = f.server.Phases()
	s.what, s.note = f.what, f.note
	s.paged = false
	if !f.server.Sent.IsZero() {
		s.sentMS = float64(f.server.Sent.Sub(time.UnixMilli(f.server.Seen.UnixMilli())).Microseconds()) / 1000
	}
	s.rec = saveRecord{Build: f.id, State: f.state, Initial: f.initial, Paths: firstPaths(f.paths), PathCount: len(f.paths),
		At: s.srv.Start.UTC(), WrittenBy: f.writtenBy, Phases: s.srv.Phases, TotalMS: s.srv.TotalMS,
		Clients: f.clients, Reports: []reportRecord{}, ExitCode: f.exitCode, Error: f.err, Output: tail(f.output, outputTail)}
	if f.writtenBy == "" || f.server.Written.IsZero() {
		s.rec.WrittenBy = ""
	}
	if f.state == stateOK {
		// A client can report before the build loop gets here.
		for _, r := range s.early {
			l.addReportLocked(s, r)
		}
		s.early = nil
		if f.clients > 0 && f.browsers && len(s.rec.Reports) == 0 && !l.closed {
			l.pending = s
			l.timer = time.AfterFunc(l.wait, func() { l.deadline(s) })
		} else {
			l.printLocked(s, "")
		}
	}
	l.changedLocked(s, true)
	l.mu.Unlock()
}

// report adds a browser's report (re-based by the hub) to its save. The
// first one completes the save's breakdown and, if the save's line is
// waiting, prints it.
func (l *saveLog) report(r hub.Reloaded) {
	l.mu.Lock()
	s := l.find(r.Build)
	switch {
	case s == nil:
		l.mu.Unlock()
		return
	case s.rec.State == stateBuilding:
		if len(s.early) < keepReports {
			s.early = append(s.early, r)
		}
		l.mu.Unlock()
		return
	}
	if !l.addReportLocked(s, r) {
		l.mu.Unlock()
		return
	}
	l.changedLocked(s, true)
	if len(s.rec.Reports) == 1 {
		switch {
		case l.pending == s: // the line waited for this
			l.stopTimerLocked()
			l.printLocked(s, "")
		case !s.paged && l.lastLine == s.rec.Build && !l.closed:
			// Its line went out without a page (at the deadline, or at
			// once for a client that is not a browser page), and no
			// other since: the page's figure gets a line of its own.
			page := s.rec.Reports[0].TotalMS - s.rec.Reports[0].ReceivedMS
			l.out.event("save", fmt.Sprintf("build %d  page report: page %s · total %s ms", s.rec.Build,
				fmtMS(page), fmtMS(s.rec.TotalMS)), l.fields(s, true))
			s.paged = true
		}
	}
	l.mu.Unlock()
}

// addReportLocked adds r to s, a finished save; the first report
// completes the save's breakdown. It reports whether r was taken.
func (l *saveLog) addReportLocked(s *save, r hub.Reloaded) bool {
	if s.rec.State != stateOK || len(s.rec.Reports) >= keepReports {
		return false
	}
	br := breakdown.Report{Received: r.Received, NavigationStart: r.NavigationStart,
		DOMContentLoaded: r.DOMContentLoaded, Load: r.Load, Swap: r.CSSSwap || r.ImgSwap}
	page := breakdown.PagePhases(br, s.sentMS)
	if page == nil {
		return false
	}
	s.rec.Reports = append(s.rec.Reports, newReportRecord(s.srv.TotalMS, page, r))
	if len(s.rec.Reports) == 1 {
		full := s.srv.WithPage(page)
		s.rec.Phases, s.rec.TotalMS = full.Phases, full.TotalMS
	}
	return true
}

// newReportRecord places a report's page phases after the server's part
// (serverMS: the save's start → sent).
func newReportRecord(serverMS float64, page []breakdown.Phase, r hub.Reloaded) reportRecord {
	rr := reportRecord{ReceivedMS: serverMS, Phases: page}
	at := serverMS
	for _, p := range page {
		at = round3(at + p.MS)
		switch p.Name {
		case breakdown.Reload:
			rr.NavigationStartMS = at
		case breakdown.DOM:
			rr.DOMContentLoadedMS = at
		}
	}
	if r.NavigationStart == 0 {
		rr.NavigationStartMS = 0 // the whole reload, without navigation timing
	}
	rr.LoadMS, rr.TotalMS = at, at
	switch {
	case r.CSSSwap && r.ImgSwap:
		rr.Swap = "css+img"
	case r.CSSSwap:
		rr.Swap = "css"
	case r.ImgSwap:
		rr.Swap = "img"
	}
	return rr
}

// deadline prints s's line without a page when no report came in time.
func (l *saveLog) deadline(s *save) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == s {
		l.pending = nil
		l.printLocked(s, "no page report yet")
	}
}

// flush prints a line still waiting for its page report.
func (l *saveLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *saveLog) flushLocked() {
	if s := l.pending; s != nil {
		l.stopTimerLocked()
		l.printLocked(s, "no page report yet")
	}
}

func (l *saveLog) stopTimerLocked() {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.pending = nil
}

// close prints a waiting line and stops the timers; later reports print
// nothing.
func (l *saveLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
	for _, s := range l.saves {
		if s.building != nil {
			s.building.Stop()
			s.building = nil
		}
	}
	if l.quiet != nil {
		l.quiet.Stop()
	}
	l.dirty = nil
	l.closed = true
}

// printLocked prints s's line:
//
//	build 7  index.html  settle 10 · build 0.3 · send 0.1 · page 46 = 57 ms  (2 clients)
func (l *saveLog) printLocked(s *save, note string) {
	var b strings.Builder
	fmt.Fprintf(&b, "build %d  %s  ", s.rec.Build, s.what)
	for i, p := range s.rec.Phases {
		if i > 0 {
			b.WriteString(" · ")
		}
		b.WriteString(p.Name + " " + fmtMS(p.MS))
	}
	fmt.Fprintf(&b, " = %s ms  (%s", fmtMS(s.rec.TotalMS), count(s.rec.Clients, "client", "clients"))
	if s.note != "" {
		b.WriteString(", " + s.note)
	}
	if note != "" {
		b.WriteString(", " + note)
	}
	b.WriteString(")")
	s.paged = len(s.rec.Reports) > 0
	l.lastLine = s.rec.Build
	l.out.event("save", b.String(), l.fields(s, false))
}

// fields are the JSON form of a save line.
func (l *saveLog) fields(s *save, late bool) map[string]any {
	f := map[string]any{"build": s.rec.Build, "paths": s.rec.Paths, "path_count": s.rec.PathCount,
		"phases": s.rec.Phases, "total_ms": s.rec.TotalMS, "clients": s.rec.Clients, "reports": len(s.rec.Reports)}
	if s.rec.Initial {
		f["initial"] = true
	}
	if s.rec.WrittenBy != "" {
		f["written_by"] = s.rec.WrittenBy
	}
	if late {
		f["late"] = true
	}
	return f
}

// list returns copies of the saves, oldest first, never nil.
func (l *saveLog) list() []saveRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]saveRecord, 0, len(l.saves))
	for _, s := range l.saves {
		out = append(out, l.copyLocked(s))
	}
	return out
}

// fmtMS formats milliseconds for the save line: one decimal below 10.
func fmtMS(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

func firstPaths(paths []string) []string {
	return append([]string{}, paths[:min(len(paths), showPaths)]...)
}

// tail returns the last n bytes of s, starting at a line (or at least a
// rune) boundary.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		return s[i+1:]
	}
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return s
}

// The daemon's side.

// firstChange is the verified event seen first: the one a save starts with.
func firstChange(events []watcher.Event) watcher.Event {
	var first watcher.Event
	for _, ev := range events {
		if !ev.Time.IsZero() && (first.Time.IsZero() || ev.Time.Before(first.Time)) {
			first = ev
		}
	}
	return first
}

// saveFinished hands an announced outcome to the save log: what, the
// terminal's name for its change; clients, how many build_complete or
// build_failed reached.
func (d *daemon) saveFinished(o *outcome, what string, clients int) {
	f := finished{id: o.id, what: what, paths: o.paths, initial: o.initial, clients: clients,
		server: breakdown.Server{Seen: o.changedAt, Handed: o.at.handed, Built: o.at.built, Ready: o.at.ready, Sent: o.at.sent, Initial: o.initial}}
	switch {
	case o.res.OK:
		f.state = stateOK
		// A page that is told nothing changed has nothing to report.
		f.browsers = d.hub.Browsers() > 0 && o.plan.action != hub.ActionNone
		switch {
		case o.plan.action == hub.ActionNone:
			f.note = "nothing visible changed: no reload"
		case o.plan.action == hub.ActionSwap:
			f.note = o.plan.swapWhat()
		}
		if !o.built {
			f.note = strings.TrimSuffix("no build (-build-on), "+f.note, ", ")
		}
	case o.cancelled():
		f.state = stateCancelled
	default:
		f.state, f.exitCode = stateFailed, o.res.ExitCode
		if o.res.Err != nil {
			f.err = o.res.Err.Error()
		}
	}
	f.output = o.output
	if !o.initial && f.state != stateCancelled {
		f.server.Written, f.writtenBy = d.writtenAt(o.at.first)
	}
	d.saves.finish(f)
}

// pushSave sends a changed save record to the dashboards, with what they
// show beside it that the save changes (the build id, the histograms).
func (d *daemon) pushSave(rec saveRecord) {
	if d.hub.Dashboards() == 0 {
		return
	}
	b, err := json.Marshal(map[string]any{"type": "save", "save": rec, "build": d.hub.Build(),
		"clients": d.hub.Clients(), "reload_latency": d.latency.snapshot()})
	if err != nil {
		return
	}
	d.hub.Dashboard(b)
}
