package hub

// Server → client messages, one JSON object per WebSocket frame. The field
// names are the wire contract in docs/DESIGN.md.

// Hello is sent to every client when it connects.
type Hello struct {
	Type  string `json:"type"` // "hello"
	Epoch string `json:"epoch"`
	Build int64  `json:"build"`
}

// BuildStart announces that build N started.
type BuildStart struct {
	Type  string   `json:"type"` // "build_start"
	Build int64    `json:"build"`
	Paths []string `json:"paths"`
}

// BuildComplete announces that build N succeeded, and what browsers do
// about it (Action): reload the page, swap stylesheets and images in
// place, or nothing.
type BuildComplete struct {
	Type  string   `json:"type"` // "build_complete"
	Build int64    `json:"build"`
	Paths []string `json:"paths"`
	// URLs are the site paths of the files whose content changed; with
	// ActionSwap, its stylesheets and images are swapped where the page's
	// URLs have the same path.
	URLs []string `json:"urls"`
	// Action is ActionReload, ActionSwap or ActionNone.
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
	Type     string `json:"type"` // "build_failed"
	Build    int64  `json:"build"`
	ExitCode int    `json:"exit_code"`
	Output   string `json:"output"`
}

// Message type names.
const (
	TypeHello         = "hello"
	TypeBuildStart    = "build_start"
	TypeBuildComplete = "build_complete"
	TypeBuildFailed   = "build_failed"
	TypeReloaded      = "reloaded"
)

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

// maxReportMS bounds the times a report may carry: anything beyond a day
// is a broken clock or a forged report, not a measurement.
const maxReportMS = 24 * 60 * 60 * 1000

// sane reports whether every time in r is within reason.
func (r *Reloaded) sane() bool {
	for _, v := range []float64{r.NavigationStart, r.DOMContentLoaded, r.Load, r.Received} {
		if v < -maxReportMS || v > maxReportMS {
			return false
		}
	}
	return true
}
