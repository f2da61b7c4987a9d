package build

import (
	"sync"
	"unicode/utf8"
)

// DefaultTailSize is how much build output is kept for build_failed: the
// last 64 KiB, which holds the compiler's errors without shipping megabytes
// of log to every browser.
const DefaultTailSize = 64 << 10

// tail is an io.Writer that keeps the last max bytes written to it, in a
// ring, so that a command printing gigabytes costs one copy per byte and
// max bytes of memory. It is safe for concurrent use.
type tail struct {
	mu   sync.Mutex
	buf  []byte // len(buf) == max once full
	max  int
	next int  // where the next byte goes once full
	full bool // the ring has wrapped: bytes were dropped from the front
}

func newTail(max int) *tail { return &tail{max: max} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		t.next = 0
		t.full = len(p) > 0
		return n, nil
	}
	if !t.full {
		room := t.max - len(t.buf)
		if len(p) <= room {
			t.buf = append(t.buf, p...)
			return n, nil
		}
		t.buf = append(t.buf, p[:room]...)
		p = p[room:]
		t.full = true
		t.next = 0
	}
	for len(p) > 0 {
		c := copy(t.buf[t.next:], p)
		p = p[c:]
		t.next = (t.next + c) % t.max
	}
	return n, nil
}

// String returns the kept output. Once bytes have been dropped from the
// front, it starts at the first complete UTF-8 character, so that the text
// is not garbled where it was cut.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.full {
		return string(t.buf)
	}
	b := make([]byte, 0, t.max)
	b = append(b, t.buf[t.next:]...)
	b = append(b, t.buf[:t.next]...)
	for i := 0; i < utf8.UTFMax && i < len(b); i++ {
		if utf8.RuneStart(b[i]) {
			return string(b[i:])
		}
	}
	return string(b)
}
