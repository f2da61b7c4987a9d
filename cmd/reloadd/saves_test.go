package main

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/internal/breakdown"
	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher/auto"
)

// savesUnderTest is a saveLog printing into a buffer, collecting what it
// pushes to dashboards.
type savesUnderTest struct {
	*saveLog
	out    *testenv.Buffer
	mu     sync.Mutex
	pushed []saveRecord
}

func newSavesUnderTest(jsonLog bool) *savesUnderTest {
	s := &savesUnderTest{out: &testenv.Buffer{}}
	s.saveLog = newSaveLog(newPrinter(s.out, jsonLog, "/"), func(r saveRecord) {
		s.mu.Lock()
		s.pushed = append(s.pushed, r)
		s.mu.Unlock()
	})
	return s
}

func (s *savesUnderTest) lines() []string {
	return strings.Split(strings.TrimRight(s.out.String(), "\n"), "\n")
}

// okBuild is a successful build of index.html, seen at seen: settle 10 ms,
// build 0.5 ms, send 0.25 ms.
func okBuild(id int64, seen time.Time, clients int, browsers bool) finished {
	return finished{id: id, what: "index.html", paths: []string{"/site/index.html"}, state: stateOK, clients: clients, browsers: browsers,
		server: breakdown.Server{Seen: seen, Handed: seen.Add(10 * time.Millisecond), Built: seen.Add(10500 * time.Microsecond), Sent: seen.Add(10750 * time.Microsecond)}}
}

// reportFor is a browser's report on build id: its clock is skew ahead of
// the server's; it got the message at 10.75 ms (the server's sent), the new
// page started 2 ms later, DOMContentLoaded 20 ms after that, load 5 ms
// after that.
func reportFor(id int64, skew time.Duration) hub.Reloaded {
	off := float64(skew.Milliseconds())
	return hub.Reloaded{Type: hub.TypeReloaded, Build: id, Received: 10.75 + off, NavigationStart: 12.75 + off,
		DOMContentLoaded: 32.75 + off, Load: 37.75 + off}
}

func TestSaveLineAtOnceWithoutBrowsers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSavesUnderTest(false)
		seen := time.Now()
		s.start(7, []string{"/site/index.html"}, false, seen)
		s.finish(okBuild(7, seen, 2, false)) // two clients, neither a browser page
		want := "build 7  index.html  settle 10 · build 0.5 · send 0.2 = 11 ms  (2 clients)"
		if got := s.lines(); len(got) != 1 || got[0] != want {
			t.Errorf("lines %q, want %q", got, want)
		}
		recs := s.list()
		if len(recs) != 1 || recs[0].State != stateOK || recs[0].TotalMS != 10.75 || !recs[0].At.Equal(seen) {
			t.Errorf("records %+v", recs)
		}
		s.close()
	})
}

// TestSaveLineWaitsForTheFirstReport: with a browser connected, one line
// per save, printed when the first report comes, with the page's phase;
// the browser's clock is seconds off and the breakdown does not care.
func TestSaveLineWaitsForTheFirstReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSavesUnderTest(false)
		seen := time.Now()
		s.finish(okBuild(7, seen, 2, true))
		if out := s.out.String(); out != "" {
			t.Fatalf("printed before any report: %q", out)
		}
		time.Sleep(40 * time.Millisecond)
		s.report(reportFor(7, 4*time.Second))
		s.report(reportFor(7, -3*time.Second)) // the second tab: recorded, no line
		want := "build 7  index.html  settle 10 · build 0.5 · send 0.2 · page 27 = 38 ms  (2 clients)"
		if got := s.lines(); len(got) != 1 || got[0] != want {
			t.Errorf("lines %q, want %q", got, want)
		}
		rec := s.list()[0]
		if len(rec.Reports) != 2 || rec.TotalMS != 37.75 {
			t.Fatalf("record %+v", rec)
		}
		for i, r := range rec.Reports {
			if r.ReceivedMS != 10.75 || r.NavigationStartMS != 12.75 || r.DOMContentLoadedMS != 32.75 || r.LoadMS != 37.75 || r.TotalMS != 37.75 {
				t.Errorf("report %d: %+v", i, r)
			}
		}
		sum := 0.0
		for _, p := range rec.Phases {
			sum += p.MS
		}
		if math.Abs(sum-rec.TotalMS) > 0.001 {
			t.Errorf("phases %v add up to %v, total %v", rec.Phases, sum, rec.TotalMS)
		}
		// Nothing more when time passes.
		time.Sleep(2 * pageWait)
		synctest.Wait()
		if got := s.lines(); len(got) != 1 {
			t.Errorf("lines %q", got)
		}
		s.close()
	})
}

