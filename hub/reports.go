package hub

import (
	"sync"
	"time"
)

// Timing reports are only believed when they could be true. Design notes:
//
//   - reportWindow: a report arrives after the reloaded page's load event,
//     which on any real page is within seconds of the build_complete; a
//     minute leaves room for a hidden tab's throttled timers and a slow
//     machine, and bounds what a forged report can claim (issue 13: a day,
//     86,400,000 ms, once set the status p50).
//   - reportSlack: after re-basing, every time a report carries lies
//     between the change and now on the server's clock, give or take the
//     whole milliseconds of changed_at and of the browser's Date.now() and
//     timer granularity; 10 ms covers those.
//   - reportRate, reportBurst: one line per report reaches the terminal.
//     Legitimate reports come once per open tab and build, so a burst of
//     64 covers that many tabs reloading together; 16 a second more than
//     covers saves by hand. A flood beyond that is dropped, not printed.
//   - reportRing: a connection reports on the build its hello named and on
//     the builds it was sent; only the most recent few matter (a page that
//     is still loading when four more builds complete reloads again
//     anyway).
const (
	reportWindow = time.Minute
	reportSlack  = 10 * time.Millisecond
	reportRate   = 16 // per second
	reportBurst  = 64
	reportRing   = 4
)

// sentLog remembers the last few build_completes: when they were sent and
// how many more reports each may still bring, so that timing reports can be
// re-based on the server's clock (see [Reloaded]) and bounded.
type sentLog struct {
	mu   sync.Mutex
	next int
	ring [sentLogSize]sentEntry
}

// sentLogSize: reports arrive within seconds of their build; a few builds
// of history cover tabs that are slow to reload while new builds finish.
const sentLogSize = 16

type sentEntry struct {
	build     int64
	changedAt int64 // unix ms, server clock
	sentAt    time.Time
	budget    int // reports still accepted: one per client it was sent to
}

func (l *sentLog) record(build, changedAt int64, sentAt time.Time, clients int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = sentEntry{build: build, changedAt: changedAt, sentAt: sentAt, budget: clients}
	l.next = (l.next + 1) % sentLogSize
}

// accept decides on report r, received at now: it re-bases r's times on the
// server clock and reports true when r is for a recent build sent within
// reportWindow, whose budget is not spent, and every time fits between the
// change and now. Accepting spends one of the build's budget.
func (l *sentLog) accept(r *Reloaded, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	var e *sentEntry
	for i := range l.ring {
		if x := &l.ring[i]; x.build == r.Build && !x.sentAt.IsZero() {
			e = x
			break
		}
	}
	if e == nil || e.changedAt <= 0 || e.budget <= 0 || now.Sub(e.sentAt) > reportWindow {
		return false
	}
	if r.Received != 0 {
		// The server's figure for changed → sent; the browser's durations
		// after it.
		server := float64(e.sentAt.UnixMicro()-e.changedAt*1000) / 1000
		shift := server - r.Received
		for _, v := range []*float64{&r.NavigationStart, &r.DOMContentLoaded, &r.Load} {
			if *v != 0 {
				*v += shift
			}
		}
		r.Received = server
	}
	limit := float64(now.UnixMicro()-e.changedAt*1000)/1000 + float64(reportSlack.Microseconds())/1000
	for _, v := range []float64{r.NavigationStart, r.DOMContentLoaded, r.Load, r.Received} {
		if v < 0 || v > limit {
			return false
		}
	}
	e.budget--
	return true
}

// reportable is the builds one connection may still report on: its hello's
// and those whose build_complete it was sent, each once. The owner adds,
// the client's reader takes.
type reportable struct {
	mu   sync.Mutex
	ids  [reportRing]int64 // 0: empty (build ids start at 1)
	next int
}

func (r *reportable) add(build int64) {
	if build <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range r.ids {
		if id == build {
			return
		}
	}
	r.ids[r.next] = build
	r.next = (r.next + 1) % reportRing
}

// take reports whether build may be reported on, and makes it the last
// time.
func (r *reportable) take(build int64) bool {
	if build <= 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, id := range r.ids {
		if id == build {
			r.ids[i] = 0
			return true
		}
	}
	return false
}

// bucket is a token bucket: up to burst events at once, rate per second on
// average. The zero time starts it full.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

// allow reports whether an event at now fits, and counts it if so.
func (b *bucket) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.last.IsZero():
		b.tokens, b.last = b.burst, now
	case now.After(b.last):
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
