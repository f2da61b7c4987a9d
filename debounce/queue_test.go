package debounce

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/watcher"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness runs a queue inside a synctest bubble.
type harness struct {
	t   *testing.T
	in  chan watcher.Event
	q   *Queue
	t0  time.Time
	got []Batch
}

func newHarness(t *testing.T, opts Options) *harness {
	h := &harness{t: t, in: make(chan watcher.Event, 64), t0: time.Now()}
	h.q = New(h.in, opts)
	t.Cleanup(func() { h.q.Close() })
	return h
}

func (h *harness) send(op watcher.Op, paths ...string) {
	for _, p := range paths {
		h.in <- watcher.Event{Path: p, Op: op, Time: time.Now()}
	}
}

// next waits (in fake time) for the next batch; it fails if none comes
// within limit.
func (h *harness) next(limit time.Duration) Batch {
	h.t.Helper()
	select {
	case b := <-h.q.Batches():
		h.got = append(h.got, b)
		return b
	case <-time.After(limit):
		h.t.Fatalf("no batch within %v", limit)
		return Batch{}
	}
}

// none asserts that no batch comes within d.
func (h *harness) none(d time.Duration) {
	h.t.Helper()
	select {
	case b := <-h.q.Batches():
		h.t.Fatalf("unexpected batch %v", b.Events)
	case <-time.After(d):
	}
}

// afterClose waits for the next batch, which must come CompleteSettle
// after now (a close was just sent) and hold exactly want, and marks it
// done.
func (h *harness) afterClose(want ...string) {
	h.t.Helper()
	start := time.Now()
	b := h.next(time.Minute)
	if d := time.Since(start); d != CompleteSettle {
		h.t.Errorf("batch %v after the close, want %v", d, CompleteSettle)
	}
	if got := paths(b); !slices.Equal(got, want) {
		h.t.Errorf("batch %v, want %v", got, want)
	}
	h.q.Done()
}

func paths(b Batch) []string { return b.Paths() }

