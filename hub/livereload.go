package hub

import (
	"encoding/json"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// The LiveReload protocol v7, as livereload-js 4 and the LiveReload browser
// extensions speak it (http://livereload.com/protocols/official-7):
//
//	client → server  {"command":"hello","protocols":[".../official-6", ".../official-7"], ...}
//	server → client  {"command":"hello","protocols":[".../official-7"],"serverName":"reloadd"}
//	client → server  {"command":"info", ...}                      (ignored)
//	server → client  {"command":"reload","path":"/css/site.css","liveCSS":true,"liveImg":true}
//	server → client  {"command":"alert","message":"..."}
//
// After the handshake a v7 client accepts only reload and alert; anything
// else is a protocol error that makes it disconnect, so nothing else is ever
// sent to one.

// LiveReloadPath is where the LiveReload protocol is served.
const LiveReloadPath = "/livereload"

// ProtocolV7 is the LiveReload protocol reloadd speaks.
const ProtocolV7 = "http://livereload.com/protocols/official-7"

// maxLiveReloadCommands caps the reload commands sent for one build: beyond
// it, one full-page reload is cheaper than swapping each file, and the
// commands must fit the send queue.
const maxLiveReloadCommands = 16

// liveReloadHello is the client's and the server's handshake message.
type liveReloadHello struct {
	Command    string   `json:"command"` // "hello"
	Protocols  []string `json:"protocols"`
	ServerName string   `json:"serverName,omitempty"`
}

// LiveReloadReload is the reload command.
type LiveReloadReload struct {
	Command string `json:"command"` // "reload"
	Path    string `json:"path"`
	LiveCSS bool   `json:"liveCSS"`
	LiveImg bool   `json:"liveImg"`
}

// LiveReloadAlert is the alert command; livereload.js shows it with
// window.alert.
type LiveReloadAlert struct {
	Command string `json:"command"` // "alert"
	Message string `json:"message"`
}

// liveReloadHandshake reads the client's hello and queues the server's. It
// reports false when the client does not speak v7 (it has then been sent a
// close frame).
func (h *Hub) liveReloadHandshake(c *client) bool {
	c.conn.SetReadDeadline(time.Now().Add(handshakeWait))
	typ, data, err := c.conn.ReadMessage()
	if err != nil {
		return false
	}
	var hello liveReloadHello
	if typ != websocket.TextMessage || json.Unmarshal(data, &hello) != nil ||
		hello.Command != "hello" || !slices.Contains(hello.Protocols, ProtocolV7) {
		c.conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseProtocolError, "reloadd speaks LiveReload protocol official-7 only"),
			time.Now().Add(h.opts.WriteTimeout))
		return false
	}
	c.send <- mustPrepare(liveReloadHello{Command: "hello", Protocols: []string{ProtocolV7}, ServerName: "reloadd"})
	return true
}

// liveReloadCommands translates a build_complete: nothing for
// ActionNone; for ActionSwap one reload per stylesheet or image (its site
// path, or its file name, which livereload.js matches against the end of
// the page's URLs and, for a stylesheet that matches nothing, answers by
// reloading every stylesheet) with liveCSS and liveImg, so that
// livereload.js swaps them in place; otherwise one reload of the page.
func liveReloadCommands(m BuildComplete) []LiveReloadReload {
	switch m.action() {
	case ActionNone:
		return nil
	case ActionSwap:
		assets := m.URLs
		if len(m.Names) > 0 {
			assets = m.Names
		}
		var cmds []LiveReloadReload
		for _, u := range assets {
			if IsStylesheet(u) || IsImage(u) {
				cmds = append(cmds, LiveReloadReload{Command: "reload", Path: u, LiveCSS: true, LiveImg: true})
			}
		}
		if len(cmds) > 0 && len(cmds) <= maxLiveReloadCommands {
			return cmds
		}
	}
	// A path livereload.js cannot match as a stylesheet or image makes it
	// reload the page: a changed page's URL, else a changed file's path,
	// else "/" (never a stylesheet's, which it would swap instead).
	for _, list := range [][]string{m.URLs, m.Paths} {
		for _, u := range list {
			if !IsStylesheet(u) && !IsImage(u) {
				return []LiveReloadReload{{Command: "reload", Path: u}}
			}
		}
	}
	return []LiveReloadReload{{Command: "reload", Path: "/"}}
}

// liveReloadAlert translates a build_failed. The output's tail is kept:
// alert boxes are small, and the error is usually last.
func liveReloadAlert(m BuildFailed) LiveReloadAlert {
	const keep = 2000
	out := strings.TrimSpace(m.Output)
	if len(out) > keep {
		out = "…" + strings.ToValidUTF8(out[len(out)-keep:], "")
	}
	msg := "reloadd: build failed" + exitNote(m.ExitCode)
	if out != "" {
		msg += "\n\n" + out
	}
	return LiveReloadAlert{Command: "alert", Message: msg}
}

// IsStylesheet reports whether a URL path names a stylesheet.
func IsStylesheet(u string) bool {
	return strings.EqualFold(path.Ext(stripQuery(u)), ".css")
}

// IsImage reports whether a URL path names an image a page shows with <img>
// or a CSS url() (the extensions livereload.js swaps live).
func IsImage(u string) bool {
	switch strings.ToLower(path.Ext(stripQuery(u))) {
	case ".png", ".jpg", ".jpeg", ".gif", ".webp", ".avif", ".svg", ".ico", ".bmp":
		return true
	}
	return false
}

func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}
