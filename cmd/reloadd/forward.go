package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/reloadd/reloadd/forward"
)

// tokenEnv is the environment variable -token defaults to, on both sides.
const tokenEnv = "RELOADD_TOKEN"

const forwardUsage = `usage: reloadd forward [-to URL] [-token T] [DIR ...]

Runs on the machine where you edit (macOS, Windows, Linux) and sends the
changes under each DIR (default ".") — the host side of a folder shared
with a container or VM — to the reloadd running there, so that it needs
no polling. One connection per DIR; each DIR must be the top of a shared
folder that reloadd watches (it finds the cookie reloadd wrote there).

flags:
`

// runForward is "reloadd forward": the host agent. It returns nil after ctx
// is cancelled, a *usageError for a bad command line, or the first fatal
// error of any DIR (a wrong DIR, a daemon of another version).
func runForward(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reloadd forward", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	to := fs.String("to", forward.DefaultURL, "the reloadd to forward to: its `URL` as seen from here (the port the container publishes)")
	token := fs.String("token", "", "shared secret `T` for read-only shares, where reloadd cannot write its cookie; the same on both sides (default $"+tokenEnv+")")
	logFormat := fs.String("log", "text", "output `FORMAT`: text | json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, forwardUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return err
		}
		return flagError(fs, err)
	}
	switch *logFormat {
	case "text", "json":
	default:
		return usagef("-log %q: want text or json", *logFormat)
	}
	if *token == "" {
		*token = os.Getenv(tokenEnv)
	}
	dirs := fs.Args()
	if len(dirs) == 0 {
		dirs = []string{"."}
	}
	cwd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	out := newPrinter(stdout, *logFormat == "json", cwd)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(dirs))
	for i, dir := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := forward.RunAgent(ctx, forward.AgentOptions{URL: *to, Dir: dir, Token: *token, Print: out.event})
			if err != nil {
				errs[i] = fmt.Errorf("forward %s: %w", dir, err)
				cancel() // one DIR that cannot work stops them all: say so, exit 1
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
