package debounce

import (
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
			h.q.Done()
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
