package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/reloadd/reloadd/debounce"
)

// config is the parsed and validated command line.
type config struct {
	dirs         []string
	serve        string
	proxy        *url.URL
	addr         string
	build        string
	run          string
	watch        string
	pollInterval time.Duration
	debounce     time.Duration
	debounceSet  bool // -debounce given: a fixed window (see debounce.Options.Fixed)
	ignores      []string
	outputs      []string // -output: what the build writes; never triggers a build
	buildOn      []string // -build-on: the changes that need -build (and a -run restart)
	gitignore    bool
	onBusy       debounce.Policy
	grace        time.Duration
	buildTimeout time.Duration
	allowHosts   []string
	logFormat    string
	check        bool
	token        string // -token (agent.go)
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

const usageText = `usage: reloadd [flags] [DIR ...] [flags]
       reloadd forward [flags] [DIR]

Watches DIRs (default "."), runs -build after changes, and reloads every
browser that has the page open. Serves the first DIR (or -serve DIR, or
proxies -proxy URL) at -addr with the reload client injected.

flags:
`

// durationFlag is a time.Duration flag whose error says what a bare
// number lacks.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return fmt.Errorf("a duration needs a unit: %sms or %ss", s, s)
		}
		return fmt.Errorf("want a duration such as 10ms, 1.5s or 2m")
	}
	*f.d = d
	return nil
}

// parseFlags parses args (without the program name). Flags may come before
// and after the DIRs ("--" ends the flags). -h prints the help to stdout;
// errors print nothing: they are returned as one-line usage errors.
func parseFlags(args []string, stdout io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("reloadd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var proxy, onBusy string
	var ignores, allow, outputs, buildOn listFlag
	var version bool
	fs.StringVar(&c.serve, "serve", "", "serve `DIR` with the client injected (default: the first watched DIR, unless -proxy)")
	fs.StringVar(&proxy, "proxy", "", "reverse-proxy to `URL` instead, injecting the client into HTML responses")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:35729", "listen address `HOST:PORT`")
	fs.StringVar(&c.build, "build", "", "shell `CMD` run after changes; browsers reload after it succeeds")
	fs.StringVar(&c.run, "run", "", "long-running `CMD`, restarted after each successful build")
	fs.StringVar(&c.watch, "watch", "auto", "watch `MODE`: auto | native | poll | hybrid")
	c.pollInterval = 100 * time.Millisecond
	fs.Var(durationFlag{&c.pollInterval}, "poll-interval", "how often recently changed files are checked (`DURATION`, default 100ms)")
	c.debounce = debounce.DefaultSettle
	fs.Var(durationFlag{&c.debounce}, "debounce", "fixed settle window before a build starts (`DURATION`; 0: at once); unset: 10ms, ended 1ms after every changed file is complete")
	fs.Var(&ignores, "ignore", "gitignore-style `PATTERN` to ignore (repeatable)")
	fs.Var(&outputs, "output", "`PATH` (file or directory) the build writes: its changes never trigger a build (repeatable)")
	fs.Var(&buildOn, "build-on", "gitignore-style `GLOB`: only changes that match run -build and restart -run; others only reload or swap (repeatable)")
	fs.BoolVar(&c.gitignore, "gitignore", true, "honour the .gitignore files in watched directories (-gitignore=false: don't)")
	fs.StringVar(&onBusy, "on-busy", "queue", "what a change does while a build runs: queue | restart")
	c.grace = 3 * time.Second
	fs.Var(durationFlag{&c.grace}, "grace", "how long -run's process group gets after SIGTERM before SIGKILL (`DURATION`, default 3s)")
	fs.Var(durationFlag{&c.buildTimeout}, "build-timeout", "kill a build that runs longer (`DURATION`; default: none)")
	fs.Var(&allow, "allow-host", "also accept this Host/Origin `NAME` (repeatable), for use from other devices")
	fs.StringVar(&c.logFormat, "log", "text", "output `FORMAT`: text | json")
	fs.StringVar(&c.token, "token", "", "shared secret `T` that host agents (reloadd forward) must hold where reloadd cannot write its cookie into a read-only share (default $"+tokenEnv+")")
	fs.BoolVar(&c.check, "check", false, "print, per watched mount, the filesystem, the chosen mode and why; then exit")
	fs.BoolVar(&version, "version", false, "print the version and exit")

	rest := args
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(stdout, usageText)
				fs.SetOutput(stdout)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, flagError(fs, err)
		}
		left := fs.Args()
		if len(left) == 0 {
			break
		}
		if n := len(rest) - len(left); n > 0 && rest[n-1] == "--" {
			c.dirs = append(c.dirs, left...) // after "--", only DIRs
			break
		}
		c.dirs = append(c.dirs, left[0])
		rest = left[1:]
	}
	if version {
		fmt.Fprintln(stdout, "reloadd", versionString())
		return nil, flag.ErrHelp
	}
	fs.Visit(func(f *flag.Flag) { c.debounceSet = c.debounceSet || f.Name == "debounce" })
	if len(c.dirs) == 0 {
		c.dirs = []string{"."}
	}
	c.ignores = ignores
	c.allowHosts = allow
	c.outputs = outputs
	c.buildOn = buildOn

	switch c.watch {
	case "auto", "native", "poll", "hybrid":
	default:
		return nil, usagef("-watch %q: want auto, native, poll or hybrid", c.watch)
	}
	switch onBusy {
	case "queue":
		c.onBusy = debounce.PolicyQueue
	case "restart":
		c.onBusy = debounce.PolicyRestart
	default:
		return nil, usagef("-on-busy %q: want queue or restart", onBusy)
	}
	switch c.logFormat {
	case "text", "json":
	default:
		return nil, usagef("-log %q: want text or json", c.logFormat)
	}
	if c.pollInterval <= 0 {
		return nil, usagef("-poll-interval %v: must be positive", c.pollInterval)
	}
	if c.debounce < 0 {
		return nil, usagef("-debounce %v: must not be negative", c.debounce)
	}
	if c.grace < 0 {
		return nil, usagef("-grace %v: must not be negative", c.grace)
	}
	if c.buildTimeout < 0 {
		return nil, usagef("-build-timeout %v: must not be negative", c.buildTimeout)
	}
	if len(c.buildOn) > 0 && c.build == "" && c.run == "" {
		return nil, usagef("-build-on says which changes run -build or restart -run: give one of them")
	}
	for _, o := range c.outputs {
		if o == "" {
			return nil, usagef("-output \"\": want a path")
		}
	}
	if _, port, err := net.SplitHostPort(c.addr); err != nil || port == "" {
		return nil, usagef("-addr %q: want HOST:PORT", c.addr)
	}
	for _, h := range c.allowHosts {
		if h == "" || strings.ContainsAny(h, "/ :") {
			return nil, usagef("-allow-host %q: want a host name", h)
		}
	}
	if proxy != "" {
		u, err := url.Parse(proxy)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, usagef("-proxy %q: want an http:// or https:// URL", proxy)
		}
		if c.serve != "" {
			return nil, usagef("-serve and -proxy exclude each other")
		}
		c.proxy = u
	}
	return c, nil
}

