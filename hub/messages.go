package hub

import (
	"encoding/json"
	"path/filepath"
	"strconv"
)

// Server → client messages, one JSON object per WebSocket frame, with the
// field names of the wire contract in docs/DESIGN.md. Each type writes its
// own "type" field when encoded (its MarshalJSON), so no caller can get it
// wrong; the hub's methods ([Hub.Start], [Hub.Complete], [Hub.Failed]) are
// the only way to send them.

// Hello is sent to every client when it connects.
type Hello struct {
	Epoch string `json:"epoch"`
	Build int64  `json:"build"`
}

// BuildStart announces that build N started.
type BuildStart struct {
	Build int64    `json:"build"`
	Paths []string `json:"paths"`
}

// BuildComplete announces that build N succeeded, and what browsers do
// about it (Action): reload the page, swap stylesheets and images in
// place, or nothing.
type BuildComplete struct {
	Build int64    `json:"build"`
	Paths []string `json:"paths"` // absolute paths of the changed files
	// URLs are the site paths of the served files whose content changed;
	// with ActionSwap, its stylesheets and images are swapped where the
	// page's URLs have the same path.
	URLs []string `json:"urls"`
	// Action is ActionReload, ActionSwap or ActionNone; "" is sent as
	// ActionSwap when CSSOnly, else ActionReload.
	Action string `json:"action"`
	// Names, with ActionSwap when the site paths are not known (a proxied
	// app), are file names ("app.css") matched against the last segment
	// of the page's stylesheet and image URLs; a stylesheet name that
	// matches nothing swaps every stylesheet of the page's origin.
	Names []string `json:"names,omitempty"`
	// CSSOnly is Action == ActionSwap with stylesheets only (kept for
	// clients written before Action).
	CSSOnly   bool  `json:"css_only"`
	ChangedAt int64 `json:"changed_at"` // unix milliseconds
}

// What browsers do after a build (BuildComplete.Action).
const (
	// ActionReload reloads the page.
	ActionReload = "reload"
	// ActionSwap swaps the changed stylesheets and images in place
	// (URLs, or Names); the page reloads only if one cannot be found.
	ActionSwap = "swap"
	// ActionNone does nothing: no file a browser can see changed. The
	// client still takes the build id, and a failure overlay goes away.
	ActionNone = "none"
)

// BuildFailed announces that build N failed; browsers show the output.
type BuildFailed struct {
	Build    int64  `json:"build"`
	ExitCode int    `json:"exit_code"`
	Output   string `json:"output"`
	// Stage is what failed: StageBuild (the -build command; "" means it
	// too) or StageApp (the -run app: it did not start, or it exited).
	Stage string `json:"stage,omitempty"`
}

// BuildFailed stages.
const (
	StageBuild = "build"
	StageApp   = "app"
)

// Message type names.
const (
	TypeHello         = "hello"
	TypeBuildStart    = "build_start"
	TypeBuildComplete = "build_complete"
	TypeBuildFailed   = "build_failed"
	TypeReloaded      = "reloaded"
)

// MarshalJSON encodes m with "type":"hello".
func (m Hello) MarshalJSON() ([]byte, error) {
	type plain Hello
	return json.Marshal(struct {
		Type string `json:"type"`
		plain
	}{TypeHello, plain(m)})
}

// MarshalJSON encodes m with "type":"build_start"; nil Paths are [].
func (m BuildStart) MarshalJSON() ([]byte, error) {
	type plain BuildStart
	m.Paths = nonNil(m.Paths)
	return json.Marshal(struct {
		Type string `json:"type"`
		plain
	}{TypeBuildStart, plain(m)})
}

// MarshalJSON encodes m with "type":"build_complete"; nil Paths and URLs
// are [], and an empty Action is the one CSSOnly implies.
func (m BuildComplete) MarshalJSON() ([]byte, error) {
	type plain BuildComplete
	m.Paths, m.URLs, m.Action = nonNil(m.Paths), nonNil(m.URLs), m.action()
	return json.Marshal(struct {
		Type string `json:"type"`
		plain
	}{TypeBuildComplete, plain(m)})
}

// MarshalJSON encodes m with "type":"build_failed".
func (m BuildFailed) MarshalJSON() ([]byte, error) {
	type plain BuildFailed
	return json.Marshal(struct {
		Type string `json:"type"`
		plain
	}{TypeBuildFailed, plain(m)})
}

// action is m.Action, or for an empty one the action CSSOnly implies.
func (m BuildComplete) action() string {
	switch {
	case m.Action != "":
		return m.Action
	case m.CSSOnly:
		return ActionSwap
	}
	return ActionReload
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Reloaded is what a client reports after the page it reloaded has loaded,
// or after it swapped stylesheets or images in place. Times are milliseconds
// since the change was first seen (changed_at); zero when unknown.
//
// The browser measures them with its own clock, which on another device can
// be off by seconds. So the client also reports Received, when the
// build_complete arrived, and the hub re-bases the other times on its own
// clock before passing the report on: the part from changed_at until the
// message was sent is the server's measurement, the part after it the
// browser's (both clocks agree on durations). Received is then the server's
// figure for changed_at → sent.
//
// The hub passes a report on only when it is believable: see
// [Options.OnReloaded].
type Reloaded struct {
	Type             string  `json:"type"` // "reloaded"
	Build            int64   `json:"build"`
	NavigationStart  float64 `json:"navigation_start"`
	DOMContentLoaded float64 `json:"dom_content_loaded"`
	Load             float64 `json:"load"`
	Received         float64 `json:"received,omitempty"`
	CSSSwap          bool    `json:"css_swap,omitempty"`
	ImgSwap          bool    `json:"img_swap,omitempty"`
}

// What a client from another origin is sent instead (see [view]): the
// pages reloadd serves get everything; a page on another origin the policy
// allows (another localhost port, an -allow-host name on another port, a
// browser extension) gets what it needs to reload and swap, and nothing a
// build log or the file system would tell it.

// hiddenOutput replaces build_failed's output for other origins. Build
// output often holds secrets (tokens in a failing curl, environment dumps),
// and a page on another port is not necessarily the user's.
const hiddenOutput = "reloadd: the build output is hidden from pages that reloadd does not serve " +
	"(this page's origin is not reloadd's address). It is on reloadd's terminal, and on pages opened through reloadd."

// names replaces absolute paths by their file names: as many as before (the
// client compares the count with urls'), and no directories, so no user
// names, home directories or project layout.
func names(paths []string) []string {
	if paths == nil {
		return nil
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		if p != "" {
			out[i] = filepath.Base(p)
		}
	}
	return out
}

func (m BuildStart) forOthers() BuildStart {
	m.Paths = names(m.Paths)
	return m
}

func (m BuildComplete) forOthers() BuildComplete {
	m.Paths = names(m.Paths)
	return m
}

func (m BuildFailed) forOthers() BuildFailed {
	m.Output = hiddenOutput
	return m
}

// exitNote is the "(exit N)" of a failure line, or "".
func exitNote(code int) string {
	if code == 0 {
		return ""
	}
	return " (exit " + strconv.Itoa(code) + ")"
}
