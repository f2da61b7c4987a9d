package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/reloadd/reloadd/internal/testenv"
)

func TestStreamText(t *testing.T) {
	var b bytes.Buffer
	p := newPrinter(&b, false, "/")
	s := p.stream("build")
	s.Write([]byte("compiling"))
	s.Write([]byte("... 50%"))
	p.event("build_failed", "build 1  FAILED", nil) // must not continue the command's line
	s.Write([]byte("next\n"))
	p.event("build_complete", "build 2  ok", nil)
	s.flush()
	want := "compiling... 50%\nbuild 1  FAILED\nnext\nbuild 2  ok\n"
	if b.String() != want {
		t.Errorf("terminal = %q, want %q", b.String(), want)
	}
}

func TestStreamJSON(t *testing.T) {
	var b bytes.Buffer
	p := newPrinter(&b, true, "/")
	s := p.stream("app")
	s.Write([]byte("one\r\ntw"))
	s.Write([]byte("o\nthree <b>&</b>"))
	p.event("app_exited", "app exited", nil)
	s.flush()
	s.Write([]byte(strings.Repeat("x", maxJSONLine+10)))
	s.flush() // nothing left
	var lines []string
	var events []string
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		events = append(events, m["event"].(string))
		if m["event"] == "output" {
			if m["source"] != "app" || m["time"] == nil {
				t.Errorf("output line %v", m)
			}
			lines = append(lines, m["line"].(string))
		}
	}
	// An overlong unfinished line goes out as it is, not held back.
	if len(lines) != 4 || lines[0] != "one" || lines[1] != "two" || lines[2] != "three <b>&</b>" || len(lines[3]) != maxJSONLine+10 {
		t.Errorf("%d lines: %q ... (last %d bytes)", len(lines), lines[:min(3, len(lines))], len(lines[len(lines)-1]))
	}
	if strings.Join(events, " ") != "output output app_exited output output" {
		t.Errorf("events = %v", events)
	}
}

func TestJSONLogWithBuildOutput(t *testing.T) {
	src := t.TempDir()
	d := startDaemon(t, testenv.FreeAddr(t), "-log", "json", "-build", `echo "built <ok>"; printf 'no newline'`, src)
	ws := dialLog(t, d.addr)
	waitStartupBuild(t, ws)
	testenv.Eventually(t, "the build line", func() bool { return strings.Contains(d.out.String(), `"build_complete"`) })
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(d.out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if m["event"] == "output" && m["source"] == "build" {
			got = append(got, m["line"].(string))
		}
	}
	if strings.Join(got, "|") != "built <ok>|no newline" {
		t.Errorf("build output lines = %q", got)
	}
}
