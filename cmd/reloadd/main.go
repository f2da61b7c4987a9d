// Command reloadd is a live-reload daemon: it watches source trees, runs a
// build, and tells every open browser to reload. It keeps working on
// filesystems where inotify is deaf (Docker and VM shared folders, NFS, SMB,
// sshfs, WSL2's /mnt/c) by falling back to content-hash polling per mount.
//
// Usage:
//
//	reloadd [flags] [DIR ...]
//
// Run "reloadd -h" for the flags, and see docs/DESIGN.md for the whole
// contract. Exit status: 0 after SIGINT, SIGTERM or SIGHUP with everything
// stopped, 2 for a bad command line, 1 for a fatal error.
//
// The package is wiring only: daemon.go builds the pipeline (watcher →
// debounce queue → build → hub) in one place, pipeline.go runs it,
// announce.go says what happened (browsers, terminal, status), routes.go
// is the HTTP surface.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// stopSignals end reloadd cleanly. SIGHUP is among them: closing the
// terminal must stop the -run app and the builds too, not orphan them.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err))
}

// exitCode maps run's result to the exit status, printing the reason.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "reloadd: %v\n", err)
		return 2
	default:
		fmt.Fprintf(os.Stderr, "reloadd: %v\n", err)
		return 1
	}
}
