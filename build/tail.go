package build

import "sync"

// DefaultTailSize is how much build output is kept for build_failed: the
// last 64 KiB, which holds the compiler's errors without shipping megabytes
// of log to every browser.
const DefaultTailSize = 64 << 10

// tail is an io.Writer that keeps the last max bytes written to it. It is
// safe for concurrent use (stdout and stderr write to it from the process's
// copying goroutines).
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
	cut bool // bytes were dropped from the front
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		t.cut = true
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.cut = true
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns the kept output.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
