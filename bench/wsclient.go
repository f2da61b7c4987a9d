package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gorilla/websocket"
)

// wsMsg is one server message as a client saw it.
type wsMsg struct {
	At    time.Time // when the client had read the frame
	Type  string    `json:"type"`
	Build int64     `json:"build"`
	Paths []string  `json:"paths"`
	// ChangedAt is when reloadd first saw the batch's first change (Unix
	// ms), in build_complete.
	ChangedAt int64 `json:"changed_at"`
}

// wsClient is a WebSocket client of the daemon at /_reloadd/ws, in the
// harness process. One goroutine reads and time-stamps every frame the moment
// it has been read, so the queue between it and the harness adds no latency
// to the figures.
type wsClient struct {
	conn *websocket.Conn
	msgs chan wsMsg
	quit chan struct{}
	done chan struct{}
}

// dialWS connects to the daemon and waits for its hello.
func dialWS(ctx context.Context, addr string) (*wsClient, wsMsg, error) {
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, "ws://"+addr+"/_reloadd/ws", nil)
	if err != nil {
		return nil, wsMsg{}, fmt.Errorf("dial ws://%s/_reloadd/ws: %w", addr, err)
	}
	c := &wsClient{conn: conn, msgs: make(chan wsMsg, 256), quit: make(chan struct{}), done: make(chan struct{})}
	go c.read()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	hello, err := c.await(hctx, "hello")
	if err != nil {
		c.close()
		return nil, wsMsg{}, fmt.Errorf("hello: %w", err)
	}
	return c, hello, nil
}

func (c *wsClient) read() {
	defer close(c.done)
	defer close(c.msgs)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		m := wsMsg{At: time.Now()}
		if json.Unmarshal(data, &m) != nil {
			continue
		}
		select {
		case c.msgs <- m:
		case <-c.quit:
			return
		}
	}
}

// close closes the connection and waits for the reader. Idempotent.
func (c *wsClient) close() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	c.conn.Close()
	<-c.done
}

// await returns the next message of type typ, skipping others.
func (c *wsClient) await(ctx context.Context, typ string) (wsMsg, error) {
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return wsMsg{}, io.EOF
			}
			if m.Type == typ {
				return m, nil
			}
		case <-ctx.Done():
			return wsMsg{}, ctx.Err()
		}
	}
}

// drain discards the messages already queued.
func (c *wsClient) drain() {
	for {
		select {
		case _, ok := <-c.msgs:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// errMissed marks a trial whose change was not seen within its time limit.
var errMissed = errors.New("no build_complete in time")

// writeAndAwait writes data to path and returns the time from just before the
// write to the client's reading build_complete. It returns errMissed when
// none arrives within limit.
func (c *wsClient) writeAndAwait(ctx context.Context, path string, data []byte, limit time.Duration) (time.Duration, error) {
	c.drain()
	t0, err := writeFile(path, data)
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		m, err := c.await(wctx, "build_complete")
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return 0, errMissed
		}
		if err != nil {
			return 0, err
		}
		if stale(m.ChangedAt, t0) {
			continue // a late build for an earlier write
		}
		return m.At.Sub(t0), nil
	}
}

// stale reports whether a build whose first change reloadd saw at changedAt
// (Unix ms; 0 when unknown) began before a write at t0. With -debounce 0 one
// write (truncate, then write) can cause two builds; the second must not be
// taken for the next trial's.
func stale(changedAt int64, t0 time.Time) bool {
	return changedAt > 0 && changedAt < t0.UnixMilli()
}
