package testenv

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// shared is the browser SharedChromium hands out tabs of.
var shared struct {
	mu      sync.Mutex
	started bool
	ctx     context.Context // the browser's first tab; parent of every other
	cancel  []context.CancelFunc
	dir     string
}

// SharedChromium returns a chromedp context for a new tab in one headless
// Debian Chromium shared by every test of the binary that calls it, so that
// the browser starts once rather than once per test. The tab is closed in
// t.Cleanup; the browser by CloseSharedChromium, which the package's
// TestMain must call after m.Run (and before checking for goroutine
// leaks). The browser is started like [Chromium]'s.
func SharedChromium(t testing.TB) context.Context {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.started {
		path := ChromiumPath()
		if path == "" {
			Missing(t, "chromium is not installed (apt-get install chromium)")
		}
		dir, err := os.MkdirTemp("", "reloadd-chromium-")
		if err != nil {
			t.Fatal(err)
		}
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), ChromiumOptions(path, dir)...)
		ctx, cancelTab := chromedp.NewContext(actx)
		if err := chromedp.Do(ctx); err != nil {
			cancelTab()
			cancelAlloc()
			os.RemoveAll(dir)
			t.Fatalf("start chromium: %v", err)
		}
		shared.started, shared.ctx, shared.dir = true, ctx, dir
		shared.cancel = []context.CancelFunc{cancelTab, cancelAlloc}
	}
	tab, cancel := chromedp.NewContext(shared.ctx)
	if err := chromedp.Do(tab); err != nil {
		cancel()
		t.Fatalf("open a tab: %v", err)
	}
	t.Cleanup(cancel)
	return tab
}

// CloseSharedChromium stops the browser SharedChromium started, if any, and
// waits for it to exit.
func CloseSharedChromium() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.started {
		return
	}
	for _, c := range shared.cancel {
		c()
	}
	os.RemoveAll(shared.dir)
	shared.started = false
}

// ChromiumPath finds the browser (Debian's chromium first), or returns "".
func ChromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := lookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// ChromiumOptions are the flags every headless Chromium of the tests and
// the bench suite starts with (docs/TESTING.md's list), for
// the browser at path using the profile directory dir.
func ChromiumOptions(path, dir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(dir),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Background tabs must keep their timers running: tests hide tabs
		// on purpose.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
	}
}
