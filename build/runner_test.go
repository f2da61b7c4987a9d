//go:build linux

package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testGrace keeps SIGTERM→SIGKILL escalations short in tests.
const testGrace = 100 * time.Millisecond

// failingWriter fails every write, like a terminal that went away.
type failingWriter struct{ calls int }

func (f *failingWriter) Write(p []byte) (int, error) {
	f.calls++
	return 0, errors.New("gone")
}

func TestBuildResults(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		opts    Options
		changed []string
		ok      bool
		code    int
		output  string // exact, unless empty
		contain string
		err     string // substring of Result.Err; "" means nil
	}{
		{name: "no command succeeds", opts: Options{}, ok: true},
		{name: "exit 0", opts: Options{Command: "echo hello"}, ok: true, output: "hello\n"},
		{name: "exit 3", opts: Options{Command: "echo bad; exit 3"}, code: 3, output: "bad\n"},
		{name: "stdout and stderr interleaved as written", opts: Options{Command: "echo a; echo b >&2; echo c"}, ok: true, output: "a\nb\nc\n"},
		{name: "changed paths in RELOADD_CHANGED", opts: Options{Command: `printf '%s' "$RELOADD_CHANGED"`}, changed: []string{"/x/a b", "/y"}, ok: true, output: "/x/a b\n/y"},
		{name: "working directory", opts: Options{Command: "pwd", Dir: dir}, ok: true, output: dir + "\n"},
		{name: "command not found", opts: Options{Command: "reloadd-no-such-command-xyz"}, code: 127, contain: "not found"},
		{name: "killed by a signal", opts: Options{Command: "echo dying; kill -KILL $$"}, code: -1, output: "dying\n", err: "signal: killed"},
		{name: "cannot start", opts: Options{Command: "true", Dir: filepath.Join(dir, "missing")}, code: -1, err: "start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := New(tc.opts).Build(context.Background(), tc.changed)
			if res.OK != tc.ok || res.ExitCode != tc.code {
				t.Errorf("OK=%v ExitCode=%d, want %v %d (err %v, output %q)", res.OK, res.ExitCode, tc.ok, tc.code, res.Err, res.Output)
			}
			if tc.output != "" && res.Output != tc.output {
				t.Errorf("Output = %q, want %q", res.Output, tc.output)
			}
			if !strings.Contains(res.Output, tc.contain) {
				t.Errorf("Output = %q, want it to contain %q", res.Output, tc.contain)
			}
			switch {
			case tc.err == "" && res.Err != nil:
				t.Errorf("Err = %v, want nil", res.Err)
			case tc.err != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tc.err)):
				t.Errorf("Err = %v, want it to mention %q", res.Err, tc.err)
			}
		})
	}
}

func TestBuildStreamsOutputWhileRunning(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	out := &testenv.Buffer{}
	r := New(Options{Command: `echo first; while [ ! -e "` + gate + `" ]; do sleep 0.01; done; echo second`, Output: out})
	done := make(chan Result, 1)
	go func() { done <- r.Build(context.Background(), nil) }()
	// The build cannot finish before the gate exists, so seeing "first"
	// now means it was streamed, not delivered at the end.
	testenv.Eventually(t, "the first line on the terminal", func() bool { return out.String() == "first\n" })
	select {
	case res := <-done:
		t.Fatalf("build finished before the gate opened: %+v", res)
	default:
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if !res.OK || res.Output != "first\nsecond\n" || out.String() != res.Output {
		t.Errorf("result %+v, terminal %q", res, out.String())
	}
}

func TestBuildHugeOutputIsBounded(t *testing.T) {
	tests := []struct {
		name string
		out  *failingWriter
	}{
		{"to a terminal", nil},
		{"to a terminal that fails", &failingWriter{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Command: "head -c 20000000 /dev/zero | tr '\\0' x; echo; echo THE END"}
			if tc.out != nil {
				opts.Output = tc.out
			}
			res := New(opts).Build(context.Background(), nil)
			if !res.OK {
				t.Fatalf("build failed: %+v", res.Err)
			}
			if len(res.Output) != DefaultTailSize {
				t.Errorf("kept %d bytes, want %d", len(res.Output), DefaultTailSize)
			}
			if !strings.HasSuffix(res.Output, "xxx\nTHE END\n") {
				t.Errorf("output does not end with the command's last lines: ...%q", res.Output[max(0, len(res.Output)-40):])
			}
			if tc.out != nil && tc.out.calls != 1 {
				t.Errorf("failing terminal written %d times, want once then dropped", tc.out.calls)
			}
		})
	}
}

func TestBuildTimeout(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pids")
	// The shell waits on a child that ignores SIGTERM: only SIGKILL to the
	// group ends it.
	r := New(Options{
		Command: `echo started; (trap '' TERM; exec sleep 60) & echo $$ $! > ` + pidfile + `; wait`,
		Timeout: 300 * time.Millisecond,
		Grace:   testGrace,
	})
	res := r.Build(context.Background(), nil)
	if !errors.Is(res.Err, ErrTimeout) || res.OK || res.ExitCode != -1 {
		t.Errorf("result = %+v, want a timeout", res)
	}
	if !strings.Contains(res.Err.Error(), "300ms") || res.Output != "started\n" {
		t.Errorf("err %q, output %q", res.Err, res.Output)
	}
	pids := testenv.ReadPids(t, pidfile, 2)
	testenv.WaitGone(t, pids[0], pids...)
}

