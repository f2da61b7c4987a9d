package breakdown

import (
	"math"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }

func names(ps []Phase) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// addsUp checks the invariant every breakdown keeps: no negative phase,
// and the phases add up to the total within a microsecond per phase.
func addsUp(t *testing.T, what string, ps []Phase, total float64) {
	t.Helper()
	sum := 0.0
	for _, p := range ps {
		if p.MS < 0 {
			t.Errorf("%s: phase %s is %v ms", what, p.Name, p.MS)
		}
		sum += p.MS
	}
	if math.Abs(sum-total) > 0.001*float64(len(ps)+1) {
		t.Errorf("%s: phases add up to %v, total says %v", what, sum, total)
	}
}

func TestServerPhases(t *testing.T) {
	for _, tc := range []struct {
		name   string
		s      Server
		want   []Phase
		start  time.Time
		totalM float64
	}{{
		name:   "native save, no -run",
		s:      Server{Seen: at(0), Handed: at(10.2), Built: at(10.5), Sent: at(10.6)},
		want:   []Phase{{Settle, 10.2}, {Build, 0.3}, {Send, 0.1}},
		start:  at(0),
		totalM: 10.6,
	}, {
		name:   "polled save with its write time, -run",
		s:      Server{Written: at(-40), Seen: at(0), Handed: at(10), Built: at(250), Ready: at(560), Sent: at(560.25)},
		want:   []Phase{{Seen, 40}, {Settle, 10}, {Build, 240}, {App, 310}, {Send, 0.25}},
		start:  at(-40),
		totalM: 600.25,
	}, {
		name:   "failed build: ends when the command did",
		s:      Server{Seen: at(0), Handed: at(10), Built: at(30)},
		want:   []Phase{{Settle, 10}, {Build, 20}},
		start:  at(0),
		totalM: 30,
	}, {
		name:   "start-up build: no save started it",
		s:      Server{Initial: true, Seen: at(-5000), Handed: at(0), Built: at(800), Sent: at(801)},
		want:   []Phase{{Build, 800}, {Send, 1}},
		start:  at(0),
		totalM: 801,
	}, {
		name:   "out of order instants are moved up, never negative",
		s:      Server{Seen: at(5), Handed: at(4), Built: at(9), Sent: at(8.5)},
		want:   []Phase{{Settle, 0}, {Build, 4}, {Send, 0}},
		start:  at(5),
		totalM: 4,
	}, {
		name:   "a write time after the sighting is no write time",
		s:      Server{Written: at(3), Seen: at(0), Handed: at(10), Built: at(11), Sent: at(11)},
		want:   []Phase{{Seen, 0}, {Settle, 10}, {Build, 1}, {Send, 0}},
		start:  at(0),
		totalM: 11,
	}, {
		name:   "nanoseconds round to the microsecond and still add up",
		s:      Server{Seen: at(0), Handed: t0.Add(10_000_400), Built: t0.Add(10_000_800), Sent: t0.Add(10_001_200)},
		want:   []Phase{{Settle, 10}, {Build, 0.001}, {Send, 0}},
		start:  at(0),
		totalM: 10.001,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.s.Phases()
			if !reflect.DeepEqual(got.Phases, tc.want) {
				t.Errorf("phases = %v, want %v", got.Phases, tc.want)
			}
			if !got.Start.Equal(tc.start) {
				t.Errorf("start = %v, want %v", got.Start, tc.start)
			}
			if math.Abs(got.TotalMS-tc.totalM) > 1e-9 {
				t.Errorf("total = %v, want %v", got.TotalMS, tc.totalM)
			}
			addsUp(t, tc.name, got.Phases, got.TotalMS)
		})
	}
}

