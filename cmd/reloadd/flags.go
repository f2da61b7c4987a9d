package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
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
	gitignore    bool
	onBusy       debounce.Policy
	grace        time.Duration
	buildTimeout time.Duration
	allowHosts   []string
	logFormat    string
	check        bool
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

const usageText = `usage: reloadd [flags] [DIR ...]

Watches DIRs (default "."), runs -build after changes, and reloads every
browser that has the page open. Serves the first DIR (or -serve DIR, or
proxies -proxy URL) at -addr with the reload client injected.

flags:
`

// parseFlags parses args (without the program name). Help output and flag
// errors go to stderr.
func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("reloadd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	var proxy, onBusy string
	var ignores, allow listFlag
	fs.StringVar(&c.serve, "serve", "", "serve `DIR` with the client injected (default: the first watched DIR, unless -proxy)")
	fs.StringVar(&proxy, "proxy", "", "reverse-proxy to `URL` instead, injecting the client into HTML responses")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:35729", "listen address `HOST:PORT`")
	fs.StringVar(&c.build, "build", "", "shell `CMD` run after changes; browsers reload after it succeeds")
	fs.StringVar(&c.run, "run", "", "long-running `CMD`, restarted after each successful build")
	fs.StringVar(&c.watch, "watch", "auto", "watch `MODE`: auto | native | poll | hybrid")
	fs.DurationVar(&c.pollInterval, "poll-interval", 100*time.Millisecond, "how often recently changed files are checked")
	fs.DurationVar(&c.debounce, "debounce", debounce.DefaultSettle, "fixed settle window before a build starts (0: at once); unset: 10ms, ended 1ms after every changed file is complete")
	fs.Var(&ignores, "ignore", "gitignore-style `PATTERN` to ignore (repeatable)")
	fs.BoolVar(&c.gitignore, "gitignore", true, "honour the .gitignore files in watched directories (-gitignore=false: don't)")
	fs.StringVar(&onBusy, "on-busy", "queue", "what a change does while a build runs: queue | restart")
	fs.DurationVar(&c.grace, "grace", 3*time.Second, "how long -run's process group gets after SIGTERM before SIGKILL")
	fs.DurationVar(&c.buildTimeout, "build-timeout", 0, "kill a build that runs longer (0: none)")
	fs.Var(&allow, "allow-host", "also accept this Host/Origin `NAME` (repeatable), for use from other devices")
	fs.StringVar(&c.logFormat, "log", "text", "output `FORMAT`: text | json")
	fs.BoolVar(&c.check, "check", false, "print, per watched mount, the filesystem, the chosen mode and why; then exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &usageError{err.Error()}
	}
	fs.Visit(func(f *flag.Flag) { c.debounceSet = c.debounceSet || f.Name == "debounce" })
	c.dirs = fs.Args()
	if len(c.dirs) == 0 {
		c.dirs = []string{"."}
	}
	c.ignores = ignores
	c.allowHosts = allow

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