func TestBuildCancelKillsTheGroup(t *testing.T) {
	dir := t.TempDir()
	pidfile, grandfile := filepath.Join(dir, "pids"), filepath.Join(dir, "grandchild")
	// The shell, a child, and a child shell with a grandchild, both of
	// which ignore SIGTERM.
	script := `sleep 60 & a=$!; sh -c 'trap "" TERM; sleep 60 & echo $! > ` + grandfile + `; wait' & b=$!; echo $$ $a $b > ` + pidfile + `; wait`
	r := New(Options{Command: script, Grace: testGrace})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result, 1)
	go func() { done <- r.Build(ctx, nil) }()
	pids := append(testenv.ReadPids(t, pidfile, 3), testenv.ReadPids(t, grandfile, 1)...)
	for _, p := range pids {
		if !testenv.Alive(p) {
			t.Fatalf("pid %d not running before the cancel", p)
		}
	}
	cancel()
	res := <-done
	if !errors.Is(res.Err, ErrCancelled) || res.OK {
		t.Errorf("result = %+v, want cancelled", res)
	}
	testenv.WaitGone(t, pids[0], pids...)
}

func TestBuildKillsWhatItLeavesBehind(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pids")
	r := New(Options{Command: `sleep 60 & echo $$ $! > ` + pidfile + `; (trap '' TERM; exec sleep 60) >/dev/null & echo $! >> ` + pidfile, Grace: testGrace})
	res := r.Build(context.Background(), nil)
	if !res.OK {
		t.Fatalf("build failed: %+v", res)
	}
	pids := testenv.ReadPids(t, pidfile, 3)
	testenv.WaitGone(t, pids[0], pids...)
}

func TestBuildReturnsDespiteAnEscapedProcessHoldingOutput(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	// setsid leaves the process group, so the group kill cannot reach it,
	// and it keeps the output pipe open.
	r := New(Options{Command: `setsid sh -c 'echo $$ > ` + pidfile + `; exec sleep 60' & while [ ! -s ` + pidfile + ` ]; do sleep 0.01; done; echo done`, Grace: testGrace})
	done := make(chan Result, 1)
	go func() { done <- r.Build(context.Background(), nil) }()
	pids := testenv.ReadPids(t, pidfile, 1)
	t.Cleanup(func() { syscall.Kill(pids[0], syscall.SIGKILL) })
	select {
	case res := <-done:
		if !res.OK || res.Output != "done\n" {
			t.Errorf("result = %+v", res)
		}
		if !testenv.Alive(pids[0]) {
			t.Error("the escaped process is gone: this test no longer tests the escape")
		}
	case <-time.After(testenv.WaitLimit):
		t.Fatal("Build did not return while an escaped process held its output")
	}
}

func TestBuildCancelledBeforeStartRunsNothing(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := New(Options{Command: "touch " + marker}).Build(ctx, nil)
	if !errors.Is(res.Err, ErrCancelled) {
		t.Errorf("Err = %v, want ErrCancelled", res.Err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran although the context was already cancelled")
	}
}

func TestBuildLongChangedListGoesToAFile(t *testing.T) {
	var changed []string
	for i := range 5000 {
		changed = append(changed, fmt.Sprintf("/src/some/rather/deep/directory/file-%05d.txt", i))
	}
	t.Setenv(EnvChangedFile, "/inherited/from/an/outer/reloadd")
	r := New(Options{Command: `echo "[$RELOADD_CHANGED]"; wc -l < "$RELOADD_CHANGED_FILE"; tail -n 1 "$RELOADD_CHANGED_FILE"; echo "$RELOADD_CHANGED_FILE"`})
	res := r.Build(context.Background(), changed)
	lines := strings.Split(strings.TrimSpace(res.Output), "\n")
	if !res.OK || len(lines) != 4 {
		t.Fatalf("result = %+v", res)
	}
	if lines[0] != "[]" || strings.TrimSpace(lines[1]) != "5000" || lines[2] != changed[4999] {
		t.Errorf("output = %q", res.Output)
	}
	if _, err := os.Stat(lines[3]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("list file %s left behind: %v", lines[3], err)
	}
	// A short list does not inherit an outer RELOADD_CHANGED_FILE.
	res = New(Options{Command: `echo "[$RELOADD_CHANGED_FILE]"`}).Build(context.Background(), []string{"/a"})
	if res.Output != "[]\n" {
		t.Errorf("RELOADD_CHANGED_FILE leaked in: %q", res.Output)
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"fits", 8, []string{"abc", "def"}, "abcdef"},
		{"exactly full", 6, []string{"abc", "def"}, "abcdef"},
		{"wraps", 6, []string{"abc", "def", "gh"}, "cdefgh"},
		{"wraps many times", 4, []string{"ab", "cd", "ef", "gh", "i"}, "fghi"},
		{"one write larger than the ring", 4, []string{"ab", "0123456789"}, "6789"},
		{"cut inside a character starts at the next one", 4, []string{"aé€"}, "€"},
	}
	for _, tc := range tests {
		tl := newTail(tc.max)
		for _, w := range tc.writes {
			if n, err := tl.Write([]byte(w)); n != len(w) || err != nil {
				t.Errorf("%s: Write = %d, %v", tc.name, n, err)
			}
		}
		if got := tl.String(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestGraceOrDefault(t *testing.T) {
	tests := []struct{ in, want time.Duration }{
		{0, DefaultGrace},
		{NoGrace, 0},
		{-time.Second, 0},
		{time.Second, time.Second},
	}
	for _, tc := range tests {
		if got := graceOrDefault(tc.in); got != tc.want {
			t.Errorf("graceOrDefault(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