// TestSaveLineDeadline: no report within pageWait: the line goes out
// without the page; a report that comes later gets a short line.
func TestSaveLineDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSavesUnderTest(false)
		s.finish(okBuild(3, time.Now(), 1, true))
		time.Sleep(pageWait - time.Millisecond)
		synctest.Wait()
		if out := s.out.String(); out != "" {
			t.Fatalf("printed before the deadline: %q", out)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		want := "build 3  index.html  settle 10 · build 0.5 · send 0.2 = 11 ms  (1 client, no page report yet)"
		if got := s.lines(); len(got) != 1 || got[0] != want {
			t.Fatalf("lines %q, want %q", got, want)
		}
		s.report(reportFor(3, 0))
		if got := s.lines(); len(got) != 2 || got[1] != "build 3  page report: page 27 · total 38 ms" {
			t.Errorf("lines %q", got)
		}
		s.close()
	})
}

// TestNextSaveFlushesTheWaitingLine: lines stay in build order; a report
// on an older build after a newer line prints nothing (its page was
// reloaded again anyway), but is recorded.
func TestNextSaveFlushesTheWaitingLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSavesUnderTest(false)
		s.finish(okBuild(1, time.Now(), 1, true))
		s.finish(okBuild(2, time.Now(), 0, false))
		lines := s.lines()
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "build 1  ") || !strings.HasSuffix(lines[0], "no page report yet)") || !strings.HasPrefix(lines[1], "build 2  ") {
			t.Fatalf("lines %q", lines)
		}
		s.report(reportFor(1, 0))
		if got := s.lines(); len(got) != 2 {
			t.Errorf("lines %q", got)
		}
		if rec := s.list()[0]; len(rec.Reports) != 1 {
			t.Errorf("build 1 = %+v, want its report", rec)
		}
		time.Sleep(2 * pageWait)
		synctest.Wait()
		if got := s.lines(); len(got) != 2 {
			t.Errorf("a stopped deadline printed: %q", got)
		}
		s.close()
	})
}

// TestReportBeforeTheBuildLoopIsDone: a fast client can report between
// build_complete and the build loop's finishing the save; the report is
// kept and the line, printed at once, has the page.
func TestReportBeforeTheBuildLoopIsDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSavesUnderTest(false)
		seen := time.Now()
		s.start(5, []string{"/site/index.html"}, false, seen)
		s.report(reportFor(5, 0))
		if out := s.out.String(); out != "" {
			t.Fatalf("printed %q", out)
		}
		s.finish(okBuild(5, seen, 1, true))
		want := "build 5  index.html  settle 10 · build 0.5 · send 0.2 · page 27 = 38 ms  (1 client)"
		if got := s.lines(); len(got) != 1 || got[0] != want {
			t.Errorf("lines %q, want %q", got, want)
		}
		if rec := s.list()[0]; len(rec.Reports) != 1 || rec.TotalMS != 37.75 {
			t.Errorf("record %+v", rec)
		}
		time.Sleep(2 * pageWait)
		synctest.Wait()
		if got := s.lines(); len(got) != 1 {
			t.Errorf("lines %q", got)
		}
		s.close()
	})
}

func TestPolled(t *testing.T) {
	mounts := []auto.MountStatus{
		{Path: "/", Mode: auto.Native, UnwatchedDirs: []string{"/home/big/deep"}},
		{Path: "/mnt/share", Mode: auto.Poll},
		{Path: "/mnt/share/local", Mode: auto.Native},
		{Path: "/mnt/overlay", Mode: auto.Poll, Switched: true},
		{Path: "/mnt/hybrid", Mode: auto.Hybrid},
	}
	for path, want := range map[string]bool{
		"/home/a.html":            false,
		"/home/big/deep/x.html":   true, // a directory inotify could not watch
		"/mnt/share/index.html":   true,
		"/mnt/share/local/a.html": false, // the innermost mount decides
		"/mnt/overlay/a.css":      true,
		"/mnt/hybrid/a.css":       false,
		"/mnt/shared/a.css":       false, // not under /mnt/share
	} {
		if got := polled(mounts, path); got != want {
			t.Errorf("polled(%s) = %v, want %v", path, got, want)
		}
	}
}

func TestSaveLogKeepsTheLastSaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSavesUnderTest(false)
		defer s.close()
		for id := int64(1); id <= keepSaves+10; id++ {
			s.start(id, []string{"/a"}, false, time.Now())
			s.finish(okBuild(id, time.Now(), 0, false))
			time.Sleep(quietPush)
			synctest.Wait()
		}
		recs := s.list()
		if len(recs) != keepSaves || recs[0].Build != 11 || recs[len(recs)-1].Build != keepSaves+10 {
			t.Errorf("%d records, builds %d..%d", len(recs), recs[0].Build, recs[len(recs)-1].Build)
		}
		// Reports on a forgotten build are ignored.
		s.report(reportFor(1, 0))
		// What dashboards got: every save once, in Seq order.
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.pushed) != keepSaves+10 {
			t.Errorf("%d pushes, want one per save (fast builds are not pushed as building)", len(s.pushed))
		}
		for i := 1; i < len(s.pushed); i++ {
			if s.pushed[i].Seq <= s.pushed[i-1].Seq {
				t.Fatalf("push %d has seq %d after %d", i, s.pushed[i].Seq, s.pushed[i-1].Seq)
			}
		}
	})
}

// pushLog records what a saveLog pushes to dashboards, and when.
type pushLog struct {
	mu     sync.Mutex
	pushes []string
	at     []time.Time
}

func (p *pushLog) add(r saveRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pushes = append(p.pushes, fmt.Sprintf("%d %s %d", r.Build, r.State, len(r.Reports)))
	p.at = append(p.at, time.Now())
}

func (p *pushLog) get() ([]string, []time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.pushes), slices.Clone(p.at)
}

// TestDashboardsAreToldWhenThingsAreQuiet: changed records go to the
// dashboards once nothing has happened for quietPush (a save's page report
// counts), and a stream of saves delays them at most maxPushDelay.
func TestDashboardsAreToldWhenThingsAreQuiet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p pushLog
		l := newSaveLog(newPrinter(&testenv.Buffer{}, false, "/"), p.add)
		defer l.close()
		t0 := time.Now()
		l.finish(okBuild(1, time.Now(), 0, false))
		time.Sleep(quietPush - time.Millisecond)
		synctest.Wait()
		if got, _ := p.get(); len(got) != 0 {
			t.Fatalf("pushed %q before things were quiet", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got, at := p.get(); !slices.Equal(got, []string{"1 ok 0"}) || at[0].Sub(t0) != quietPush {
			t.Fatalf("pushed %q at %v", got, at)
		}

		// A save with a browser: its page reports 100 ms later; one push,
		// quietPush after the report, with it.
		t1 := time.Now()
		l.finish(okBuild(2, time.Now(), 1, true))
		time.Sleep(100 * time.Millisecond)
		l.report(reportFor(2, 0))
		time.Sleep(time.Second)
		synctest.Wait()
		got, at := p.get()
		if !slices.Equal(got, []string{"1 ok 0", "2 ok 1"}) || at[1].Sub(t1) != 100*time.Millisecond+quietPush {
			t.Fatalf("pushed %q at %v", got, at)
		}

		// Saves every 90 ms for 2.2 s: pushed every maxPushDelay, and once
		// more when they stop.
		t2 := time.Now()
		for id := int64(3); id < 28; id++ {
			l.start(id, []string{"/a"}, false, time.Now())
			l.finish(okBuild(id, time.Now(), 0, false))
			time.Sleep(90 * time.Millisecond)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		_, at = p.get()
		var batches []time.Duration
		for i := 2; i < len(at); i++ {
			if i == 2 || !at[i].Equal(at[i-1]) {
				batches = append(batches, at[i].Sub(t2))
			}
		}
		// The first change waiting is the clock: the first save, then the
		// first after each push (they come at 0, 0.09, 0.18 … 2.16 s).
		want := []time.Duration{maxPushDelay, 1080*time.Millisecond + maxPushDelay, 2160*time.Millisecond + quietPush}
		if !slices.Equal(batches, want) {
			t.Errorf("pushed at %v, want %v", batches, want)
		}
		if len(at) != 27 {
			t.Errorf("%d pushes, want every save once", len(at))
		}
	})
}

