//go:build linux

package build

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/internal/testenv"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role)) // re-executed as a mini reloadd or a listener (roles_linux_test.go)
	}
	goleak.VerifyTestMain(m)
}

// newRunner returns a Runner that is closed when the test ends.
func newRunner(t *testing.T, opts Options) *Runner {
	t.Helper()
	r := New(opts)
	t.Cleanup(func() { r.Close() })
	return r
}

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
		{name: "terminated by a signal", opts: Options{Command: "kill -TERM $$"}, code: -1, err: "signal: terminated"},
		{name: "exit 255", opts: Options{Command: "exit 255"}, code: 255},
		{name: "exec'd program's status", opts: Options{Command: "exec sh -c 'exit 7'"}, code: 7},
		{name: "cannot start", opts: Options{Command: "true", Dir: filepath.Join(dir, "missing")}, code: -1, err: "chdir " + filepath.Join(dir, "missing") + ": no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := newRunner(t, tc.opts).Build(context.Background(), tc.changed)
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
	r := newRunner(t, Options{Command: `echo first; while [ ! -e "` + gate + `" ]; do sleep 0.01; done; echo second`, Output: out})
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
			res := newRunner(t, opts).Build(context.Background(), nil)
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
	r := newRunner(t, Options{
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
	r := newRunner(t, Options{Command: script, Grace: testGrace})
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
	r := newRunner(t, Options{Command: `sleep 60 & echo $$ $! > ` + pidfile + `; (trap '' TERM; exec sleep 60) >/dev/null & echo $! >> ` + pidfile, Grace: testGrace})
	res := r.Build(context.Background(), nil)
	if !res.OK {
		t.Fatalf("build failed: %+v", res)
	}
	pids := testenv.ReadPids(t, pidfile, 3)
	testenv.WaitGone(t, pids[0], pids...)
}

// TestBuildStopsDetachedDaemons: a build that starts daemons which leave
// its process group (setsid) or its process tree (double fork) and hold
// its output open ends when its shell exits, plus a short drain, not after
// the grace period; and the daemons are stopped, also one that ignores
// SIGTERM (once the grace period has passed).
func TestBuildStopsDetachedDaemons(t *testing.T) {
	const grace = 3 * time.Second
	// Far below grace+drain (4 s, what a daemon holding the output cost
	// before), far above drainAfterExit on a loaded machine: a correctness
	// bound, not a speed target (BenchmarkBuildTrue measures that).
	const bound = 2 * time.Second
	tests := []struct {
		name   string
		daemon string // prints its pid to $P
	}{
		{"setsid", `setsid sh -c 'echo $$ > "$P"; exec sleep 1004' &`},
		{"setsid ignoring SIGTERM", `setsid sh -c 'trap "" TERM; echo $$ > "$P"; exec sleep 1004' &`},
		{"double fork", `(sleep 1004 & echo $! > "$P") &`},
		{"double fork into a new session", `(setsid sleep 1004 & echo $! > "$P") &`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			t.Setenv("P", pidfile)
			r := newRunner(t, Options{Command: tc.daemon + ` while [ ! -s "$P" ]; do sleep 0.01; done; echo done`, Grace: grace})
			start := time.Now()
			res := r.Build(context.Background(), nil)
			took := time.Since(start)
			pids := testenv.ReadPids(t, pidfile, 1)
			t.Cleanup(func() { killAll(t, pids) })
			if !res.OK || res.Output != "done\n" {
				t.Errorf("result = %+v", res)
			}
			if took > bound {
				t.Errorf("Build took %v with a daemon holding its output, want < %v (grace %v)", took, bound, grace)
			}
			r.Close() // waits until the leftovers are gone
			if testenv.Alive(pids[0]) {
				t.Errorf("daemon %d still running after the build and Close", pids[0])
			}
		})
	}
}

func TestBuildCancelledBeforeStartRunsNothing(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := newRunner(t, Options{Command: "touch " + marker}).Build(ctx, nil)
	if !errors.Is(res.Err, ErrCancelled) {
		t.Errorf("Err = %v, want ErrCancelled", res.Err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran although the context was already cancelled")
	}
}

func TestBuildChangedFile0(t *testing.T) {
	t.Setenv(EnvChangedFile0, "/inherited/from/an/outer/reloadd")
	changed := []string{"/src/new\nline.txt", "/src/a b.css", "/src/\x1b[31mred"}
	r := newRunner(t, Options{Command: `xargs -0 -a "$RELOADD_CHANGED_FILE0" sh -c 'printf "[%s]" "$@"' sh; echo; echo "$RELOADD_CHANGED_FILE0"`})
	res := r.Build(context.Background(), changed)
	if !res.OK {
		t.Fatalf("result = %+v", res)
	}
	out := strings.TrimSuffix(res.Output, "\n")
	i := strings.LastIndexByte(out, '\n')
	if i < 0 {
		t.Fatalf("output = %q", res.Output)
	}
	got, name := out[:i], out[i+1:]
	if want := "[" + strings.Join(changed, "][") + "]"; got != want {
		t.Errorf("paths read back with xargs -0: %q, want %q", got, want)
	}
	if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("list file %q left behind: %v", name, err)
	}
	// The start-up build has no changes: no file, and none inherited.
	res = newRunner(t, Options{Command: `echo "[${RELOADD_CHANGED_FILE0-unset}]"`}).Build(context.Background(), nil)
	if res.Output != "[unset]\n" {
		t.Errorf("start-up build: %q, want RELOADD_CHANGED_FILE0 unset", res.Output)
	}
}

func TestBuildLongChangedListGoesToAFile(t *testing.T) {
	var changed []string
	for i := range 5000 {
		changed = append(changed, fmt.Sprintf("/src/some/rather/deep/directory/file-%05d.txt", i))
	}
	t.Setenv(EnvChangedFile, "/inherited/from/an/outer/reloadd")
	r := newRunner(t, Options{Command: `echo "[$RELOADD_CHANGED]"; wc -l < "$RELOADD_CHANGED_FILE"; tail -n 1 "$RELOADD_CHANGED_FILE"; echo "$RELOADD_CHANGED_FILE"`})
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
	res = newRunner(t, Options{Command: `echo "[$RELOADD_CHANGED_FILE]"`}).Build(context.Background(), []string{"/a"})
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

// TestBuildDirect puts the implementation used where there is no
// supervisor (macOS, the BSDs, Windows; Linux without /proc) through its
// paces here: results, a leftover in the group killed after the grace
// period, a cancel that stops the group.
func TestBuildDirect(t *testing.T) {
	direct := func(t *testing.T, opts Options) *Runner {
		r := newRunner(t, opts)
		r.direct = true
		return r
	}
	t.Run("results", func(t *testing.T) {
		res := direct(t, Options{Command: "echo bad; exit 3"}).Build(context.Background(), nil)
		if res.OK || res.ExitCode != 3 || res.Output != "bad\n" || res.Err != nil {
			t.Errorf("result = %+v", res)
		}
		res = direct(t, Options{Command: "kill -KILL $$"}).Build(context.Background(), nil)
		if res.ExitCode != -1 || res.Err == nil || !strings.Contains(res.Err.Error(), "signal: killed") {
			t.Errorf("result = %+v", res)
		}
	})
	t.Run("leftovers in the group", func(t *testing.T) {
		pidfile := filepath.Join(t.TempDir(), "pids")
		res := direct(t, Options{Command: `(trap '' TERM; exec sleep 60) & echo $$ $! > ` + pidfile, Grace: testGrace}).Build(context.Background(), nil)
		if !res.OK {
			t.Fatalf("result = %+v", res)
		}
		pids := testenv.ReadPids(t, pidfile, 2)
		// Direct, Build returns once the group has been sent SIGKILL.
		testenv.WaitGone(t, pids[0], pids...)
	})
	t.Run("cancel", func(t *testing.T) {
		pidfile := filepath.Join(t.TempDir(), "pids")
		r := direct(t, Options{Command: `trap '' TERM; sleep 60 & echo $$ $! > ` + pidfile + `; wait`, Grace: testGrace})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan Result, 1)
		go func() { done <- r.Build(ctx, nil) }()
		pids := testenv.ReadPids(t, pidfile, 2)
		cancel()
		if res := <-done; !errors.Is(res.Err, ErrCancelled) {
			t.Errorf("result = %+v, want cancelled", res)
		}
		testenv.WaitGone(t, pids[0], pids...)
	})
}
