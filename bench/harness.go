package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// buildReloadd compiles the daemon into dir and returns the binary's path.
func buildReloadd(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "reloadd")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/reloadd")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, msg)
	}
	return bin, nil
}

// daemon is a reloadd process under measurement.
type daemon struct {
	cmd  *exec.Cmd
	addr string
	out  *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freePort returns a loopback address nobody listens on now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startDaemon runs bin with args and waits until it answers HTTP.
func startDaemon(bin string, args ...string) (*daemon, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	d := &daemon{addr: addr, out: &lockedBuffer{}}
	d.cmd = exec.Command(bin, append([]string{"-addr", addr}, args...)...)
	d.cmd.Stdout = d.out
	d.cmd.Stderr = d.out
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/_reloadd/status")
		if err == nil {
			resp.Body.Close()
			return d, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.stop()
	return nil, fmt.Errorf("reloadd did not come up:\n%s", d.out)
}

// stop sends SIGTERM and waits.
func (d *daemon) stop() error {
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		return errors.New("reloadd ignored SIGTERM")
	}
}

// wsClient is a WebSocket client of the daemon.
type wsClient struct {
	conn *websocket.Conn
	msgs chan map[string]any
	done chan struct{}
	quit chan struct{} // closed by close
}

func dialWS(addr string) (*wsClient, error) {
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr+"/_reloadd/ws", nil)
	if err != nil {
		return nil, err
	}
	c := &wsClient{conn: conn, msgs: make(chan map[string]any, 64), done: make(chan struct{}), quit: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.msgs)
		for {
			var m map[string]any
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			select {
			case c.msgs <- m:
			case <-c.quit: // nobody reads any more (more builds than trials)
				return
			}
		}
	}()
	return c, nil
}

func (c *wsClient) close() {
	close(c.quit)
	c.conn.Close()
	<-c.done
}

// await returns the time the next message of type typ arrived.
func (c *wsClient) await(ctx context.Context, typ string) (time.Time, map[string]any, error) {
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return time.Time{}, nil, io.EOF
			}
			if m["type"] == typ {
				return time.Now(), m, nil
			}
		case <-ctx.Done():
			return time.Time{}, nil, ctx.Err()
		}
	}
}

// stats summarises latencies.
type stats struct {
	n                  int
	p50, p90, p99, max time.Duration
}

func summarize(ds []time.Duration) stats {
	if len(ds) == 0 {
		return stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.5) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return stats{n: len(s), p50: at(0.50), p90: at(0.90), p99: at(0.99), max: s[len(s)-1]}
}

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// machine describes where the figures were measured.
func machine() string {
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	model := "?"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%d cores (%s), Linux %s", numCPU(), model, kernel)
}

func jsonLine(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