// TestSlowBuildIsPushedAsBuilding: dashboards hear of a build that runs
// longer than buildingPush, and of a fast one only when it is done.
func TestSlowBuildIsPushedAsBuilding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p pushLog
		l := newSaveLog(newPrinter(&testenv.Buffer{}, false, "/"), p.add)
		defer l.close()
		l.start(1, []string{"/a"}, false, time.Now())
		time.Sleep(buildingPush - time.Millisecond)
		l.finish(okBuild(1, time.Now(), 0, false))
		time.Sleep(time.Second)
		l.start(2, []string{"/a"}, false, time.Now())
		time.Sleep(time.Second)
		l.finish(okBuild(2, time.Now(), 0, false))
		time.Sleep(time.Second)
		synctest.Wait()
		if got, want := first(p.get()), []string{"1 ok 0", "2 building 0", "2 ok 0"}; !slices.Equal(got, want) {
			t.Errorf("pushed %q, want %q", got, want)
		}
	})
}

func first[A, B any](a A, _ B) A { return a }

// TestFailedSaveHasNoLineButARecord: failures have their own lines
// (announce.go); the record keeps the phases so far, the error and the
// output's tail.
func TestFailedSaveHasNoLineButARecord(t *testing.T) {
	s := newSavesUnderTest(false)
	defer s.close()
	seen := time.Now()
	out := strings.Repeat("x", outputTail) + "\nline one\nerror: it broke\n"
	s.finish(finished{id: 4, what: "a.go", paths: []string{"/a.go"}, state: stateFailed, exitCode: 2, err: "exit status 2", output: out,
		server: breakdown.Server{Seen: seen, Handed: seen.Add(10 * time.Millisecond), Built: seen.Add(30 * time.Millisecond)}})
	if s.out.String() != "" {
		t.Errorf("printed %q", s.out)
	}
	rec := s.list()[0]
	if rec.State != stateFailed || rec.ExitCode != 2 || rec.Error != "exit status 2" || rec.TotalMS != 30 || len(rec.Phases) != 2 {
		t.Errorf("record %+v", rec)
	}
	if rec.Output != "line one\nerror: it broke\n" {
		t.Errorf("output tail %q", rec.Output)
	}
	s.report(reportFor(4, 0)) // no report on a failure
	if len(s.list()[0].Reports) != 0 {
		t.Error("a failed build took a report")
	}
}

func TestSaveLineJSON(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newSavesUnderTest(true)
		f := okBuild(9, time.Now(), 1, true)
		f.server.Written, f.writtenBy = f.server.Seen.Add(-30*time.Millisecond), "ctime"
		s.finish(f)
		s.report(reportFor(9, time.Hour))
		s.close()
		var ev struct {
			Event     string            `json:"event"`
			Msg       string            `json:"msg"`
			Build     int64             `json:"build"`
			Phases    []breakdown.Phase `json:"phases"`
			TotalMS   float64           `json:"total_ms"`
			Clients   int               `json:"clients"`
			WrittenBy string            `json:"written_by"`
		}
		if err := json.Unmarshal([]byte(s.out.String()), &ev); err != nil {
			t.Fatalf("%v: %s", err, s.out)
		}
		names := []string{}
		for _, p := range ev.Phases {
			names = append(names, p.Name)
		}
		if ev.Event != "save" || ev.Build != 9 || ev.TotalMS != 67.75 || ev.WrittenBy != "ctime" || ev.Clients != 1 ||
			strings.Join(names, " ") != "seen settle build send page" || !regexp.MustCompile(`^build 9  index\.html  seen 30 · settle`).MatchString(ev.Msg) {
			t.Errorf("event %+v", ev)
		}
	})
}

func TestPlausibleWrite(t *testing.T) {
	seen := time.Date(2026, 3, 1, 12, 0, 0, 500_000_000, time.UTC)
	for _, tc := range []struct {
		name  string
		ctime time.Time
		want  time.Time
		ok    bool
	}{
		{"a poll interval before", seen.Add(-80 * time.Millisecond), seen.Add(-80 * time.Millisecond), true},
		{"written during the pass", seen.Add(3 * time.Millisecond), seen, true},
		{"whole seconds (sftp)", time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), time.Time{}, false},
		{"a file server's clock ahead", seen.Add(5 * time.Second), time.Time{}, false},
		{"too long ago to be a slow poll", seen.Add(-2 * time.Minute), time.Time{}, false},
		{"unknown", time.Time{}, time.Time{}, false},
	} {
		got, ok := plausibleWrite(tc.ctime, seen)
		if ok != tc.ok || !got.Equal(tc.want) {
			t.Errorf("%s: %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
