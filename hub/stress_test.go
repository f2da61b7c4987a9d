package hub

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/reloadd/reloadd/internal/testenv"
)

// rawClient is a WebSocket client written by hand on a TCP connection, for
// clients no library would be: one that never reads, one that sends
// garbage.
type rawClient struct {
	conn net.Conn
	br   *bufio.Reader
}

// rawHandshake opens a TCP connection to the server at base (http://...),
// optionally shrinks its receive buffer, and completes a WebSocket
// handshake on path. It reads nothing after the response headers.
func rawHandshake(t testing.TB, base, path string, rcvbuf int) *rawClient {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if rcvbuf > 0 {
		if err := conn.(*net.TCPConn).SetReadBuffer(rcvbuf); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, u.Host, base64.StdEncoding.EncodeToString(key))
	conn.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
	br := bufio.NewReaderSize(conn, 64) // small: read no further than the headers need
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	conn.SetReadDeadline(time.Time{})
	return &rawClient{conn: conn, br: br}
}

// newStalledClient connects a client that never reads and has a tiny
// receive buffer.
func newStalledClient(t testing.TB, base string) *rawClient {
	return rawHandshake(t, base, "/", 4096)
}

// fill broadcasts enough data that a client that never reads cannot have
// taken it: more than the kernel can buffer for it (the sender's socket
// buffer at its largest plus the receiver's tiny one), in fewer messages
// than the send queue holds, so the client's writer is blocked in a write
// and the client stays registered. Every connected client receives these
// messages, so fill before connecting the others.
func (c *rawClient) fill(t testing.TB, h *Hub) {
	t.Helper()
	const msg = 1 << 20
	wmemMax := 4 << 20
	if b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 3 {
			if n, err := strconv.Atoi(f[2]); err == nil {
				wmemMax = n
			}
		}
	}
	n := wmemMax/msg + 3
	if n > DefaultSendQueue-4 {
		t.Skipf("tcp_wmem max %d is too large to fill a socket with %d messages", wmemMax, DefaultSendQueue-4)
	}
	big := strings.Repeat("x", msg)
	for i := range n {
		if _, err := h.Start(int64(-i), []string{big}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestThousandClientsAndOneStalled: every reading client gets
// build_complete while one client's write is blocked (for up to an hour:
// if the hub waited for it, the test would time out).
func TestThousandClientsAndOneStalled(t *testing.T) {
	const n = 1000
	h, srv := newServer(t, Options{WriteTimeout: time.Hour})
	stalled := newStalledClient(t, srv.URL)
	waitClients(t, h, 1)
	stalled.fill(t, h)

	conns := dialMany(t, wsURL(srv, "/"), n)
	waitClients(t, h, n+1)

	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, c := range conns {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
			for {
				var m map[string]any
				if err := c.ReadJSON(&m); err != nil {
					errs <- err
					return
				}
				if m["type"] == TypeBuildComplete && m["build"] == float64(1) {
					return
				}
			}
		})
	}
	got, err := h.Complete(BuildComplete{Build: 1, URLs: []string{"/index.html"}})
	if err != nil || got != n+1 {
		t.Errorf("Complete = %d, %v; want %d", got, err, n+1)
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 3 {
			t.Errorf("a reading client missed build_complete: %v", err)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d clients missed build_complete", failed, n)
	}
	// The stalled client was not dropped to make way: the others were
	// served while its write was blocked.
	if c := h.Clients(); c != n+1 {
		t.Errorf("clients = %d, want %d", c, n+1)
	}
}

// dialMany connects n clients in parallel and reads their hello.
func dialMany(t testing.TB, url string, n int) []*websocket.Conn {
	t.Helper()
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				c, _, err := websocket.DefaultDialer.Dial(url, nil)
				if err == nil {
					c.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
					var m map[string]any
					if err = c.ReadJSON(&m); err == nil && m["type"] != TypeHello {
						err = fmt.Errorf("first message %v", m)
					}
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				conns[i] = c
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	if firstErr != nil {
		t.Fatalf("dial: %v", firstErr)
	}
	return conns
}

// countFDs counts this process's open file descriptors.
func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// TestAbuseLeavesNoGrowth: 200 connect/disconnect cycles of every kind and
// two 10 MB garbage frames leave the server serving, with no more
// goroutines or file descriptors than before.
func TestAbuseLeavesNoGrowth(t *testing.T) {
	h, srv := newServer(t, Options{})
	observer := dial(t, srv, nil)
	readJSON(t, observer)
	waitClients(t, h, 1)
	url := wsURL(srv, "/")

	cycle := func(i int) {
		switch i % 5 {
		case 0: // a polite client
			c, _, err := websocket.DefaultDialer.Dial(url, nil)
			if err != nil {
				t.Fatal(err)
			}
			readJSON(t, c)
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			c.Close()
		case 1: // gone without a word
			c, _, err := websocket.DefaultDialer.Dial(url, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		case 2: // TCP only
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		case 3: // half a handshake
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n")
			c.Close()
		case 4: // a LiveReload client that never says hello
			rc := rawHandshake(t, srv.URL, LiveReloadPath, 0)
			rc.conn.Close()
		}
	}
	// Warm up: let the runtime and net/http start what they start once.
	for i := range 10 {
		cycle(i)
	}
	waitClients(t, h, 1)
	testenv.Eventually(t, "the warm-up to settle", func() bool { return len(h.connsSnapshot()) == 1 })
	goroutines, fds := runtime.NumGoroutine(), countFDs(t)

	for i := range 200 {
		cycle(i)
	}
	// A well-formed frame header announcing 10 MB, then 10 MB.
	sendGarbage(t, srv.URL, true)
	// 10 MB of noise where a frame should be.
	sendGarbage(t, srv.URL, false)

	testenv.Eventually(t, "goroutines and file descriptors back to the baseline", func() bool {
		return h.Clients() == 1 && runtime.NumGoroutine() <= goroutines && countFDs(t) <= fds
	})
	if _, err := h.Complete(BuildComplete{Build: 1}); err != nil {
		t.Fatal(err)
	}
	if m := readJSON(t, observer); m["type"] != TypeBuildComplete {
		t.Errorf("observer got %v", m)
	}
	c := dial(t, srv, nil)
	if m := readJSON(t, c); m["type"] != TypeHello {
		t.Errorf("a new client got %v", m)
	}
}

// sendGarbage handshakes and writes 10 MB the server must refuse without
// reading it all or keeping anything.
func sendGarbage(t *testing.T, base string, framed bool) {
	t.Helper()
	const size = 10 << 20
	rc := rawHandshake(t, base, "/", 0)
	defer rc.conn.Close()
	var hdr bytes.Buffer
	if framed {
		hdr.WriteByte(0x80 | websocket.TextMessage) // FIN, text
		hdr.WriteByte(0x80 | 127)                   // masked, 64-bit length
		binary.Write(&hdr, binary.BigEndian, uint64(size))
		hdr.Write([]byte{1, 2, 3, 4}) // mask key
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	chunk := make([]byte, 64<<10)
	rc.conn.SetWriteDeadline(time.Now().Add(testenv.WaitLimit))
	if _, err := rc.conn.Write(hdr.Bytes()); err != nil {
		return
	}
	for sent := 0; sent < size; sent += len(chunk) {
		for i := range chunk {
			chunk[i] = byte(rng.Uint32())
		}
		if _, err := rc.conn.Write(chunk); err != nil {
			// The server hung up on us: what we want.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server neither read nor refused the garbage")
			}
			return
		}
	}
	// Everything was written (the kernel buffered it): the server must
	// still close the connection.
	rc.conn.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
	if _, err := rc.br.ReadByte(); err == nil {
		// A close frame; then EOF.
		for {
			if _, err := rc.br.ReadByte(); err != nil {
				break
			}
		}
	}
	var ne net.Error
	if _, err := rc.br.ReadByte(); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a connection that sent garbage")
	}
}
