package main

import (
	"os"

	"github.com/reloadd/reloadd/forward"
)

// The daemon's side of reloadd forward: the agent endpoint at
// /_reloadd/agent (package forward), which keeps a cookie in every polled
// mount and switches a mount to forward mode while an authenticated agent
// serves it.

// newAgents starts the endpoint for the daemon's watcher: it writes the
// cookies into the polled mounts at once. Its Close ends every agent
// connection (polling resumes) and removes the cookies.
func (d *daemon) newAgents() *forward.Server {
	token := d.cfg.token
	if token == "" {
		token = os.Getenv(tokenEnv)
	}
	var visible []string
	if d.cfg.build == "" && d.served != "" {
		visible = append(visible, d.served) // as newLayout's KeepVisible
	}
	return forward.NewServer(forward.ServerOptions{
		Target:    d.watch,
		Token:     token,
		Epoch:     d.epoch,
		GitIgnore: d.cfg.gitignore,
		Visible:   visible,
		Print:     d.out.event,
	})
}
