package debounce

import (
	"context"
	"sync"
	"time"

	"github.com/reloadd/reloadd/watcher"
)

// Defaults for [Options].
const (
	// DefaultSettle is the quiet period before a batch is handed out: long
	// enough to hold together the 3–7 events of one editor save (vim's
	// rename dance takes well under a millisecond between steps), short
	// enough to be invisible next to a page reload. A batch whose every
	// change is complete waits only CompleteSettle (see the package
	// documentation).
	DefaultSettle = 10 * time.Millisecond
	// DefaultMaxWait bounds how long a continuous stream of changes can
	// delay a batch. A git checkout of a few thousand files finishes well
	// within it, so it still lands as one batch.
	DefaultMaxWait = time.Second
)

// CompleteSettle is the quiet period that ends the settle once every change
// pending is complete (unless Options.Fixed): the kernel said the writer
// closed the file, or renamed it into place. It holds together what is
// already on its way when a save completes (a chmod after the close, the
// next file of a command that writes several in one go): those follow
// within microseconds on an idle machine, and a millisecond leaves room for
// a busy one while keeping a save's write → build_complete near 2 ms.
const CompleteSettle = time.Millisecond

// Immediate, as Options.Settle, hands a batch out as soon as no further event
// is already waiting (the "build at once" of the loop reloadd grew from).
const Immediate time.Duration = -1

// drainMax bounds how many already-waiting events are folded into a batch
// at the moment it is handed out, so that a flood cannot hold the hand-out
// forever; the rest simply go into the next batch.
const drainMax = 4096

// Policy says what a change does while a build runs.
type Policy int

const (
	// PolicyQueue accumulates changes during a build into exactly one more batch.
	PolicyQueue Policy = iota
	// PolicyRestart cancels the running batch's context and hands out one batch
	// with the union of its changes and the new ones.
	PolicyRestart
)

// String returns "queue" or "restart".
func (p Policy) String() string {
	if p == PolicyRestart {
		return "restart"
	}
	return "queue"
}

// Options configure a [Queue]. The zero value means the defaults.
type Options struct {
	// Settle is the quiet window; 0 means DefaultSettle, Immediate none.
	// A batch whose every change is complete waits only CompleteSettle, or
	// Settle if that is shorter, unless Fixed is set; a batch with a file
	// still open for writing (watcher.Writing, no close yet) waits for the
	// close, MaxWait at most, unless Fixed is set.
	Settle time.Duration
	// Fixed makes every batch wait the whole Settle window, complete or
	// not: what a user who sets -debounce asks for.
	Fixed bool
	// Quiet, if set, is asked before a batch is handed out early: it
	// reports whether the source has no events on their way (see
	// watcher.Quieter). If it says some are, the batch waits the whole
	// window (or until those events arrive and settle it again). Nil means
	// the source cannot tell: early hand-outs trust the events received.
	Quiet func() bool
	// MaxWait caps how long a batch can be held back; 0 means DefaultMaxWait.
	MaxWait time.Duration
	// Policy applies to changes that arrive during a build.
	Policy Policy
	// Initial, if set, makes the queue hand out an empty batch (with
	// Initial=true) at once, for the build reloadd runs at start-up.
	// Changes during it are queued as for any build. If the initial batch
	// is given back with Requeue, the next batch is marked Initial too.
	Initial bool
}

// Batch is a set of changes to build once.
type Batch struct {
	// Events are the net changes, sorted by path.
	Events []watcher.Event
	// First is when the earliest change of the batch was seen.
	First time.Time
	// Initial marks the start-up batch (or a batch that replaces a
	// cancelled start-up batch). Only an Initial batch can have no events.
	Initial bool

	ctx context.Context
}

// Context is cancelled when, under the Restart policy, newer changes
// supersede this batch, and when the queue is closed. It is never cancelled
// by new changes under Queue.
func (b Batch) Context() context.Context {
	if b.ctx == nil {
		return context.Background()
	}
	return b.ctx
}

