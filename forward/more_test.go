package forward

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/watcher"
	"github.com/reloadd/reloadd/watcher/auto"
	"github.com/reloadd/reloadd/watcher/watchertest"
)

// TestCheckout5000: a checkout of 5,000 new files and then a change to all
// of them, forwarded: every change built, none twice.
func TestCheckout5000(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 files through FUSE")
	}
	s := newShare(t, shareOpts{files: map[string]string{"README.md": "x"}})
	a := startAgent(t, s.url(), s.src, AgentOptions{})
	a.connected(t, 1)
	s.waitMode(t, auto.Forward)
	rec := watchertest.Record(t, s.w, s.mnt, watchertest.Settle)
	for _, step := range []struct {
		op   watcher.Op
		data string
	}{{watcher.Create, "v1"}, {watcher.Write, "version two"}} {
		rec.Reset()
		var want []watchertest.Change
		for i := range 5000 {
			rel := fmt.Sprintf("pkg%02d/sub%d/file%04d.go", i%40, i%3, i)
			writeAtomic(t, filepath.Join(s.src, rel), step.data)
			want = append(want, watchertest.Change{Path: rel, Op: step.op})
		}
		rec.Wait(t, want)
		rec.Sync(t)
		for p, n := range rec.BuiltTwice() {
			t.Errorf("%v: %s built %d times", step.op, p, n)
		}
	}
	if st := s.status(t); st.Mode != auto.Forward || st.Agent.Records < 10000 {
		t.Errorf("status after the checkout: %s, %+v", st.Mode, st.Agent)
	}
}

// TestThrottle: the record rate is capped after the burst; the reader
// waits (TCP then slows the agent) rather than dropping anything.
func TestThrottle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ss := &session{done: make(chan struct{}), tokens: recordBurst, refill: time.Now()}
		start := time.Now()
		if !ss.throttle(recordBurst) || time.Since(start) != 0 {
			t.Fatalf("the burst waited %v", time.Since(start))
		}
		if !ss.throttle(recordRate) || time.Since(start) != time.Second {
			t.Fatalf("a second's worth of records after the burst took %v", time.Since(start))
		}
		close(ss.done)
		if ss.throttle(10 * recordRate) {
			t.Fatal("throttle went on after the connection ended")
		}
	})
}

// TestAgentUnderInotifyLimit: the agent's watcher runs out of inotify
// watches (a real kernel limit, in a user namespace) and polls the rest;
// a change deep in the tree is still forwarded.
func TestAgentUnderInotifyLimit(t *testing.T) {
	out := testenv.InotifyLimited(t, "max_inotify_watches", "20", "TestAgentUnderInotifyLimitChild$", "RELOADD_FORWARD_CHILD=1")
	if !strings.Contains(string(out), "--- PASS: TestAgentUnderInotifyLimitChild") {
		t.Fatalf("child:\n%s", out)
	}
}

func TestAgentUnderInotifyLimitChild(t *testing.T) {
	if os.Getenv("RELOADD_FORWARD_CHILD") != "1" {
		t.Skip("run by TestAgentUnderInotifyLimit")
	}
	// The daemon side polls src itself (-watch poll): no mount is needed
	// to drive the same code, and none can be made in this namespace.
	src := tempDir(t)
	files := map[string]string{}
	for i := range 60 {
		files[fmt.Sprintf("d%02d/e/f.txt", i)] = "one"
	}
	watchertest.MakeTree(t, src, files)
	w, err := auto.New([]string{src}, auto.Options{Mode: auto.Poll})
	if err != nil {
		t.Fatal(err)
	}
	s := (&share{src: src, mnt: src, w: w, lines: &lines{}}).serve(t, shareOpts{})
	a := startAgent(t, s.url(), src, AgentOptions{})
	a.connected(t, 1)
	testenv.Eventually(t, "the agent to report the limit", func() bool { return a.lines.find("watch_error", "max_user_watches") })
	rec := watchertest.Record(t, w, src, watchertest.Settle)
	before := s.status(t).Agent.Records
	writeFile(t, filepath.Join(src, "d59/e/f.txt"), "two")
	rec.Wait(t, []watchertest.Change{{Path: "d59/e/f.txt", Op: watcher.Write}})
	testenv.Eventually(t, "a record for it", func() bool { return s.status(t).Agent.Records > before })
}

// TestWrittenBefore: a record's age takes its change back from the
// record's arrival; a missing, negative or implausibly old age says
// nothing.
func TestWrittenBefore(t *testing.T) {
	arrived := time.Unix(1000, 0)
	for _, tc := range []struct {
		ageUS int64
		want  time.Time
	}{
		{0, time.Time{}},
		{-5, time.Time{}},
		{1, arrived.Add(-time.Microsecond)},
		{2500, arrived.Add(-2500 * time.Microsecond)},
		{maxRecordAge.Microseconds(), arrived.Add(-maxRecordAge)},
		{maxRecordAge.Microseconds() + 1, time.Time{}},
		// Ages whose nanoseconds overflow int64 (and would wrap to a
		// small positive duration) are too old too.
		{math.MaxInt64/1000 + 60_001, time.Time{}},
		{math.MaxInt64, time.Time{}},
	} {
		if got := writtenBefore(arrived, tc.ageUS); !got.Equal(tc.want) {
			t.Errorf("writtenBefore(age %d µs) = %v, want %v", tc.ageUS, got, tc.want)
		}
	}
}
