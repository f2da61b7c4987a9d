//go:build !linux

package auto

// Detect plans the roots. Mount detection is Linux-only: elsewhere every
// root is watched natively (fsnotify's kqueue or ReadDirectoryChangesW) and
// -watch poll remains available by hand.
func Detect(roots []string) ([]Choice, error) {
	out := make([]Choice, len(roots))
	for i, r := range roots {
		out[i] = Choice{Path: r, FSType: "unknown", Mode: Native, Reason: "mount detection is Linux-only; use -watch poll for network or shared folders"}
	}
	return out, nil
}

// Limits are the kernel's inotify limits (Linux only).
type Limits struct {
	MaxUserWatches   int `json:"max_user_watches"`
	MaxUserInstances int `json:"max_user_instances"`
	MaxQueuedEvents  int `json:"max_queued_events"`
}

// InotifyLimits returns zeros off Linux.
func InotifyLimits() Limits { return Limits{} }

// sshfsOptions: processes are not looked at off Linux.
func sshfsOptions(string) (map[string]string, bool) { return nil, false }
