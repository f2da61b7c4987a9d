package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// fleet is n WebSocket clients in the harness process, each with one reader
// goroutine that time-stamps build_complete the moment it has read it.
type fleet struct {
	n     int
	conns []*websocket.Conn
	wg    sync.WaitGroup

	mu     sync.Mutex
	builds map[int64]*arrival
	full   chan *arrival // a build every client has received
}

// arrival is how one build_complete reached the fleet.
type arrival struct {
	changedAt   int64 // the message's changed_at
	count       int
	first, last time.Time
}

// dialFleet connects n clients, a few dozen at a time.
func dialFleet(ctx context.Context, addr string, n int) (*fleet, error) {
	f := &fleet{n: n, builds: map[int64]*arrival{}, full: make(chan *arrival, 16)}
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 256}
	// dialers: concurrent handshakes; enough to connect 10,000 clients in a
	// few seconds, few enough to stay under the listen backlog.
	const dialers = 32
	conns := make([]*websocket.Conn, n)
	errs := make(chan error, dialers)
	next := make(chan int)
	var wg sync.WaitGroup
	for range dialers {
		wg.Go(func() {
			for i := range next {
				c, _, err := dialer.DialContext(ctx, "ws://"+addr+"/_reloadd/ws", nil)
				if err != nil {
					select {
					case errs <- fmt.Errorf("client %d: %w", i, err):
					default:
					}
					continue
				}
				conns[i] = c
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			f.conns = append(f.conns, c)
		}
	}
	for _, c := range f.conns {
		f.wg.Go(func() { f.read(c) })
	}
	select {
	case err := <-errs:
		f.close()
		return nil, err
	default:
	}
	return f, nil
}

func (f *fleet) read(c *websocket.Conn) {
	for {
		_, data, err := c.ReadMessage()
		if err != nil {
			return
		}
		at := time.Now()
		var m struct {
			Type      string `json:"type"`
			Build     int64  `json:"build"`
			ChangedAt int64  `json:"changed_at"`
		}
		if json.Unmarshal(data, &m) != nil || m.Type != "build_complete" {
			continue
		}
		f.mu.Lock()
		a := f.builds[m.Build]
		if a == nil {
			a = &arrival{first: at, changedAt: m.ChangedAt}
			f.builds[m.Build] = a
		}
		a.count++
		a.last = at
		if a.count == f.n {
			done := *a
			select {
			case f.full <- &done:
			default:
			}
		}
		f.mu.Unlock()
	}
}

// await returns the first build after a write at t0 that every client has
// received.
func (f *fleet) await(ctx context.Context, t0 time.Time, limit time.Duration) (*arrival, error) {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		select {
		case a := <-f.full:
			if !stale(a.changedAt, t0) {
				return a, nil
			}
		case <-timer.C:
			return nil, errMissed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// close closes every connection and waits for the readers.
func (f *fleet) close() {
	for _, c := range f.conns {
		c.Close()
	}
	f.wg.Wait()
}

// fig5: the hub. 1,000 and 10,000 WebSocket clients: time from a write until
// the last of them has build_complete.
func (s *suite) fig5(ctx context.Context) {
	sizes := []int{1_000, 10_000}
	if s.cfg.quick {
		sizes = []int{100}
	}
	limit, limitErr := raiseNOFILE()
	for _, n := range sizes {
		row := s.rep.addLatency(&latencyRow{fig: 5, figure: "hub: write → last client has `build_complete`",
			setup: thousands(n) + " clients, `-watch native -debounce 0`", panel: panelScale, label: thousands(n) + " clients, last"})
		s.progress("figure 5: %s clients", thousands(n))
		// Each client is one descriptor here and one in reloadd, which
		// inherits this limit; leave room for everything else.
		if need := uint64(n + 256); limitErr == nil && limit < need {
			s.fail(5, fmt.Errorf("RLIMIT_NOFILE is %d, needs %d: %w", limit, need, errNoTool), row)
			continue
		}
		if err := s.hub(ctx, n, row); err != nil {
			s.fail(5, err, row)
		}
	}
}

func (s *suite) hub(ctx context.Context, n int, row *latencyRow) error {
	site, err := newSite()
	if err != nil {
		return err
	}
	defer os.RemoveAll(site)
	d, err := startDaemon(ctx, s.bin, "-watch", "native", "-debounce", "0", site)
	if err != nil {
		return err
	}
	defer d.stop()
	start := time.Now()
	f, err := dialFleet(ctx, d.addr, n)
	if err != nil {
		return err
	}
	defer f.close()
	if _, err := d.waitStatus(fmt.Sprintf("%d clients", n), time.Minute, func(st daemonStatus) bool { return st.Clients >= n }); err != nil {
		return err
	}
	connected := time.Since(start)
	index := filepath.Join(site, "index.html")
	var firsts []time.Duration
	for i := range s.cfg.warmup + s.cfg.trials {
		if err := sleepCtx(ctx, gap(gapMin, gapSpan)); err != nil {
			return err
		}
		t0, err := writeFile(index, fmt.Appendf(nil, "<h1>%d %d</h1>\n", i, rand.Int()))
		if err != nil {
			return err
		}
		a, err := f.await(ctx, t0, trialLimit)
		if errors.Is(err, errMissed) {
			row.missed++
			continue
		} else if err != nil {
			return err
		}
		if i >= s.cfg.warmup {
			row.samples = append(row.samples, a.last.Sub(t0))
			firsts = append(firsts, a.first.Sub(t0))
		}
	}
	if len(firsts) > 0 {
		row.note = fmt.Sprintf("first client p50 %s ms; %s clients connected in %.1f s", fmtMS(summarize(firsts).p50), thousands(n), connected.Seconds())
	}
	if row.missed > 0 {
		st, _ := d.status()
		row.note = joinNotes(row.note, fmt.Sprintf("%d clients still connected at the end", st.Clients))
	}
	if len(row.samples) == 0 {
		return errors.New("no build reached every client")
	}
	return nil
}
