//go:build unix

package hub

import (
	"syscall"
	"testing"
)

// raiseFDLimit lifts the soft RLIMIT_NOFILE to the hard limit.
func raiseFDLimit(tb testing.TB, need int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			tb.Fatal(err)
		}
	}
	if lim.Cur < uint64(need) {
		tb.Skipf("RLIMIT_NOFILE is %d; %d clients need %d", lim.Cur, need-100, need)
	}
}
