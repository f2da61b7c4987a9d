package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// printer writes reloadd's terminal output: human lines, or with -log json
// one JSON object per line. It is safe for concurrent use.
type printer struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
	cwd  string
	// midLine: command output (see stream.go) left the terminal in the
	// middle of a line, which the next event line must not continue.
	midLine bool
}

func newPrinter(w io.Writer, jsonFormat bool, cwd string) *printer {
	return &printer{w: w, json: jsonFormat, cwd: cwd}
}

// event prints one line. msg is the human text; fields go into the JSON
// object alongside "time", "event" and "msg".
func (p *printer) event(kind, msg string, fields map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.json {
		if p.midLine {
			fmt.Fprintln(p.w)
			p.midLine = false
		}
		fmt.Fprintln(p.w, msg)
		return
	}
	obj := map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano), "event": kind, "msg": msg}
	for k, v := range fields {
		obj[k] = v
	}
	b, err := json.Marshal(obj)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"event": kind, "msg": msg, "error": err.Error()})
	}
	p.w.Write(append(b, '\n'))
}

// short shortens paths for the terminal: relative to the working directory
// when below it, at most three names, then "+N more".
func (p *printer) short(paths []string) string {
	const show = 3
	var b strings.Builder
	for i, path := range paths {
		if i == show {
			fmt.Fprintf(&b, " +%d more", len(paths)-show)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if rel, err := filepath.Rel(p.cwd, path); err == nil && !strings.HasPrefix(rel, "..") {
			path = rel
		}
		b.WriteString(path)
	}
	return b.String()
}

// ms formats a duration in milliseconds for build lines.
func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}
