package serve

import (
	"net/http"

	"github.com/reloadd/reloadd/js"
)

// testMux puts site behind the routes the tests of this package need, as
// cmd/reloadd's route table does: the client, the proxy's probe, the site.
func testMux(site http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+ClientPath, js.Handler())
	if p, ok := site.(*Proxy); ok && p != nil {
		mux.HandleFunc("GET "+UpstreamPath, p.ServeProbe)
	}
	if site != nil {
		mux.Handle("/", site)
	}
	return mux
}
