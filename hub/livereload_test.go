package hub

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

const protocolV6 = "http://livereload.com/protocols/official-6"

// dialLiveReload connects to /livereload and completes the handshake as
// livereload.js does.
func dialLiveReload(t *testing.T, srvURL string, h *Hub) *websocket.Conn {
	t.Helper()
	return dialLiveReloadFrom(t, srvURL, h, "")
}

// dialLiveReloadFrom is dialLiveReload with an Origin header ("" for none).
func dialLiveReloadFrom(t *testing.T, srvURL string, h *Hub, origin string) *websocket.Conn {
	t.Helper()
	before := h.Clients()
	var header http.Header
	if origin != "" {
		header = http.Header{"Origin": {origin}}
	}
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srvURL, "http")+LiveReloadPath, header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.WriteJSON(map[string]any{"command": "hello", "protocols": []string{protocolV6, ProtocolV7}, "ver": "4.0.2"})
	m := readJSON(t, c)
	if m["command"] != "hello" || m["serverName"] != "reloadd" ||
		!reflect.DeepEqual(m["protocols"], []any{ProtocolV7}) {
		t.Fatalf("server hello = %v", m)
	}
	c.WriteJSON(map[string]any{"command": "info", "plugins": map[string]any{}, "url": "http://localhost/"})
	waitClients(t, h, before+1)
	return c
}

func TestLiveReloadProtocol(t *testing.T) {
	h, srv := newServer(t, Options{})
	lr := dialLiveReload(t, srv.URL, h)
	native := dial(t, srv, nil)
	readJSON(t, native)
	waitClients(t, h, 2)

	// build_start means nothing in LiveReload: the next thing lr sees is
	// the reload.
	h.Start(1, nil)
	h.Complete(BuildComplete{Build: 1, Action: ActionSwap,
		Paths: []string{"/s/css/a.css", "/s/img/b.png"}, URLs: []string{"/css/a.css", "/img/b.png"}})
	for _, want := range []string{"/css/a.css", "/img/b.png"} {
		m := readJSON(t, lr)
		if m["command"] != "reload" || m["path"] != want || m["liveCSS"] != true || m["liveImg"] != true {
			t.Errorf("got %v, want a live reload of %s", m, want)
		}
	}
	// A build that changed nothing visible sends LiveReload nothing: the
	// next thing lr sees is build 2's reload.
	h.Complete(BuildComplete{Build: 2, Paths: []string{"/src/a.scss"}, URLs: []string{}, Action: ActionNone})
	h.Complete(BuildComplete{Build: 3, Paths: []string{"/s/index.html"}, URLs: []string{"/index.html"}, Action: ActionReload})
	if m := readJSON(t, lr); m["command"] != "reload" || m["path"] != "/index.html" || m["liveCSS"] != false {
		t.Errorf("got %v, want a page reload", m)
	}
	h.Failed(BuildFailed{Build: 4, ExitCode: 1, Output: "main.go:3: syntax error\n"})
	if m := readJSON(t, lr); m["command"] != "alert" || !strings.Contains(m["message"].(string), "main.go:3: syntax error") {
		t.Errorf("got %v, want an alert", m)
	}
	// The reloadd client saw its own protocol throughout.
	for _, want := range []string{TypeBuildStart, TypeBuildComplete, TypeBuildComplete, TypeBuildComplete, TypeBuildFailed} {
		if m := readJSON(t, native); m["type"] != want {
			t.Errorf("native client got %v, want %s", m, want)
		}
	}

	// A LiveReload client connecting while the build is broken gets no
	// alert (it would pop up on every page load), just the next reload.
	lr2 := dialLiveReload(t, srv.URL, h)
	h.Complete(BuildComplete{Build: 5, Paths: []string{"/s/x.js"}, URLs: []string{"/x.js"}, Action: ActionReload})
	if m := readJSON(t, lr2); m["command"] != "reload" || m["path"] != "/x.js" {
		t.Errorf("got %v, want the reload", m)
	}
}

