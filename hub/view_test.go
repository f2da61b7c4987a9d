package hub

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/reloadd/reloadd/internal/testenv"
)

// readRaw reads one frame as it came over the wire.
func readRaw(t *testing.T, c *websocket.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return data
}

// TestOtherOriginsGetNoBuildOutputNorPaths: issue 13 — any page on another
// localhost port could read build_failed.output (build logs hold secrets)
// and the absolute paths of the changed files. Real clients with chosen
// Origin headers against a real hub over a real server: the page reloadd
// serves and a local program get everything; another port's page, and a
// browser extension on /livereload, get the notice and file names.
func TestOtherOriginsGetNoBuildOutputNorPaths(t *testing.T) {
	h, srv := newServer(t, Options{})
	own := "http://" + srv.Listener.Addr().String() // the request's own Host
	const secret = "API_TOKEN=sk-live-4242"
	const home = "/home/alice/work/shop"
	type native struct {
		name string
		conn *websocket.Conn
		full bool
	}
	var clients []native
	for _, c := range []struct {
		name, origin string
		full         bool
	}{
		{"local program (no Origin)", "", true},
		{"page reloadd serves", own, true},
		{"page on another localhost port", "http://localhost:1313", false},
		{"page on reloadd's address, another port", "http://127.0.0.1:1", false},
	} {
		var header http.Header
		if c.origin != "" {
			header = http.Header{"Origin": {c.origin}}
		}
		conn := dial(t, srv, header)
		readJSON(t, conn) // hello
		clients = append(clients, native{name: c.name, conn: conn, full: c.full})
	}
	lrOwn := dialLiveReloadFrom(t, srv.URL, h, own)
	lrOther := dialLiveReloadFrom(t, srv.URL, h, "http://localhost:1313")
	lrExt := dialLiveReloadFrom(t, srv.URL, h, "chrome-extension://jnihajbhpnppcggbcgedagnkighmdlei")
	waitClients(t, h, len(clients)+3)

	paths := []string{home + "/src/index.html", home + "/src/css/site.css"}
	h.Start(1, paths)
	h.Complete(BuildComplete{Build: 1, Paths: paths, URLs: []string{"/index.html", "/css/site.css"}, ChangedAt: 1})
	h.Complete(BuildComplete{Build: 2, Paths: []string{home + "/main.go"}})
	h.Failed(BuildFailed{Build: 3, ExitCode: 2, Output: "curl: (22) 401 for " + secret + "\n" + home + "/deploy.sh: line 3"})

	for _, c := range clients {
		var raw []string
		msgs := make([]map[string]any, 4)
		for i := range msgs {
			b := readRaw(t, c.conn)
			raw = append(raw, string(b))
			if err := json.Unmarshal(b, &msgs[i]); err != nil {
				t.Fatal(err)
			}
		}
		start, done, done2, failed := msgs[0], msgs[1], msgs[2], msgs[3]
		if start["type"] != TypeBuildStart || done["type"] != TypeBuildComplete || done2["type"] != TypeBuildComplete || failed["type"] != TypeBuildFailed {
			t.Fatalf("%s: got %v", c.name, raw)
		}
		// Everyone: build ids, exit code, urls — enough to reload and swap.
		if done["build"] != float64(1) || !reflect.DeepEqual(done["urls"], []any{"/index.html", "/css/site.css"}) ||
			failed["build"] != float64(3) || failed["exit_code"] != float64(2) {
			t.Errorf("%s: %v / %v", c.name, done, failed)
		}
		all := strings.Join(raw, "\n")
		if c.full {
			if !reflect.DeepEqual(done["paths"], []any{paths[0], paths[1]}) || !reflect.DeepEqual(start["paths"], done["paths"]) ||
				!strings.Contains(failed["output"].(string), secret) {
				t.Errorf("%s: not the full messages: %s", c.name, all)
			}
			continue
		}
		if strings.Contains(all, secret) || strings.Contains(all, home) || strings.Contains(all, "/home/") {
			t.Errorf("%s was sent build output or absolute paths:\n%s", c.name, all)
		}
		if !reflect.DeepEqual(done["paths"], []any{"index.html", "site.css"}) || !reflect.DeepEqual(start["paths"], done["paths"]) ||
			!reflect.DeepEqual(done2["paths"], []any{"main.go"}) {
			t.Errorf("%s: paths %v, %v; want the file names, as many as before", c.name, start["paths"], done2["paths"])
		}
		if failed["output"] != hiddenOutput {
			t.Errorf("%s: output %q, want the notice", c.name, failed["output"])
		}
	}

	// LiveReload: the same rule, in reload paths and the alert.
	for _, c := range []struct {
		name string
		conn *websocket.Conn
		full bool
	}{{"livereload.js on a page reloadd serves", lrOwn, true}, {"livereload.js on another port", lrOther, false}, {"a browser extension", lrExt, false}} {
		var raw []string
		for range 3 {
			raw = append(raw, string(readRaw(t, c.conn)))
		}
		all := strings.Join(raw, "\n")
		var reload1, reload2, alert map[string]any
		json.Unmarshal([]byte(raw[0]), &reload1)
		json.Unmarshal([]byte(raw[1]), &reload2)
		json.Unmarshal([]byte(raw[2]), &alert)
		if reload1["command"] != "reload" || reload1["path"] != "/index.html" || alert["command"] != "alert" {
			t.Errorf("%s: %s", c.name, all)
		}
		if c.full {
			if reload2["path"] != home+"/main.go" || !strings.Contains(alert["message"].(string), secret) {
				t.Errorf("%s: not the full commands: %s", c.name, all)
			}
			continue
		}
		if strings.Contains(all, secret) || strings.Contains(all, "/home/") {
			t.Errorf("%s was sent build output or absolute paths:\n%s", c.name, all)
		}
		if reload2["path"] != "main.go" || !strings.Contains(alert["message"].(string), "build failed (exit 2)") ||
			!strings.Contains(alert["message"].(string), "hidden") {
			t.Errorf("%s: %s", c.name, all)
		}
	}
}
