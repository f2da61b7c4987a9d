// Command reloadd is a live-reload daemon: it watches source trees, runs a
// build, and tells every open browser to reload. It keeps working on
// filesystems where inotify is deaf (Docker and VM shared folders, NFS, SMB,
// sshfs, WSL2's /mnt/c) by falling back to content-hash polling per mount.
//
// Usage:
//
//	reloadd [flags] [DIR ...]
//
// Run "reloadd -h" for the flags. Exit status: 0 after SIGINT/SIGTERM with
// everything stopped, 2 for a bad command line, 1 for a fatal error.
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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
