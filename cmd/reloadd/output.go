package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
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

// record prints an event with -log json only: the terminal says it another
// way (a save line stands for build_complete and reloaded).
func (p *printer) record(kind, msg string, fields map[string]any) {
	if p.json {
		p.event(kind, msg, fields)
	}
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
		b.WriteString(displayPath(path))
	}
	return b.String()
}

// displayPath quotes a path for the terminal when it holds anything that
// would not print as itself — a newline, an escape sequence, invalid
// UTF-8 — so that one line stays one line and no file name can drive the
// terminal.
func displayPath(p string) string {
	for _, r := range p {
		if !strconv.IsPrint(r) || r == utf8.RuneError {
			return strconv.Quote(p)
		}
	}
	return p
}

// count says how many: "1 client", "3 clients".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// msFloat is a duration in milliseconds, to the microsecond, for JSON.
func msFloat(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ms formats a duration in milliseconds for build lines.
func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}
