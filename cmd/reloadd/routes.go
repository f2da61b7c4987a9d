package main

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/reloadd/reloadd/dash"
	"github.com/reloadd/reloadd/forward"
	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/js"
	"github.com/reloadd/reloadd/serve"
)

// route is one entry of reloadd's HTTP surface.
type route struct {
	pattern string // http.ServeMux pattern
	handler http.Handler
}

// routes is reloadd's whole HTTP surface, in one table. Everything is
// behind the Host check (DNS-rebinding defence); no route sends
// Access-Control-Allow-Origin.
func (d *daemon) routes() []route {
	rs := []route{
		// reloadd's own client, for the pages it serves.
		{"GET " + serve.ClientPath, js.Handler()},
		// reloadd's WebSocket: build messages out, timing reports in.
		{serve.WSPath, d.hub},
		// What reloadd is doing, as JSON, and as a page (live over the
		// WebSocket, as a dashboard client: /_reloadd/ws?dashboard=1).
		{"GET " + serve.StatusPath, http.HandlerFunc(d.serveStatus)},
		{"GET " + dashboardPath + "{$}", dash.Handler()},
		{"GET " + strings.TrimSuffix(dashboardPath, "/"), http.RedirectHandler(dashboardPath, http.StatusFound)},
		// Pages written for LiveReload: its protocol, and reloadd's client
		// under the script name they load.
		{hub.LiveReloadPath, d.hub.LiveReload()},
		{"GET /livereload.js", js.Handler()},
		// Host agents (reloadd forward): change records from the machine
		// where the user edits, for the mounts reloadd would poll.
		{forward.Path, d.agents},
	}
	if p, ok := d.site.(*serve.Proxy); ok {
		// The waiting page polls this to reload when the app is back.
		rs = append(rs, route{"GET " + serve.UpstreamPath, http.HandlerFunc(p.ServeProbe)})
	}
	// Everything else is the site: static files or the proxied app.
	return append(rs, route{"/", d.site})
}

// dashboardPath is the dashboard's page.
const dashboardPath = "/_reloadd/"

// handler builds the mux from routes, behind the Host check.
func (d *daemon) handler() http.Handler {
	mux := http.NewServeMux()
	for _, r := range d.routes() {
		mux.Handle(r.pattern, r.handler)
	}
	return serve.HostCheck(mux, d.cfg.addr, d.cfg.allowHosts)
}

func (d *daemon) serveStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d.status()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
