package hub

import (
	"sync"
	"time"
)

// sentLog remembers when the last few build_complete messages were
// broadcast, so that timing reports can be re-based on the server's clock
// (see [Reloaded]).
type sentLog struct {
	mu   sync.Mutex
	next int
	ring [sentLogSize]sentEntry
}

// sentLogSize: reports arrive within seconds of their build; a few builds
// of history cover tabs that are slow to reload while new builds finish.
const sentLogSize = 16

type sentEntry struct {
	build     int64
	changedAt int64 // unix ms, server clock
	sentAt    time.Time
}

func (l *sentLog) record(build, changedAt int64, sentAt time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = sentEntry{build: build, changedAt: changedAt, sentAt: sentAt}
	l.next = (l.next + 1) % sentLogSize
}

// rebase rewrites r's times on the server clock when it knows when r's build
// was sent and r says when the browser received it; otherwise r is left as
// the browser measured it.
func (l *sentLog) rebase(r *Reloaded) {
	if r.Received == 0 {
		return
	}
	l.mu.Lock()
	var e sentEntry
	found := false
	for _, x := range l.ring {
		if x.build == r.Build && x.changedAt != 0 && !x.sentAt.IsZero() {
			e, found = x, true
			break
		}
	}
	l.mu.Unlock()
	if !found {
		return
	}
	server := float64(e.sentAt.UnixMicro()-e.changedAt*1000) / 1000
	shift := server - r.Received
	for _, v := range []*float64{&r.NavigationStart, &r.DOMContentLoaded, &r.Load} {
		if *v != 0 {
			*v += shift
		}
	}
	r.Received = server
}
