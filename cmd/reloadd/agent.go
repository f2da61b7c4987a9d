package main

import (
	"net/http"
	"os"

	"github.com/reloadd/reloadd/forward"
)

// The daemon's side of reloadd forward: the agent endpoint at
// /_reloadd/agent (package forward), which keeps a cookie in every polled
// mount and switches a mount to forward mode while an authenticated agent
// serves it.

// agentEndpoint starts the endpoint for the daemon's watcher (d.watch, set
// by newBackend) and returns it as the route's handler; closeAgents stops
// it.
func (d *daemon) agentEndpoint() http.Handler {
	token := d.cfg.token
	if token == "" {
		token = os.Getenv(tokenEnv)
	}
	var visible []string
	if d.cfg.build == "" && d.site != "" {
		visible = append(visible, d.site) // as newDaemon's KeepVisible
	}
	d.agents = forward.NewServer(forward.ServerOptions{
		Target:    d.watch,
		Token:     token,
		Epoch:     d.epoch,
		GitIgnore: d.cfg.gitignore,
		Visible:   visible,
		Print:     d.out.event,
	})
	return d.agents
}

// closeAgents ends every agent connection (polling resumes) and removes the
// cookies. It is idempotent.
func (d *daemon) closeAgents() {
	if d.agents != nil {
		d.agents.Close()
	}
}