// Paths returns the paths of the batch's events.
func (b Batch) Paths() []string {
	ps := make([]string, len(b.Events))
	for i, ev := range b.Events {
		ps[i] = ev.Path
	}
	return ps
}

// Queue is the coalescing build queue. Its methods are safe for concurrent
// use. It runs one goroutine, which stops when Close is called, or when the
// input channel is closed and everything received has been handed out and
// finished; Close waits for it.
type Queue struct {
	in     <-chan watcher.Event
	out    chan Batch
	done   chan bool     // consumer → run: true for Done, false for Requeue
	quit   chan struct{} // closed by Close
	exited chan struct{} // closed by run when it returns
	wg     sync.WaitGroup
	once   sync.Once
	opts   Options
}

// New starts a queue that reads events from in until in is closed or Close
// is called.
func New(in <-chan watcher.Event, opts Options) *Queue {
	if opts.Settle == 0 {
		opts.Settle = DefaultSettle
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	q := &Queue{
		in:     in,
		out:    make(chan Batch),
		done:   make(chan bool),
		quit:   make(chan struct{}),
		exited: make(chan struct{}),
		opts:   opts,
	}
	q.wg.Add(1)
	go q.run()
	return q
}

// Batches delivers batches. The consumer must call Done or Requeue after it
// has finished with each one. The channel is closed when the queue stops.
func (q *Queue) Batches() <-chan Batch { return q.out }

// Done tells the queue the consumer has finished the last batch it received:
// built it (successfully or not), or decided it needs no build. Its changes
// are never handed out again. Done does not block once the queue has stopped.
func (q *Queue) Done() { q.finish(true) }

// Requeue tells the queue the consumer did not build the last batch it
// received (typically: the build was cancelled). Its changes are put back
// and handed out again, merged with any newer ones, once those have settled.
// Requeue does not block once the queue has stopped.
func (q *Queue) Requeue() { q.finish(false) }

func (q *Queue) finish(built bool) {
	select {
	case q.done <- built:
	case <-q.exited:
	}
}

// Close stops the queue and waits for its goroutine. Pending changes are
// discarded, and the context of a batch being built is cancelled. Close is
// idempotent.
func (q *Queue) Close() error {
	q.once.Do(func() { close(q.quit) })
	q.wg.Wait()
	return nil
}

// state is everything run owns.
type state struct {
	pending        changeSet // changes not yet handed out
	pendingInitial bool      // the next batch is a (re-run) initial batch
	last           time.Time // when the last pending event arrived
	ready          bool      // pending has settled and may be handed out
	noisy          bool      // Quiet said events are on their way: no early hand-out until one arrives

	busy      bool               // a batch is out and not yet finished
	inflight  changeSet          // the events of the batch being built
	initial   bool               // the batch being built is Initial
	cancel    context.CancelFunc // cancels the batch being built
	cancelled bool               // cancel was called by the Restart policy

	// The context of the batch on offer: made when it is first offered and
	// kept until the consumer takes it.
	nextCtx    context.Context
	nextCancel context.CancelFunc
}

func (q *Queue) run() {
	defer q.wg.Done()
	defer close(q.exited)
	defer close(q.out)

	st := &state{pendingInitial: q.opts.Initial}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	defer func() {
		if st.cancel != nil {
			st.cancel()
		}
	}()
	if st.pendingInitial {
		st.ready = true
	}

	// arm decides whether pending has settled, or sets the timer for when
	// it will have.
	arm := func() {
		st.ready = false
		timer.Stop()
		if st.pending.len() == 0 {
			st.ready = st.pendingInitial
			return
		}
		now := time.Now()
		settle := max(q.opts.Settle, 0)
		switch {
		case q.writing(st):
			// A file is still being written: its close ends the wait
			// (then CompleteSettle), MaxWait at the latest.
			settle = q.opts.MaxWait
		case q.early(st):
			settle = min(settle, CompleteSettle)
		}
		deadline := st.last.Add(settle)
		if limit := st.pending.first.Add(q.opts.MaxWait); limit.Before(deadline) {
			deadline = limit
		}
		if !deadline.After(now) {
			st.ready = true
			return
		}
		timer.Reset(deadline.Sub(now))
	}

	in := q.in
	defer func() {
		if st.nextCancel != nil {
			st.nextCancel()
		}
	}()
	for {
		// Under Restart, settled changes cancel the running build.
		if st.busy && st.ready && !st.cancelled && q.opts.Policy == PolicyRestart {
			st.cancel()
			st.cancelled = true
		}
		if in == nil && !st.busy && st.pending.len() == 0 && !st.pendingInitial {
			return // input closed and everything finished
		}
		var out chan Batch
		var batch Batch
		if !st.busy && st.ready {
			early := q.early(st)
			writing := q.writing(st)
			in = q.drain(in, st)
			switch {
			case early && (!q.early(st) || q.opts.Quiet != nil && !q.opts.Quiet()):
				// Events that were already waiting, or are still on their
				// way, say the save is not over after all (the next file's
				// first write): wait for them, rather than build that file
				// half-written.
				st.noisy = true
				arm()
				if !st.ready {
					continue
				}
			case !writing && q.writing(st):
				// A waiting event says a file is open for writing now:
				// wait for its close (MaxWait bounds it) rather than build
				// it half-written.
				arm()
				if !st.ready {
					continue
				}
			}
			if st.nextCtx == nil {
				st.nextCtx, st.nextCancel = context.WithCancel(context.Background())
			}
			out = q.out
			batch = Batch{Events: st.pending.events(), First: st.pending.first, Initial: st.pendingInitial, ctx: st.nextCtx}
			if batch.First.IsZero() {
				batch.First = time.Now()
			}
		}
		select {
		case ev, ok := <-in:
			if !ok {
				in = nil
				continue
			}
			st.add(ev)
			arm()
		case out <- batch:
			st.busy, st.cancel, st.cancelled = true, st.nextCancel, false
			st.nextCtx, st.nextCancel = nil, nil
			st.inflight, st.pending = st.pending, changeSet{}
			st.initial, st.pendingInitial = st.pendingInitial, false
			st.ready, st.noisy = false, false
		case built := <-q.done:
			if !st.busy {
				continue // a stray Done: ignore
			}
			st.busy = false
			st.cancel()
			st.cancel = nil
			if !built {
				// Not built: its changes go first in the next batch, and
				// newer changes fold in after them.
				st.inflight.then(&st.pending)
				st.pending = st.inflight
				st.pendingInitial = st.pendingInitial || st.initial
			}
			st.inflight = changeSet{}
			st.initial = false
			arm()
		case <-timer.C:
			arm()
		case <-q.quit:
			return
		}
	}
}

// early reports whether pending may be handed out after CompleteSettle
// rather than the whole window: every change in it is complete.
func (q *Queue) early(st *state) bool { return !q.opts.Fixed && !st.noisy && st.pending.complete() }

// writing reports whether pending must wait for a writer's close: a file in
// it is open for writing (watcher.Writing) and the window is not Fixed.
func (q *Queue) writing(st *state) bool { return !q.opts.Fixed && st.pending.writing > 0 }

// add folds one incoming event into pending.
func (st *state) add(ev watcher.Event) {
	now := time.Now()
	if ev.Time.IsZero() {
		ev.Time = now
	}
	st.pending.add(ev)
	st.last = now
	st.noisy = false
}

// drain folds in events that are already waiting, so a batch handed out
// "immediately" still holds everything that had arrived. It returns nil
// once in is closed.
func (q *Queue) drain(in <-chan watcher.Event, st *state) <-chan watcher.Event {
	if in == nil {
		return nil
	}
	for range drainMax {
		select {
		case ev, ok := <-in:
			if !ok {
				return nil
			}
			st.add(ev)
		default:
			return in
		}
	}
	return in
}