func TestQueue(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		run  func(t *testing.T, h *harness)
	}{
		{"one change, one batch after the settle window", Options{}, func(t *testing.T, h *harness) {
			h.send(watcher.Write, "/a")
			b := h.next(time.Minute)
			if d := time.Since(h.t0); d != DefaultSettle {
				t.Errorf("batch after %v, want exactly %v", d, DefaultSettle)
			}
			if !slices.Equal(paths(b), []string{"/a"}) || b.Events[0].Op != watcher.Write {
				t.Errorf("batch = %v", b.Events)
			}
			if !b.First.Equal(h.t0) {
				t.Errorf("First = %v, want %v", b.First, h.t0)
			}
			h.q.Done()
			h.none(time.Minute)
		}},
		{"burst within the settle window, one batch", Options{}, func(t *testing.T, h *harness) {
			for i := range 5 {
				h.send(watcher.Write, "/b", "/a", "/c")
				if i < 4 {
					time.Sleep(DefaultSettle - time.Millisecond)
				}
			}
			b := h.next(time.Minute)
			if !slices.Equal(paths(b), []string{"/a", "/b", "/c"}) {
				t.Errorf("batch = %v", paths(b))
			}
			h.q.Done()
			h.none(time.Minute)
		}},
		{"changes during a build, exactly one more batch with all of them", Options{}, func(t *testing.T, h *harness) {
			h.send(watcher.Write, "/a")
			h.next(time.Minute)
			// The build runs for 5 s; changes keep arriving.
			for i := range 50 {
				h.send(watcher.Write, "/x"+string(rune('a'+i%26)))
				time.Sleep(100 * time.Millisecond)
			}
			h.none(time.Second) // nothing while the build runs
			h.q.Done()
			b := h.next(time.Minute)
			if len(b.Events) != 26 {
				t.Errorf("second batch has %d paths, want 26", len(b.Events))
			}
			h.q.Done()
			h.none(time.Minute)
		}},
		{"no change, no batch", Options{}, func(t *testing.T, h *harness) {
			h.none(time.Hour)
		}},
		{"temp file created and removed is no change", Options{}, func(t *testing.T, h *harness) {
			h.send(watcher.Create, "/d/sedAbC123")
			h.send(watcher.Write, "/d/sedAbC123")
			h.send(watcher.Rename, "/d/sedAbC123")
			h.none(time.Hour)
		}},
		{"file replaced by rename is a write", Options{}, func(t *testing.T, h *harness) {
			h.send(watcher.Create, "/d/f.tmp")
			h.send(watcher.Rename, "/d/f", "/d/f.tmp")
			h.send(watcher.Create, "/d/f")
			h.send(watcher.Chmod, "/d/f")
			b := h.next(time.Minute)
			if len(b.Events) != 1 || b.Events[0].Path != "/d/f" || b.Events[0].Op != watcher.Write {
				t.Errorf("batch = %v, want WRITE /d/f", b.Events)
			}
			h.q.Done()
		}},
		{"a continuous stream is cut at MaxWait", Options{MaxWait: 200 * time.Millisecond}, func(t *testing.T, h *harness) {
			stop := time.Now().Add(time.Second)
			go func() {
				for time.Now().Before(stop) {
					h.send(watcher.Write, "/log")
					time.Sleep(5 * time.Millisecond)
				}
			}()
			h.next(time.Minute)
			if d := time.Since(h.t0); d != 200*time.Millisecond {
				t.Errorf("first batch after %v, want 200ms", d)
			}
			h.q.Done()
			time.Sleep(time.Second)
		}},
		{"Immediate hands out at once", Options{Settle: Immediate}, func(t *testing.T, h *harness) {
			h.send(watcher.Write, "/a", "/b")
			b := h.next(time.Minute)
			if d := time.Since(h.t0); d != 0 {
				t.Errorf("batch after %v, want 0", d)
			}
			if len(b.Events) != 2 {
				t.Errorf("batch = %v, want both already-waiting events", paths(b))
			}
			h.q.Done()
		}},
		{"Initial batch first, changes during it make one more", Options{Initial: true}, func(t *testing.T, h *harness) {
			b := h.next(time.Second)
			if !b.Initial || len(b.Events) != 0 {
				t.Fatalf("first batch = %+v, want the empty initial batch", b)
			}
			h.send(watcher.Write, "/a")
			h.send(watcher.Write, "/b")
			h.none(time.Second)
			h.q.Done()
			b = h.next(time.Minute)
			if b.Initial || !slices.Equal(paths(b), []string{"/a", "/b"}) {
				t.Errorf("second batch = %+v", b)
			}
			h.q.Done()
		}},
		{"queue policy never cancels", Options{}, func(t *testing.T, h *harness) {
			h.send(watcher.Write, "/a")
			b := h.next(time.Minute)
			h.send(watcher.Write, "/b")
			time.Sleep(time.Second)
			if err := b.Context().Err(); err != nil {
				t.Errorf("batch context cancelled under queue policy: %v", err)
			}
			h.q.Done()
			h.next(time.Minute)
			h.q.Done()
		}},
		{"restart policy cancels and rebuilds the union", Options{Policy: PolicyRestart}, func(t *testing.T, h *harness) {
			h.send(watcher.Write, "/a")
			b := h.next(time.Minute)
			h.send(watcher.Write, "/b")
			select {
			case <-b.Context().Done():
			case <-time.After(time.Minute):
				t.Fatal("running batch not cancelled")
			}
			if d := time.Since(h.t0); d != 2*DefaultSettle {
				t.Errorf("cancelled after %v, want %v (one settle for each change)", d, 2*DefaultSettle)
			}
			h.q.Requeue()
			b = h.next(time.Minute)
			if !slices.Equal(paths(b), []string{"/a", "/b"}) {
				t.Errorf("union batch = %v", paths(b))
			}
			if !b.First.Equal(h.t0) {
				t.Errorf("union First = %v, want the first change's time %v", b.First, h.t0)
			}
			h.q.Done()
			h.none(time.Minute)
		}},
		{"restart: a build that finishes before new changes settle is not rebuilt", Options{Policy: PolicyRestart}, func(t *testing.T, h *harness) {
			h.send(watcher.Write, "/a")
			h.next(time.Minute)
			h.send(watcher.Write, "/b")
			h.q.Done() // finished before /b settled
			b := h.next(time.Minute)
			if !slices.Equal(paths(b), []string{"/b"}) {
				t.Errorf("next batch = %v, want only /b", paths(b))
			}
			h.q.Done()
		}},
		{"restart: a cancelled build that finished anyway is not rebuilt", Options{Policy: PolicyRestart}, func(t *testing.T, h *harness) {
			h.send(watcher.Write, "/a")
			b := h.next(time.Minute)
			h.send(watcher.Write, "/b")
			<-b.Context().Done()
			h.q.Done() // the consumer says it built /a after all
			b = h.next(time.Minute)
			if !slices.Equal(paths(b), []string{"/b"}) {
				t.Errorf("next batch = %v, want only /b", paths(b))
			}
			h.q.Done()
			h.none(time.Minute)
		}},
		{"restart: a requeued initial batch stays initial", Options{Policy: PolicyRestart, Initial: true}, func(t *testing.T, h *harness) {
			b := h.next(time.Minute)
			h.send(watcher.Write, "/a")
			<-b.Context().Done()
			h.q.Requeue()
			b = h.next(time.Minute)
			if !b.Initial || !slices.Equal(paths(b), []string{"/a"}) {
				t.Errorf("batch after a cancelled initial one = %+v, want Initial with /a", b)
			}
			h.q.Done()
			h.none(time.Minute)
		}},
		{"restart: a file created in the cancelled batch and removed since is a Remove", Options{Policy: PolicyRestart}, func(t *testing.T, h *harness) {
			h.send(watcher.Create, "/t")
			b := h.next(time.Minute)
			h.send(watcher.Remove, "/t")
			<-b.Context().Done()
			h.q.Requeue()
			b = h.next(time.Minute)
			if len(b.Events) != 1 || b.Events[0].Path != "/t" || b.Events[0].Op != watcher.Remove {
				t.Errorf("union batch = %v, want REMOVE /t", b.Events)
			}
			h.q.Done()
		}},
		{"queue: a requeued batch comes back at once with what arrived meanwhile", Options{}, func(t *testing.T, h *harness) {
			h.send(watcher.Write, "/a")
			b := h.next(time.Minute)
			h.send(watcher.Write, "/b")
			time.Sleep(time.Second)
			if b.Context().Err() != nil {
				t.Fatal("queue policy cancelled a batch")
			}
			h.q.Requeue()
			start := time.Now()
			b = h.next(time.Minute)
			if d := time.Since(start); d != 0 {
				t.Errorf("requeued batch after %v, want at once", d)
			}
			if !slices.Equal(paths(b), []string{"/a", "/b"}) {
				t.Errorf("batch = %v", paths(b))
			}
			h.q.Done()
			h.none(time.Minute)
		}},
		{"a burst during a build: one more batch, at once if settled, else after the window", Options{}, func(t *testing.T, h *harness) {
			h.send(watcher.Write, "/a")
			h.next(time.Minute)
			var want []string
			for i := range 100 {
				p := fmt.Sprintf("/burst/%03d", i)
				want = append(want, p)
				h.send(watcher.Write, p)
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Second)
			h.q.Done()
			start := time.Now()
			b := h.next(time.Minute)
			if d := time.Since(start); d != 0 {
				t.Errorf("batch after %v, want at once (the burst settled during the build)", d)
			}
			if !slices.Equal(paths(b), want) {
				t.Errorf("batch has %d paths, want the 100 of the burst", len(b.Events))
			}
			// A change 2 ms before the build ends still gets its window.
			h.send(watcher.Write, "/late")
			time.Sleep(2 * time.Millisecond)
			h.q.Done()
			start = time.Now()
			b = h.next(time.Minute)
			if d := time.Since(start); d != DefaultSettle-2*time.Millisecond {
				t.Errorf("batch after %v, want the rest of the window, %v", d, DefaultSettle-2*time.Millisecond)
			}
			if !slices.Equal(paths(b), []string{"/late"}) {
				t.Errorf("batch = %v, want /late", paths(b))
			}
			h.q.Done()
			h.none(time.Minute)
		}},
		{"MaxWait counts from the first change, also during a build", Options{MaxWait: 100 * time.Millisecond}, func(t *testing.T, h *harness) {
			h.send(watcher.Write, "/a")
			h.next(time.Minute)
			stop := make(chan struct{})
			streamed := make(chan struct{})
			go func() {
				defer close(streamed)
				for {
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
						h.send(watcher.Write, "/log")
					}
				}
			}()
			time.Sleep(500 * time.Millisecond)
			h.q.Done()
			start := time.Now()
			b := h.next(time.Minute)
			if d := time.Since(start); d != 0 {
				t.Errorf("batch after %v while the stream goes on, want at once", d)
			}
			if !slices.Equal(paths(b), []string{"/log"}) {
				t.Errorf("batch = %v", paths(b))
			}
			close(stop)
			<-streamed
			h.q.Done()
		}},
		{"an event without a time gets the time it arrived", Options{}, func(t *testing.T, h *harness) {
			time.Sleep(time.Second)
			h.in <- watcher.Event{Path: "/a", Op: watcher.Write}
			b := h.next(time.Minute)
			if want := h.t0.Add(time.Second); !b.First.Equal(want) {
				t.Errorf("First = %v, want %v", b.First, want)
			}
			h.q.Done()
		}},
		{"the queue stops once the input is closed and everything is finished", Options{}, func(t *testing.T, h *harness) {
			h.send(watcher.Write, "/a")
			b := h.next(time.Minute)
			close(h.in)
			time.Sleep(time.Second)
			select {
			case _, ok := <-h.q.Batches():
				t.Fatalf("queue handed out (ok=%v) while a batch was still being built", ok)
			default:
			}
			_ = b
			h.q.Done()
			if _, ok := <-h.q.Batches(); ok {
				t.Fatal("a batch after the last one")
			}
			h.q.Done() // after the stop: must not block
		}},
		{"closing the input stops nothing pending from being handed out", Options{}, func(t *testing.T, h *harness) {
			h.send(watcher.Write, "/a")
			close(h.in)
			b := h.next(time.Minute)
			if !slices.Equal(paths(b), []string{"/a"}) {
				t.Errorf("batch = %v", paths(b))
			}
			h.q.Done()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, tc.opts)
				tc.run(t, h)
			})
		})
	}
}

func TestCloseStopsQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := make(chan watcher.Event)
		q := New(in, Options{})
		in <- watcher.Event{Path: "/a", Op: watcher.Write, Time: time.Now()}
		q.Close()
		q.Close() // idempotent
		if _, ok := <-q.Batches(); ok {
			t.Fatal("Batches not closed after Close")
		}
		q.Done() // must not block after Close
	})
}

func TestReduce(t *testing.T) {
	const (
		C = watcher.Create
		W = watcher.Write
		R = watcher.Remove
		N = watcher.Rename
		M = watcher.Chmod
		S = watcher.Rescan
	)
	tests := []struct {
		seq  []watcher.Op
		want watcher.Op // 0: no net change
	}{
		{[]watcher.Op{C}, C},
		{[]watcher.Op{C, W, W}, C},
		{[]watcher.Op{C, R}, 0},
		{[]watcher.Op{C, W, N}, 0},
		{[]watcher.Op{N, C}, W},
		{[]watcher.Op{R, C, W, M}, W},
		{[]watcher.Op{W, R}, R},
		{[]watcher.Op{M}, M},
		{[]watcher.Op{M, W}, W},
		{[]watcher.Op{W, M}, W},
		{[]watcher.Op{R, C, R}, R},
		{[]watcher.Op{S, W}, S | W},
		{[]watcher.Op{C, S, R}, S},
	}
	for _, tc := range tests {
		var s changeSet
		for _, op := range tc.seq {
			s.add(watcher.Event{Path: "/p", Op: op, Time: time.Unix(1, 0)})
		}
		var got watcher.Op
		if evs := s.events(); len(evs) == 1 {
			got = evs[0].Op
		} else if len(evs) > 1 {
			t.Fatalf("%v: %d events", tc.seq, len(evs))
		}
		if got != tc.want {
			t.Errorf("%v reduces to %v, want %v", tc.seq, got, tc.want)
		}
	}
}

