//go:build !unix

package build

import (
	"os"
	"os/exec"
	"syscall"
)

func setGroup(cmd *exec.Cmd) {}

// signalGroup kills the process; without process groups its children may
// survive.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) error {
	if cmd.Process == nil {
		return nil
	}
	if sig == sigTerm {
		return cmd.Process.Signal(os.Interrupt)
	}
	return cmd.Process.Kill()
}

const (
	sigTerm = syscall.Signal(15)
	sigKill = syscall.Signal(9)
)
