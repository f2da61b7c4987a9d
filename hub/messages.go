package hub

// Server → client messages, one JSON object per WebSocket frame. The field
// names are the wire contract in DESIGN.md.

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

// BuildComplete announces that build N succeeded: browsers reload (or swap
// stylesheets when CSSOnly).
type BuildComplete struct {
	Type      string   `json:"type"` // "build_complete"
	Build     int64    `json:"build"`
	Paths     []string `json:"paths"`
	URLs      []string `json:"urls"`
	CSSOnly   bool     `json:"css_only"`
	ChangedAt int64    `json:"changed_at"` // unix milliseconds
}

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

// Reloaded is what a client reports after the page it reloaded has loaded.
// Times are milliseconds since the change was first seen (changed_at),
// measured with the browser's clock; zero when unknown.
type Reloaded struct {
	Type             string  `json:"type"` // "reloaded"
	Build            int64   `json:"build"`
	NavigationStart  float64 `json:"navigation_start"`
	DOMContentLoaded float64 `json:"dom_content_loaded"`
	Load             float64 `json:"load"`
	CSSSwap          bool    `json:"css_swap,omitempty"`
}