// TestQueueRandomised drives the queue with random streams of changes and a
// consumer with random build times, under both policies, and checks its
// promises: every change is finished in exactly one batch; a batch is never
// empty unless Initial; Queue never cancels; and under Queue, the changes
// that arrive during one build all go into the very next batch (never split
// over two).
func TestQueueRandomised(t *testing.T) {
	for _, policy := range []Policy{PolicyQueue, PolicyRestart} {
		for seed := range 16 {
			t.Run(fmt.Sprintf("%v/seed=%d", policy, seed), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					randomRun(t, policy, uint64(seed))
				})
			})
		}
	}
}

func randomRun(t *testing.T, policy Policy, seed uint64) {
	const nEvents = 300
	rp := rand.New(rand.NewPCG(seed, 1)) // producer's
	rc := rand.New(rand.NewPCG(seed, 2)) // consumer's
	in := make(chan watcher.Event)
	opts := Options{Policy: policy, MaxWait: 150 * time.Millisecond, Initial: seed%2 == 0}
	q := New(in, opts)
	defer q.Close()

	received := make([]time.Time, nEvents) // when the queue took event i
	go func() {
		for i := range nEvents {
			var pause time.Duration
			if rp.IntN(10) == 0 {
				pause = time.Duration(rp.IntN(300)) * time.Millisecond
			} else {
				pause = time.Duration(rp.IntN(4000)) * time.Microsecond
			}
			time.Sleep(pause)
			in <- watcher.Event{Path: fmt.Sprintf("/p%04d", i), Op: watcher.Write, Time: time.Now()}
			received[i] = time.Now() // unbuffered: the queue has it now
		}
		close(in)
	}()

	type span struct{ out, done time.Time }
	finishedIn := map[string]int{} // path → index of the finished batch
	var spans []span               // of finished batches
	initials := 0
	for b := range q.Batches() {
		s := span{out: time.Now()}
		if len(b.Events) == 0 && !b.Initial {
			t.Errorf("batch %d is empty and not initial", len(spans))
		}
		built := true
		select {
		case <-time.After(time.Duration(rc.IntN(120)) * time.Millisecond):
		case <-b.Context().Done():
			if policy == PolicyQueue {
				t.Errorf("batch cancelled under the queue policy")
			}
			built = rc.IntN(4) == 0 // sometimes a build finishes anyway
		}
		if !built {
			q.Requeue()
			continue
		}
		s.done = time.Now()
		for _, p := range b.Paths() {
			if k, dup := finishedIn[p]; dup {
				t.Errorf("%s finished twice: in batches %d and %d", p, k, len(spans))
			}
			finishedIn[p] = len(spans)
		}
		if b.Initial {
			initials++
		}
		spans = append(spans, s)
		q.Done()
	}
	if want := map[bool]int{true: 1, false: 0}[opts.Initial]; initials != want {
		t.Errorf("%d initial batches finished, want %d", initials, want)
	}
	for i := range nEvents {
		p := fmt.Sprintf("/p%04d", i)
		if _, ok := finishedIn[p]; !ok {
			t.Errorf("%s was never finished", p)
		}
	}
	if policy != PolicyQueue {
		return
	}
	for i := range nEvents {
		at := received[i]
		for k, s := range spans {
			if at.After(s.out) && at.Before(s.done) {
				p := fmt.Sprintf("/p%04d", i)
				if got := finishedIn[p]; got != k+1 {
					t.Errorf("%s arrived during build %d but was built in %d, want %d", p, k, got, k+1)
				}
			}
		}
	}
	t.Logf("%d events in %d builds", nEvents, len(spans))
}

