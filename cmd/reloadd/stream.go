package main

import (
	"bytes"
	"encoding/json"
	"time"
)

// maxJSONLine bounds a line of command output held back in -log json mode
// while its end has not come: past it, the part so far goes out as a line
// of its own, so a command printing megabytes without a newline cannot
// grow reloadd's memory.
const maxJSONLine = 64 << 10

// stream is an io.Writer for the output of a -build or -run command. In
// text mode the bytes reach the terminal as they come (progress output
// included); with -log json each line becomes one JSON object
// {"time","event":"output","source":"build"|"app","line"}, so that stdout
// stays one JSON object per line. Writes hold the printer's lock, so
// command output and reloadd's own lines never mix within a line.
//
// One command writes to a stream at a time (the build and the app each
// have their own); flush is called when that command has ended.
type stream struct {
	p       *printer
	source  string
	partial []byte // JSON mode: the unfinished last line
}

func (p *printer) stream(source string) *stream { return &stream{p: p, source: source} }

func (s *stream) Write(b []byte) (int, error) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.json {
		if len(b) == 0 {
			return 0, nil
		}
		n, err := p.w.Write(b)
		p.midLine = b[len(b)-1] != '\n'
		return n, err
	}
	s.partial = append(s.partial, b...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.emitLocked(s.partial[:i])
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > maxJSONLine {
		s.emitLocked(s.partial)
		s.partial = s.partial[:0]
	}
	s.partial = append([]byte(nil), s.partial...) // let the consumed front go
	return len(b), nil
}

// flush ends a line the command left unfinished.
func (s *stream) flush() {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json && len(s.partial) > 0 {
		s.emitLocked(s.partial)
		s.partial = nil
	}
}

func (s *stream) emitLocked(line []byte) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	b, _ := json.Marshal(map[string]any{
		"time":   time.Now().UTC().Format(time.RFC3339Nano),
		"event":  "output",
		"source": s.source,
		"line":   string(line),
	})
	s.p.w.Write(append(b, '\n'))
}
