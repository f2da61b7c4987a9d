package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/reloadd/reloadd/internal/testenv"
)

// browser is one headless Chromium for the whole run; each figure opens its
// own tab.
type browser struct {
	ctx         context.Context // the first tab; its browser lives as long as it
	cancelTab   context.CancelFunc
	cancelAlloc context.CancelFunc
	dataDir     string
}

// startBrowser starts headless Chromium (Debian's chromium, else what
// chromedp finds) with the flags docs/TESTING.md lists.
func startBrowser() (*browser, error) {
	path := testenv.ChromiumPath() // "" lets chromedp look for a browser itself
	dir, err := os.MkdirTemp("", "reloadd-bench-chromium-")
	if err != nil {
		return nil, err
	}
	opts := testenv.ChromiumOptions(path, dir)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		os.RemoveAll(dir)
		if path == "" {
			return nil, fmt.Errorf("chromium is not installed (apt-get install chromium): %v: %w", err, errNoTool)
		}
		return nil, fmt.Errorf("start %s: %w", path, err)
	}
	return &browser{ctx: ctx, cancelTab: cancelTab, cancelAlloc: cancelAlloc, dataDir: dir}, nil
}

// close stops the browser and removes its profile.
func (b *browser) close() {
	b.cancelTab()
	b.cancelAlloc()
	os.RemoveAll(b.dataDir)
}

// tab is one browser tab that records when each top-level load event
// arrives at the harness.
type tab struct {
	ctx    context.Context
	cancel context.CancelFunc
	loads  chan time.Time
	origin float64 // performance.timeOrigin of the document last seen
}

// newTab opens a tab. Its load events are time-stamped on chromedp's reading
// goroutine (Listen), the moment they arrive.
func (b *browser) newTab() (*tab, error) {
	ctx, cancel := chromedp.NewContext(b.ctx)
	t := &tab{ctx: ctx, cancel: cancel, loads: make(chan time.Time, 64)}
	err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventLoadEventFired); ok {
			select {
			case t.loads <- time.Now():
			default: // nobody is measuring; never block the tab
			}
		}
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open tab: %w", err)
	}
	return t, nil
}

func (t *tab) close() { t.cancel() }

// navigate loads url and waits for its load event.
func (t *tab) navigate(url string, limit time.Duration) error {
	t.drain()
	ctx, cancel := context.WithTimeout(t.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		return fmt.Errorf("navigate %s: %w", url, err)
	}
	select {
	case <-t.loads:
	case <-ctx.Done():
		return fmt.Errorf("navigate %s: no load event within %v", url, limit)
	}
	nt, err := t.navTiming(limit)
	if err != nil {
		return err
	}
	t.origin = nt.origin
	return nil
}

// drain forgets load events that have arrived already, and says how many.
func (t *tab) drain() int {
	for n := 0; ; n++ {
		select {
		case <-t.loads:
		default:
			return n
		}
	}
}

// evalTimeout bounds one JavaScript evaluation.
const evalTimeout = 5 * time.Second

func eval[T any](ctx context.Context, expr string, opts ...chromedp.EvaluateOption) (T, error) {
	ectx, cancel := context.WithTimeout(ctx, evalTimeout)
	defer cancel()
	return chromedp.Run(ectx, chromedp.Evaluate[T](expr, opts...))
}

// navTiming is when the current document started and finished loading, by
// the page's own clock: performance.timeOrigin (Unix ms) and the navigation
// entry's loadEventEnd (ms after timeOrigin).
type navTiming struct {
	origin, loadEnd float64
}

const navTimingJS = `(() => {
  const n = performance.getEntriesByType("navigation")[0];
  return [performance.timeOrigin, n && n.loadEventEnd > 0 ? n.loadEventEnd : 0];
})()`

// navTiming waits until the current document's load event has ended and
// returns its timing. Evaluations that meet a navigation are retried.
func (t *tab) navTiming(limit time.Duration) (navTiming, error) {
	deadline := time.Now().Add(limit)
	var lastErr error
	for time.Now().Before(deadline) {
		v, err := eval[[]float64](t.ctx, navTimingJS)
		if err == nil && len(v) == 2 && v[1] > 0 {
			return navTiming{origin: v[0], loadEnd: v[1]}, nil
		}
		lastErr = err
		time.Sleep(2 * time.Millisecond)
	}
	return navTiming{}, fmt.Errorf("no navigation timing within %v (last error: %v)", limit, lastErr)
}

// reloadSample is one write → page reloaded measurement.
type reloadSample struct {
	harness time.Duration // write → Page.loadEventFired arrives at the harness
	page    time.Duration // write → loadEventEnd, page clock (timeOrigin + loadEventEnd)
}

// errNoReload marks a trial whose write caused no new document in time.
var errNoReload = errors.New("no reload in time")

// awaitReload waits for the first load event after t0 of a document other
// than the one last seen, and measures it. check, if not nil, must accept
// the new document (e.g. it shows the content just written); a load that it
// rejects is skipped.
func (t *tab) awaitReload(t0 time.Time, limit time.Duration, check func() (bool, error)) (reloadSample, error) {
	deadline := time.Now().Add(limit)
	for {
		var at time.Time
		select {
		case at = <-t.loads:
		case <-time.After(time.Until(deadline)):
			return reloadSample{}, errNoReload
		case <-t.ctx.Done():
			return reloadSample{}, t.ctx.Err()
		}
		if at.Before(t0) {
			continue // a load from before the write
		}
		nt, err := t.navTiming(time.Until(deadline) + time.Second)
		if err != nil {
			return reloadSample{}, err
		}
		if nt.origin == t.origin {
			continue // the same document as before: not a reload
		}
		if check != nil {
			ok, err := check()
			if err != nil {
				return reloadSample{}, err
			}
			if !ok {
				continue
			}
		}
		t.origin = nt.origin
		w := unixMS(t0)
		return reloadSample{
			harness: at.Sub(t0),
			page:    msDuration(nt.origin + nt.loadEnd - w),
		}, nil
	}
}

// unixMS is t as fractional Unix milliseconds, the unit of
// performance.timeOrigin.
func unixMS(t time.Time) float64 { return float64(t.UnixNano()) / 1e6 }

// waitJS evaluates expr until it is true, across reloads, up to limit.
func (t *tab) waitJS(expr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := eval[bool](t.ctx, expr)
		if err == nil && ok {
			return nil
		}
		lastErr = err
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("timed out after %v waiting for %s (last error: %v)", limit, expr, lastErr)
}
