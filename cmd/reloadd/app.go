package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/reloadd/reloadd/build"
	"github.com/reloadd/reloadd/hub"
)

// readyTimeout bounds the wait for the -run app to accept connections at
// the -proxy address before a build is announced (a variable so that tests
// can shorten it).
var readyTimeout = build.DefaultReadyTimeout

// proxyDialAddr is the host:port the -run app must accept connections at:
// the -proxy URL's, with the scheme's default port.
func proxyDialAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// appOutcome is what restarting the app after a successful build led to.
type appOutcome struct {
	ready     time.Duration // from start to accepting connections (with -proxy)
	cancelled bool          // ctx ended the wait: the build does not count
	failed    bool
	exitCode  int
	output    string // for build_failed: what went wrong, then the app's output
	reason    string // one line for the terminal
}

// restartApp (re)starts the -run app after a successful build and, with
// -proxy, waits until it accepts connections, so that the browser reloads
// into a running app. Called from the build loop only.
func (d *daemon) restartApp(ctx context.Context) appOutcome {
	start := time.Now()
	if err := d.app.Start(); err != nil {
		return appOutcome{failed: true, exitCode: -1, reason: err.Error(), output: note(err.Error(), "")}
	}
	if d.cfg.proxy == nil {
		return appOutcome{}
	}
	addr := proxyDialAddr(d.cfg.proxy)
	err := d.app.WaitReady(ctx, addr, readyTimeout)
	var ee *build.ExitError
	switch {
	case err == nil:
		return appOutcome{ready: time.Since(start)}
	case ctx.Err() != nil:
		return appOutcome{cancelled: true}
	case errors.As(err, &ee):
		d.appOut.flush()
		why := fmt.Sprintf("the app exited before accepting connections at %s (%s)", addr, ee.Exit.Reason)
		return appOutcome{failed: true, exitCode: ee.Exit.ExitCode, reason: why, output: note(why, ee.Exit.Output)}
	default:
		why := fmt.Sprintf("the app did not accept connections at %s within %v", addr, readyTimeout)
		return appOutcome{failed: true, exitCode: -1, reason: why, output: note(why, d.app.Output())}
	}
}

// appExited reports a crash of the -run app: once on the terminal and once
// to the browsers, as build_failed with its last output. The app stays down
// until the next successful build (no restart loop that repeats the same
// crash). Called from the build loop only.
func (d *daemon) appExited() {
	ex := d.app.Reap()
	d.appOut.flush()
	why := "the app exited (" + ex.Reason + ")"
	id := d.hub.Build()
	n, _ := d.hub.Failed(hub.BuildFailed{Build: id, ExitCode: ex.ExitCode, Output: note(why, ex.Output)})
	d.out.event("app_exited", fmt.Sprintf("app  %s; it restarts after the next successful build  %d %s", why, n, plural(n, "client")),
		map[string]any{"build": id, "exit_code": ex.ExitCode, "reason": ex.Reason, "clients": n})
}

// note puts reloadd's one-line explanation above a command's output for the
// browser's overlay, keeping the total within the 64 KiB build_failed
// carries (the front of the output gives way).
func note(why, output string) string {
	head := "reloadd: " + why + "\n"
	if output == "" {
		return head
	}
	head += "\n"
	if room := build.DefaultTailSize - len(head); len(output) > room {
		output = output[len(output)-room:]
		for len(output) > 0 && !utf8.RuneStart(output[0]) {
			output = output[1:]
		}
	}
	return head + output
}
