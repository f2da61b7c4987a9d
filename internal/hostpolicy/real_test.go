package hostpolicy_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/reloadd/reloadd/hub"
	"github.com/reloadd/reloadd/internal/hostpolicy"
	"github.com/reloadd/reloadd/internal/testenv"
	"github.com/reloadd/reloadd/serve"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestPolicyOverARealServer runs the policy table against reloadd's real
// HTTP surface: serve.HostCheck in front of a real hub over a real server,
// with a real HTTP client and a real WebSocket client sending each row's
// Host and Origin. The page must be served or refused as the row says, the
// WebSocket accepted or refused, and an accepted one must see the build
// output only when the row says it gets the full messages.
func TestPolicyOverARealServer(t *testing.T) {
	const secret = "TOKEN=sk-live-4242"
	for _, tc := range hostpolicy.Cases {
		if tc.Host == "" {
			continue // Go's client always sends a Host; the pure test covers it
		}
		t.Run(tc.Name, func(t *testing.T) {
			h := hub.New(hub.Options{Epoch: "e", CheckOrigin: hostpolicy.New(tc.Listen, tc.Allow).CheckOrigin})
			mux := http.NewServeMux()
			mux.Handle("/_reloadd/ws", h)
			mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page")) })
			srv := httptest.NewServer(serve.HostCheck(mux, tc.Listen, tc.Allow))
			defer srv.Close()
			defer h.Close()

			req, err := http.NewRequest("GET", srv.URL+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tc.Host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if page := resp.StatusCode == http.StatusOK; page != tc.Page {
				t.Errorf("GET / with Host %q: %d, want page served %v", tc.Host, resp.StatusCode, tc.Page)
			}

			header := http.Header{"Host": {tc.Host}}
			if tc.Origin != "" {
				header.Set("Origin", tc.Origin)
			}
			conn, wsResp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/_reloadd/ws", header)
			if (err == nil) != tc.WS {
				t.Fatalf("WebSocket with Host %q, Origin %q: err %v, want accepted %v", tc.Host, tc.Origin, err, tc.WS)
			}
			if err != nil {
				if wsResp == nil || wsResp.StatusCode != http.StatusForbidden {
					t.Errorf("refused with %v, want 403", wsResp)
				}
				return
			}
			defer conn.Close()
			read := func() map[string]any {
				conn.SetReadDeadline(time.Now().Add(testenv.WaitLimit))
				var m map[string]any
				if err := conn.ReadJSON(&m); err != nil {
					t.Fatal(err)
				}
				return m
			}
			read() // hello
			testenv.Eventually(t, "the client to register", func() bool { return h.Clients() == 1 })
			h.Failed(hub.BuildFailed{Build: 1, ExitCode: 1, Output: secret})
			m := read()
			if full := m["output"] == secret; full != tc.Full {
				b, _ := json.Marshal(m)
				t.Errorf("got %s, want full messages %v", b, tc.Full)
			}
		})
	}
}