func TestThenKeepsRemovals(t *testing.T) {
	ev := func(p string, op watcher.Op, sec int64) watcher.Event {
		return watcher.Event{Path: p, Op: op, Time: time.Unix(sec, 0)}
	}
	var built, later changeSet
	built.add(ev("/tmp1", watcher.Create, 2))
	built.add(ev("/a", watcher.Write, 3))
	later.add(ev("/tmp1", watcher.Remove, 4))
	later.add(ev("/b", watcher.Create, 1))
	later.add(ev("/gone", watcher.Create, 5))
	later.add(ev("/gone", watcher.Remove, 6)) // came and went after the build: nothing
	built.then(&later)
	got := built.events()
	want := []watcher.Event{ev("/a", watcher.Write, 3), ev("/b", watcher.Create, 1), ev("/tmp1", watcher.Remove, 2)}
	if !slices.Equal(got, want) {
		t.Errorf("then = %v, want %v", got, want)
	}
	if !built.first.Equal(time.Unix(1, 0)) {
		t.Errorf("first = %v, want the earliest change", built.first)
	}
}

// TestCompleteSettle checks when a batch is handed out after CompleteSettle
// instead of the whole window: only when every pending path is complete.
func TestCompleteSettle(t *testing.T) {
	const (
		C    = watcher.Create
		W    = watcher.Write
		R    = watcher.Remove
		N    = watcher.Rename
		M    = watcher.Chmod
		S    = watcher.Rescan
		Done = watcher.Complete
		Wr   = watcher.Write | watcher.Writing // IN_MODIFY: open for writing
	)
	type ev struct {
		path string
		op   watcher.Op
		gap  time.Duration // after the previous event
	}
	tests := []struct {
		name   string
		opts   Options
		events []ev
		after  time.Duration // from the last event to the batch
		want   []watcher.Event
	}{
		{"in place, closed (nano, VS Code, cp, vim backupcopy=yes)", Options{},
			[]ev{{"/a", W, 0}, {"/a", W, 0}, {"/a", W | Done, 0}}, CompleteSettle,
			[]watcher.Event{{Path: "/a", Op: W}}},
		{"in place, not closed yet: the window", Options{},
			[]ev{{"/a", W, 0}}, DefaultSettle,
			[]watcher.Event{{Path: "/a", Op: W}}},
		{"a large file written in chunks, closed at the end", Options{},
			[]ev{{"/big", W, 0}, {"/big", W, 3 * time.Millisecond}, {"/big", W, 4 * time.Millisecond}, {"/big", W, 5 * time.Millisecond}, {"/big", W | Done, 2 * time.Millisecond}},
			CompleteSettle, []watcher.Event{{Path: "/big", Op: W}}},
		{"renamed into place (JetBrains, atomic writers)", Options{},
			[]ev{{"/f", N, 0}, {"/f", C | Done, 0}}, CompleteSettle,
			[]watcher.Event{{Path: "/f", Op: W}}},
		{"sed -i: the temporary, closed, waits for its rename", Options{},
			[]ev{{"/sedX", C, 0}, {"/sedX", W, 0}, {"/sedX", W | Done, 0}, {"/sedX", N, 5 * time.Millisecond}, {"/f", C | Done, 0}}, CompleteSettle,
			[]watcher.Event{{Path: "/f", Op: C}}},
		{"vim: renamed away, written anew, closed, chmod", Options{},
			[]ev{{"/f", N, 0}, {"/f", C, 2 * time.Millisecond}, {"/f", W, 0}, {"/f", W | Done, 0}, {"/f", M, 0}}, CompleteSettle,
			[]watcher.Event{{Path: "/f", Op: W}}},
		{"a new file closed: the window (it may be a temporary)", Options{},
			[]ev{{"/new", C, 0}, {"/new", W, 0}, {"/new", W | Done, 0}}, DefaultSettle,
			[]watcher.Event{{Path: "/new", Op: C}}},
		{"a new file moved in whole", Options{},
			[]ev{{"/in", C | Done, 0}}, CompleteSettle,
			[]watcher.Event{{Path: "/in", Op: C}}},
		{"deleted, created again and closed (git checkout, install): the window", Options{},
			[]ev{{"/a", R, 0}, {"/a", C, 0}, {"/a", W, 0}, {"/a", W | Done, 0}}, DefaultSettle,
			[]watcher.Event{{Path: "/a", Op: W}}},
		{"a checkout rewriting files one after the other: one batch", Options{},
			[]ev{{"/a", R, 0}, {"/a", C, 0}, {"/a", W | Done, 0}, {"/b", R, 3 * time.Millisecond}, {"/b", C, 0}, {"/b", W | Done, 0}}, DefaultSettle,
			[]watcher.Event{{Path: "/a", Op: W}, {Path: "/b", Op: W}}},
		{"removed: the window (its replacement may come)", Options{},
			[]ev{{"/a", R, 0}}, DefaultSettle,
			[]watcher.Event{{Path: "/a", Op: R}}},
		{"renamed away, nothing in its place yet: the window", Options{},
			[]ev{{"/a", N, 0}}, DefaultSettle,
			[]watcher.Event{{Path: "/a", Op: N}}},
		{"one path not complete holds the batch", Options{},
			[]ev{{"/a", W | Done, 0}, {"/b", W, 0}, {"/a", M, 0}}, DefaultSettle,
			[]watcher.Event{{Path: "/a", Op: W}, {Path: "/b", Op: W}}},
		{"written again after the close", Options{},
			[]ev{{"/a", W | Done, 0}, {"/a", W, 0}}, DefaultSettle,
			[]watcher.Event{{Path: "/a", Op: W}}},
		{"touch or chmod alone", Options{},
			[]ev{{"/a", M, 0}}, CompleteSettle,
			[]watcher.Event{{Path: "/a", Op: M}}},
		{"a rescan is never complete", Options{},
			[]ev{{"/", S, 0}, {"/a", W | Done, 0}}, DefaultSettle,
			[]watcher.Event{{Path: "/", Op: S}, {Path: "/a", Op: W}}},
		{"Fixed (-debounce set): the window", Options{Fixed: true},
			[]ev{{"/a", W | Done, 0}}, DefaultSettle,
			[]watcher.Event{{Path: "/a", Op: W}}},
		{"Fixed, a longer window", Options{Fixed: true, Settle: 40 * time.Millisecond},
			[]ev{{"/f", N, 0}, {"/f", C | Done, 0}}, 40 * time.Millisecond,
			[]watcher.Event{{Path: "/f", Op: W}}},
		{"a window shorter than CompleteSettle wins", Options{Settle: CompleteSettle / 4},
			[]ev{{"/a", W | Done, 0}}, CompleteSettle / 4,
			[]watcher.Event{{Path: "/a", Op: W}}},
		{"Immediate", Options{Settle: Immediate},
			[]ev{{"/a", W, 0}}, 0,
			[]watcher.Event{{Path: "/a", Op: W}}},
		{"a slow writer's pauses, longer than the window, wait for its close", Options{},
			[]ev{{"/big", Wr, 0}, {"/big", Wr, 30 * time.Millisecond}, {"/big", Wr, 45 * time.Millisecond}, {"/big", W | Done, 25 * time.Millisecond}},
			CompleteSettle, []watcher.Event{{Path: "/big", Op: W}}},
		{"a truncate's pause before the write waits for the close", Options{},
			[]ev{{"/a", Wr, 0}, {"/a", Wr, 50 * time.Millisecond}, {"/a", W | Done, 0}},
			CompleteSettle, []watcher.Event{{Path: "/a", Op: W}}},
		{"open for writing and never closed: MaxWait", Options{},
			[]ev{{"/log", Wr, 0}}, DefaultMaxWait,
			[]watcher.Event{{Path: "/log", Op: W}}},
		{"one file being written holds a complete one", Options{},
			[]ev{{"/a", W | Done, 0}, {"/b", Wr, 0}, {"/b", W | Done, 200 * time.Millisecond}},
			CompleteSettle, []watcher.Event{{Path: "/a", Op: W}, {Path: "/b", Op: W}}},
		{"removed while being written: the window", Options{},
			[]ev{{"/a", Wr, 0}, {"/a", R, 0}}, DefaultSettle,
			[]watcher.Event{{Path: "/a", Op: R}}},
		{"Fixed (-debounce set) does not wait for the close", Options{Fixed: true},
			[]ev{{"/a", Wr, 0}}, DefaultSettle,
			[]watcher.Event{{Path: "/a", Op: W}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, tc.opts)
				for _, e := range tc.events {
					time.Sleep(e.gap)
					h.in <- watcher.Event{Path: e.path, Op: e.op, Time: h.t0}
				}
				last := time.Now()
				b := h.next(time.Minute)
				if d := time.Since(last); d != tc.after {
					t.Errorf("batch %v after the last event, want %v", d, tc.after)
				}
				got := slices.Clone(b.Events)
				for i := range got {
					got[i].Time = time.Time{}
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("batch %v, want %v", got, tc.want)
				}
				h.q.Done()
				h.none(time.Minute)
			})
		})
	}
}

