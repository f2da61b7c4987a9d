//go:build !linux

package build

import "errors"

// supervisorUsable is false: only Linux has the child subreaper the
// supervisor is built on; commands run directly (see doc.go).
func supervisorUsable() bool { return false }

// link is a supervisor process; there is none on this platform.
type link struct{}

func (*link) close() {}

func startSupervised(procSpec, **link) (*proc, error) {
	return nil, errors.New("build: no supervisor on this platform")
}
