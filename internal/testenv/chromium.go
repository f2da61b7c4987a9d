package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium starts a headless Debian Chromium for the test and returns a
// chromedp context for one tab. Everything is torn down in t.Cleanup.
func Chromium(t testing.TB) context.Context {
	t.Helper()
	path := ChromiumPath()
	if path == "" {
		Missing(t, "chromium is not installed (apt-get install chromium)")
	}
	opts := ChromiumOptions(path, t.TempDir())
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// WaitJS evaluates the JavaScript expression expr in the tab every few
// milliseconds until it is true, across page reloads (an evaluation that
// meets a navigation is retried), and fails the test after WaitLimit.
func WaitJS(t testing.TB, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	var lastErr error
	for time.Now().Before(deadline) {
		ectx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := chromedp.Run(ectx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(5 * time.Millisecond)
	}
	body, _ := EvalString(ctx, `document.documentElement ? document.documentElement.outerHTML : "(no document)"`)
	t.Fatalf("timed out after %v waiting for %s (last error: %v); page: %s", WaitLimit, expr, lastErr, body)
}

// EvalString evaluates expr in the tab and returns its string value.
func EvalString(ctx context.Context, expr string) (string, error) {
	ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ectx, chromedp.Evaluate[string](expr))
}