// flagError turns the flag package's error into reloadd's one-line usage
// error, with a suggestion for a mistyped flag name.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		if alt := closestFlag(fs, strings.TrimLeft(name, "-")); alt != "" {
			return usagef("unknown flag -%s: did you mean -%s? (reloadd -h lists the flags)", name, alt)
		}
		return usagef("unknown flag -%s (reloadd -h lists the flags)", name)
	}
	// "invalid value "10" for flag -debounce: a duration needs a unit ..."
	if i := strings.Index(msg, " for flag -"); strings.HasPrefix(msg, "invalid value ") && i > 0 {
		val := strings.TrimPrefix(msg[:i], "invalid value ")
		name, why, _ := strings.Cut(msg[i+len(" for flag -"):], ": ")
		return usagef("-%s %s: %s", name, val, why)
	}
	return usagef("%s (reloadd -h lists the flags)", msg)
}

// closestFlag returns the defined flag nearest to name (a typo, a missing
// or extra letter, or a prefix), or "".
func closestFlag(fs *flag.FlagSet, name string) string {
	best, bestDist := "", 3
	fs.VisitAll(func(f *flag.Flag) {
		d := editDistance(name, f.Name)
		if strings.HasPrefix(f.Name, name) && len(name) >= 3 {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = f.Name, d
		}
	})
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// versionString is the module version reloadd was built as (go install
// …@v1.2.3), else the VCS revision it was built from.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown version)"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return "(devel) " + rev
}
