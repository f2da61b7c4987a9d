// Package debounce is reloadd's coalescing build queue: it turns a stream of
// file events into batches, one build each.
//
// # Semantics
//
//   - The first change starts a batch; the batch is handed out once no new
//     change has arrived for the settle window (default 10 ms), or once the
//     batch is MaxWait old (default 1 s), whichever comes first, so a
//     continuous stream of writes cannot starve the build.
//   - Within a batch, events are reduced to their net effect per path (see
//     changeSet): a temporary file created and removed is no change, a file
//     replaced by rename is a Write.
//   - While the consumer builds a batch (between receiving it and calling
//     [Queue.Done]), new changes accumulate. Under [PolicyQueue] they become
//     exactly one more batch after Done; under [PolicyRestart] the running
//     batch's context is cancelled as soon as they settle, and after Done one
//     batch with the union of both is handed out.
//   - Nothing is lost: every event received ends up in exactly one batch that
//     the consumer received and completed (or, under Restart, in the union
//     batch that replaces a cancelled one).
//
// # Design notes
//
// One goroutine owns all state; the consumer talks to it only through the
// Batches channel and Done. Time comes from package time, so tests run the
// queue inside a testing/synctest bubble with a fake clock.
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
	// enough to be invisible next to a page reload.
	DefaultSettle = 10 * time.Millisecond
	// DefaultMaxWait bounds how long a continuous stream of changes can
	// delay a batch. A git checkout of a few thousand files finishes well
	// within it, so it still lands as one batch.
	DefaultMaxWait = time.Second
)

// Immediate, as Options.Settle, hands a batch out as soon as no further event
// is already waiting (the seed article's "build at once").
const Immediate time.Duration = -1

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
	Settle time.Duration
	// MaxWait caps how long a batch can be held back; 0 means DefaultMaxWait.
	MaxWait time.Duration
	// Policy applies to changes that arrive during a build.
	Policy Policy
	// Initial, if set, makes the queue hand out an empty batch (with
	// Initial=true) at once, for the build reloadd runs at start-up.
	// Changes during it are queued as for any build.
	Initial bool
}

// Batch is a set of changes to build once.
type Batch struct {
	// Events are the net changes, sorted by path.
	Events []watcher.Event
	// First is when the earliest change of the batch was seen.
	First time.Time
	// Initial marks the start-up batch, which has no events.
	Initial bool

	ctx context.Context
}

// Context is cancelled when, under the Restart policy, newer changes
// supersede this batch. It is never cancelled under Queue.
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
// use. It runs one goroutine, stopped and waited for by Close.
type Queue struct {
	in   <-chan watcher.Event
	out  chan Batch
	done chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup // the run goroutine (exactly one)
	once sync.Once
	opts Options

	// Owned by run.
	inEOF bool // in was closed
	// The context of the next batch, made once when a batch is first
	// offered and kept until the consumer takes it.
	nextCtx    context.Context
	nextCancel context.CancelFunc
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
		in:   in,
		out:  make(chan Batch),
		done: make(chan struct{}),
		quit: make(chan struct{}),
		opts: opts,
	}
	q.wg.Add(1)
	go q.run()
	return q
}

// Batches delivers batches. The consumer must call Done after it has
// finished with each one (built it, skipped it, or given up). The channel is
// closed when the queue stops.
func (q *Queue) Batches() <-chan Batch { return q.out }

// Done tells the queue the consumer has finished the last batch it received.
func (q *Queue) Done() {
	select {
	case q.done <- struct{}{}:
	case <-q.quit:
	}
}

// Close stops the queue and waits for its goroutine. Pending changes are
// discarded. Close is idempotent.
func (q *Queue) Close() error {
	q.once.Do(func() { close(q.quit) })
	q.wg.Wait()
	return nil
}

func (q *Queue) run() {
	defer q.wg.Done()
	defer close(q.out)

	var (
		pending   changeSet
		inflight  changeSet          // events of the batch being built
		busy      bool               // a batch is out and Done has not come back
		cancel    context.CancelFunc // cancels the batch being built
		cancelled bool               // cancel was called for the batch being built
		last      time.Time          // when the last pending event arrived
		ready     bool               // pending has settled and may be handed out
		timer     = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	defer func() {
		if cancel != nil {
			cancel()
		}
		if q.nextCancel != nil {
			q.nextCancel()
		}
	}()

	if q.opts.Initial {
		ctx, c := context.WithCancel(context.Background())
		select {
		case q.out <- Batch{Initial: true, First: time.Now(), ctx: ctx}:
			busy, cancel = true, c
		case <-q.quit:
			c()
			return
		}
	}

	// arm decides whether pending has settled, or sets the timer for when
	// it will have.
	arm := func() {
		ready = false
		if pending.len() == 0 {
			timer.Stop()
			return
		}
		now := time.Now()
		deadline := last.Add(max(q.opts.Settle, 0))
		if limit := time.Unix(0, pending.first).Add(q.opts.MaxWait); limit.Before(deadline) {
			deadline = limit
		}
		if !deadline.After(now) {
			ready = true
			timer.Stop()
			return
		}
		timer.Reset(deadline.Sub(now))
	}

	for {
		// Under Restart, settled changes cancel the running build.
		if busy && ready && !cancelled && q.opts.Policy == PolicyRestart {
			cancel()
			cancelled = true
		}
		var out chan Batch
		var batch Batch
		if !busy && ready {
			q.drain(&pending, &last)
			if q.nextCtx == nil {
				q.nextCtx, q.nextCancel = context.WithCancel(context.Background())
			}
			out = q.out
			batch = Batch{Events: pending.events(), First: time.Unix(0, pending.first), ctx: q.nextCtx}
		}
		in := q.in
		if q.inEOF {
			in = nil
		}
		select {
		case ev, ok := <-in:
			if !ok {
				q.inEOF = true
				continue
			}
			pending.add(ev)
			last = time.Now()
			arm()
		case out <- batch:
			busy, cancel = true, q.nextCancel
			q.nextCtx, q.nextCancel = nil, nil
			inflight, pending = pending, changeSet{}
			ready = false
		case <-q.done:
			if !busy {
				continue // a stray Done: ignore
			}
			busy = false
			cancel()
			cancel = nil
			if cancelled {
				// The cancelled build's changes go into the next batch.
				inflight.merge(&pending)
				pending = inflight
				last = time.Now().Add(-max(q.opts.Settle, 0))
			}
			cancelled = false
			inflight = changeSet{}
			arm()
		case <-timer.C:
			arm()
		case <-q.quit:
			return
		}
	}
}

// drain folds in events that are already waiting, so a batch handed out
// "immediately" still holds everything that had arrived.
func (q *Queue) drain(s *changeSet, last *time.Time) {
	if q.inEOF {
		return
	}
	for range 4096 {
		select {
		case ev, ok := <-q.in:
			if !ok {
				q.inEOF = true
				return
			}
			s.add(ev)
			*last = time.Now()
		default:
			return
		}
	}
}