// TestCompleteSettleDuringBuild: a save that completes while a build runs
// is handed out as soon as the build is done, and a requeued batch keeps
// what it knew about completeness.
func TestCompleteSettleDuringBuild(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{Policy: PolicyRestart})
		h.send(watcher.Write|watcher.Complete, "/a")
		b := h.next(time.Minute)
		start := time.Now()
		h.send(watcher.Write|watcher.Complete, "/b")
		<-b.Context().Done()
		if d := time.Since(start); d != CompleteSettle {
			t.Errorf("running build cancelled after %v, want %v (the save was complete)", d, CompleteSettle)
		}
		h.q.Requeue()
		b = h.next(time.Minute)
		if !slices.Equal(paths(b), []string{"/a", "/b"}) {
			t.Errorf("batch %v, want /a and /b", paths(b))
		}
		h.q.Done()
		h.none(time.Minute)
	})
}

func TestChangeSetCounts(t *testing.T) {
	// The count of paths not complete follows every kind of change,
	// including paths that drop out and requeued sets.
	var s changeSet
	add := func(p string, op watcher.Op) { s.add(watcher.Event{Path: p, Op: op, Time: time.Unix(1, 0)}) }
	check := func(what string, want bool) {
		t.Helper()
		n := 0
		for _, c := range s.m {
			if !c.complete {
				n++
			}
		}
		if n != s.incomplete {
			t.Fatalf("%s: count %d, actual %d", what, s.incomplete, n)
		}
		if got := s.complete(); got != want {
			t.Fatalf("%s: complete() = %v, want %v", what, got, want)
		}
	}
	check("empty", false)
	add("/tmp", watcher.Create)
	check("created", false)
	add("/tmp", watcher.Write|watcher.Complete)
	check("new file closed", false)
	add("/tmp", watcher.Rename)
	check("temporary renamed away: gone from the set", false)
	add("/f", watcher.Create|watcher.Complete)
	check("renamed into place", true)
	add("/g", watcher.Write)
	check("another file being written", false)
	add("/g", watcher.Write|watcher.Complete)
	check("closed", true)
	var later changeSet
	later.add(watcher.Event{Path: "/g", Op: watcher.Remove, Time: time.Unix(2, 0)})
	later.add(watcher.Event{Path: "/h", Op: watcher.Write | watcher.Complete, Time: time.Unix(2, 0)})
	s.then(&later)
	check("requeued with a removal", false)
	if evs := s.events(); len(evs) != 3 || evs[1].Op != watcher.Remove {
		t.Fatalf("events %v", evs)
	}
	for _, ev := range s.events() {
		if ev.Op.Has(watcher.Complete) {
			t.Errorf("%v carries Complete", ev)
		}
	}
}