// TestPagePhasesIgnoreTheBrowserClock: the same reload measured by a
// browser whose clock is right, five seconds ahead, three seconds behind
// (its times since changed_at then come out negative), and re-based by the
// hub on the server's clock, gives the same phases.
func TestPagePhasesIgnoreTheBrowserClock(t *testing.T) {
	// On the server's clock: the change was seen at 0, build_complete sent
	// at 12.4 ms; the browser had it 0.6 ms later, the new page started
	// navigating 3 ms after that, DOMContentLoaded 30 ms later, load 12 ms
	// after that.
	const sent = 12.4
	truth := Report{Received: 13, NavigationStart: 16, DOMContentLoaded: 46, Load: 58}
	skew := func(r Report, off float64) Report {
		r.Received += off
		r.NavigationStart += off
		r.DOMContentLoaded += off
		r.Load += off
		return r
	}
	// The hub's re-basing (hub.Reloaded): received becomes the server's
	// changed_at → sent, the rest shift by the same amount.
	rebased := skew(truth, sent-truth.Received)
	want := []Phase{{Reload, 3}, {DOM, 30}, {Load, 12}}
	for _, tc := range []struct {
		name string
		r    Report
	}{
		{"same clock", truth},
		{"browser 5 s ahead", skew(truth, 5000)},
		{"browser 3 s behind", skew(truth, -3000)},
		{"re-based by the hub", rebased},
	} {
		got := PagePhases(tc.r, sent)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", tc.name, got, want)
		}
		// The save's total: the server's part up to sent, then the page.
		srv := Server{Seen: at(0), Handed: at(10), Built: at(12), Sent: at(sent)}.Phases()
		full := srv.WithPage(got)
		if n := names(full.Phases); !reflect.DeepEqual(n, []string{Settle, Build, Send, Page}) {
			t.Errorf("%s: phases %v", tc.name, n)
		}
		if math.Abs(full.TotalMS-(sent+45)) > 0.001 {
			t.Errorf("%s: total %v ms, want %v", tc.name, full.TotalMS, sent+45)
		}
		addsUp(t, tc.name, full.Phases, full.TotalMS)
	}
}

func TestPagePhases(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Report
		want []Phase
	}{
		{"swap", Report{Received: 5, Load: 14.5, Swap: true}, []Phase{{Swap, 9.5}}},
		{"no DOMContentLoaded", Report{Received: 5, NavigationStart: 8, Load: 40}, []Phase{{Reload, 3}, {Load, 32}}},
		{"no navigation timing", Report{Received: 5, Load: 40}, []Phase{{Reload, 35}}},
		{"no load: nothing", Report{Received: 5, NavigationStart: 8}, nil},
		{"rounding makes navigation start precede receipt", Report{Received: 5.4, NavigationStart: 5, DOMContentLoaded: 20, Load: 25},
			[]Phase{{Reload, 0}, {DOM, 14.6}, {Load, 5}}},
		{"no received: the server's sent is the anchor", Report{NavigationStart: 15, DOMContentLoaded: 20, Load: 25}, []Phase{{Reload, 3}, {DOM, 5}, {Load, 5}}},
	} {
		got := PagePhases(tc.r, 12)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if got != nil {
			addsUp(t, tc.name, got, Sum(got))
		}
	}
}

func TestWithPageKeepsTheServerPart(t *testing.T) {
	srv := Server{Seen: at(0), Handed: at(10), Built: at(11), Sent: at(11.5)}.Phases()
	before := append([]Phase(nil), srv.Phases...)
	if got := srv.WithPage(nil); !reflect.DeepEqual(got, srv) {
		t.Errorf("WithPage(nil) = %+v", got)
	}
	full := srv.WithPage([]Phase{{Reload, 2}, {DOM, 20}, {Load, 3}})
	if !reflect.DeepEqual(srv.Phases, before) {
		t.Error("WithPage changed its receiver's phases")
	}
	if last := full.Phases[len(full.Phases)-1]; last != (Phase{Page, 25}) || full.TotalMS != 36.5 {
		t.Errorf("with page: %+v", full)
	}
}