func TestLiveReloadRefusesOtherHandshakes(t *testing.T) {
	h, srv := newServer(t, Options{})
	for _, hello := range []string{
		`{"command":"hello","protocols":["` + protocolV6 + `"]}`,
		`{"command":"hello","protocols":[]}`,
		`{"command":"info"}`,
		`!!ver:1.6`,
		`{`,
	} {
		c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+LiveReloadPath, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.WriteMessage(websocket.TextMessage, []byte(hello))
		_, _, err = c.ReadMessage()
		if !websocket.IsCloseError(err, websocket.CloseProtocolError) {
			t.Errorf("hello %s: %v, want a protocol-error close", hello, err)
		}
		c.Close()
	}
	if n := h.Clients(); n != 0 {
		t.Errorf("clients = %d after refused handshakes", n)
	}
}

func TestLiveReloadCommands(t *testing.T) {
	many := make([]string, maxLiveReloadCommands+1)
	for i := range many {
		many[i] = "/c" + strings.Repeat("x", i) + ".css"
	}
	tests := []struct {
		name string
		in   BuildComplete
		want []LiveReloadReload
	}{
		{"stylesheet", BuildComplete{Paths: []string{"/s/a.css"}, URLs: []string{"/a.css"}, Action: ActionSwap, CSSOnly: true},
			[]LiveReloadReload{{"reload", "/a.css", true, true}}},
		{"images and stylesheets", BuildComplete{Paths: []string{"/s/a.PNG", "/s/b.css"}, URLs: []string{"/a.PNG", "/b.css"}, Action: ActionSwap},
			[]LiveReloadReload{{"reload", "/a.PNG", true, true}, {"reload", "/b.css", true, true}}},
		{"a stylesheet and its source map", BuildComplete{Paths: []string{"/src/a.scss"}, URLs: []string{"/a.css", "/a.css.map"}, Action: ActionSwap},
			[]LiveReloadReload{{"reload", "/a.css", true, true}}},
		{"by file name (proxy)", BuildComplete{Paths: []string{"/app/static/app.css"}, URLs: []string{}, Names: []string{"app.css"}, Action: ActionSwap},
			[]LiveReloadReload{{"reload", "app.css", true, true}}},
		{"a page among them", BuildComplete{Paths: []string{"/s/a.css", "/s/i.html"}, URLs: []string{"/a.css", "/i.html"}, Action: ActionReload},
			[]LiveReloadReload{{"reload", "/i.html", false, false}}},
		{"reload, proxy: no urls", BuildComplete{Paths: []string{"/src/a.css", "/src/main.go"}, URLs: []string{}, Action: ActionReload},
			[]LiveReloadReload{{"reload", "/src/main.go", false, false}}},
		{"reload of a stylesheet alone must not swap it", BuildComplete{URLs: []string{"/a.css"}, Action: ActionReload},
			[]LiveReloadReload{{"reload", "/", false, false}}},
		{"nothing visible changed", BuildComplete{Paths: []string{"/src/a.scss"}, URLs: []string{}, Action: ActionNone}, nil},
		{"empty build", BuildComplete{},
			[]LiveReloadReload{{"reload", "/", false, false}}},
		{"too many", BuildComplete{Paths: many, URLs: many, Action: ActionSwap},
			[]LiveReloadReload{{"reload", "/", false, false}}},
	}
	for _, tc := range tests {
		if got := liveReloadCommands(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestLiveReloadAlertKeepsTheTail(t *testing.T) {
	out := strings.Repeat("é", 3000) + "the error"
	a := liveReloadAlert(BuildFailed{ExitCode: 2, Output: out})
	if !strings.HasPrefix(a.Message, "reloadd: build failed (exit 2)") || !strings.HasSuffix(a.Message, "the error") {
		t.Errorf("message = %.80q…", a.Message)
	}
	if !utf8.ValidString(a.Message) || len(a.Message) > 2100 {
		t.Errorf("message is %d bytes, valid UTF-8: %v", len(a.Message), utf8.ValidString(a.Message))
	}
	if a := liveReloadAlert(BuildFailed{}); a.Message != "reloadd: build failed" {
		t.Errorf("empty failure: %q", a.Message)
	}
}