// TestCompleteSettleNotOverAfterAll: the next file's first write arrives
// just as a complete batch is due. Whether the queue takes it before the
// timer fires or folds it in when handing out, the batch must wait the
// window for it, not be built with the second file half-written.
func TestCompleteSettleNotOverAfterAll(t *testing.T) {
	for range 20 { // the order of two things at one instant varies
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, Options{})
			h.send(watcher.Write|watcher.Complete, "/a")
			time.Sleep(CompleteSettle)
			h.send(watcher.Write, "/b")
			b := h.next(time.Minute)
			if d := time.Since(h.t0); d != CompleteSettle+DefaultSettle {
				t.Errorf("batch %v after the first event, want %v", d, CompleteSettle+DefaultSettle)
			}
			if !slices.Equal(paths(b), []string{"/a", "/b"}) {
				t.Errorf("batch %v, want /a and /b", paths(b))
			}
			h.q.Done()
		})
	}
}

// TestCompleteSettleAsksQuiet: a source that says events are still on
// their way holds a complete batch to the whole window; one that is quiet
// lets it go early.
func TestCompleteSettleAsksQuiet(t *testing.T) {
	for _, quiet := range []bool{true, false} {
		t.Run(fmt.Sprintf("quiet=%v", quiet), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				asked := 0
				h := newHarness(t, Options{Quiet: func() bool { asked++; return quiet }})
				h.send(watcher.Write|watcher.Complete, "/a")
				h.next(time.Minute)
				want := CompleteSettle
				if !quiet {
					want = DefaultSettle
				}
				if d := time.Since(h.t0); d != want {
					t.Errorf("batch after %v, want %v", d, want)
				}
				if asked != 1 {
					t.Errorf("Quiet asked %d times, want once", asked)
				}
				h.q.Done()
				// Not asked when the batch waits the window anyway.
				asked = 0
				h.send(watcher.Write, "/b")
				h.next(time.Minute)
				if asked != 0 {
					t.Errorf("Quiet asked %d times for a batch that was not complete", asked)
				}
				h.q.Done()
			})
		})
	}
}

// TestWritingHoldsTheBatch: while a file is open for writing (its last
// event Writing, no close yet), a consumer waiting for batches gets none,
// however long the writer pauses, until the close (or MaxWait): no build
// sees a half-written file, and a slow writer's save is one batch.
func TestWritingHoldsTheBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{})
		h.send(watcher.Write|watcher.Writing, "/big") // truncated and opened
		h.none(100 * time.Millisecond)                // ten windows: the writer pauses
		h.send(watcher.Write|watcher.Writing, "/big") // the rest of the content
		h.none(100 * time.Millisecond)
		h.send(watcher.Write|watcher.Complete, "/big") // closed
		h.afterClose("/big")

		// Never closed: MaxWait from its first event.
		h.send(watcher.Write|watcher.Writing, "/log")
		start := time.Now()
		h.next(time.Minute)
		if d := time.Since(start); d != DefaultMaxWait {
			t.Errorf("an unclosed file's batch after %v, want MaxWait %v", d, DefaultMaxWait)
		}
		h.q.Done()
	})
}

// TestWritingHoldsADrainedBatch: a batch that is ready (here the start-up
// batch) takes the events already waiting before it goes out; when one of
// them says a file is open for writing, the batch waits for its close
// instead of going out with the file half-written.
func TestWritingHoldsADrainedBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := make(chan watcher.Event, 4)
		in <- watcher.Event{Path: "/a", Op: watcher.Write | watcher.Writing, Time: time.Now()}
		q := New(in, Options{Initial: true})
		defer q.Close()
		start := time.Now()
		time.Sleep(200 * time.Millisecond)
		in <- watcher.Event{Path: "/a", Op: watcher.Write | watcher.Complete, Time: time.Now()}
		b := <-q.Batches()
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("the batch went out %v after start, while /a was still being written", d)
		}
		if !b.Initial || !slices.Equal(paths(b), []string{"/a"}) {
			t.Errorf("batch = %+v, want the start-up batch with /a", b)
		}
		q.Done()
	})
}

// TestNothingLeftStartsAfresh: a temporary file created and removed (go
// build's umask probe, an editor's backup) leaves nothing to build; a
// change made more than MaxWait later must still get its settle (here: the
// hold while the file is open for writing), not go out at once because
// MaxWait was counted from the temporary file.
func TestNothingLeftStartsAfresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Options{})
		h.send(watcher.Create, "/app-go-tmp-umask")
		h.send(watcher.Remove, "/app-go-tmp-umask")
		h.none(2 * DefaultMaxWait)
		h.send(watcher.Write|watcher.Writing, "/main.go") // truncated, not written yet
		h.none(50 * time.Millisecond)
		h.send(watcher.Write|watcher.Complete, "/main.go")
		h.afterClose("/main.go")
	})
}
