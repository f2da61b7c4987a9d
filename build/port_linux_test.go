//go:build linux

package build

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// procAddr prints addr the way /proc/net/tcp{,6} does on this machine.
func procAddr(addr netip.Addr) string {
	b := addr.AsSlice()
	var s strings.Builder
	for i := 0; i < len(b); i += 4 {
		fmt.Fprintf(&s, "%08X", binary.NativeEndian.Uint32(b[i:]))
	}
	return s.String()
}

func TestParseProcNetTCP(t *testing.T) {
	// Real lines from a little-endian machine; the table below is built
	// with procAddr so it also holds on a big-endian one.
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		if got := procAddr(netip.MustParseAddr("127.0.0.1")); got != "0100007F" {
			t.Fatalf("procAddr(127.0.0.1) = %s, want 0100007F", got)
		}
		if got := procAddr(netip.MustParseAddr("::1")); got != "00000000000000000000000001000000" {
			t.Fatalf("procAddr(::1) = %s", got)
		}
	}
	lo4, any4 := procAddr(netip.MustParseAddr("127.0.0.1")), procAddr(netip.MustParseAddr("0.0.0.0"))
	lo6, any6 := procAddr(netip.MustParseAddr("::1")), procAddr(netip.MustParseAddr("::"))
	mapped := procAddr(netip.MustParseAddr("::ffff:127.0.0.1"))
	text := strings.Join([]string{
		"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
		"   0: " + lo4 + ":1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0",
		"   1: " + any4 + ":0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0",
		"   2: " + lo4 + ":9C40 " + lo4 + ":1F90 01 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 20 4 30 10 -1", // established: skipped
		"   3: " + lo6 + ":1F91 " + any6 + ":0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5151 1 0000000000000000 100 0 0 10 0",
		"   4: " + any6 + ":0050 " + any6 + ":0000 0A 00000000:00000000 00:00000000 00000000     0        0 8080 1 0000000000000000 100 0 0 10 0",
		"   5: " + mapped + ":1F92 " + any6 + ":0000 0A 00000000:00000000 00:00000000 00000000     0        0 6 1 0000000000000000 100 0 0 10 0",
		"   6: 0100007G:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1", // not hex
		"   7: " + lo4 + ":1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 notanumber",
		"   8: 0100:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3",   // wrong length
		"   9: " + lo4 + " 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3", // no port
		"garbage",
		"",
	}, "\n")
	want := []listenSocket{
		{netip.MustParseAddr("127.0.0.1"), 8080, 4242},
		{netip.MustParseAddr("0.0.0.0"), 22, 17},
		{netip.MustParseAddr("::1"), 8081, 5151},
		{netip.MustParseAddr("::"), 80, 8080},
		{netip.MustParseAddr("::ffff:127.0.0.1"), 8082, 6},
	}
	if got := parseProcNetTCP([]byte(text)); !slices.Equal(got, want) {
		t.Errorf("parseProcNetTCP =\n%v\nwant\n%v", got, want)
	}
}

func TestAccepts(t *testing.T) {
	tests := []struct {
		local, ip string
		want      bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.2", "127.0.0.1", false},
		{"0.0.0.0", "127.0.0.1", true},
		{"0.0.0.0", "::1", false},
		{"::", "::1", true},
		{"::", "127.0.0.1", true}, // dual stack
		{"::1", "127.0.0.1", false},
		{"::ffff:127.0.0.1", "127.0.0.1", true},
	}
	for _, tc := range tests {
		if got := accepts(netip.MustParseAddr(tc.local), netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("accepts(%s, %s) = %v, want %v", tc.local, tc.ip, got, tc.want)
		}
	}
}

func TestParseSocketLink(t *testing.T) {
	tests := []struct {
		link string
		ino  uint64
		ok   bool
	}{
		{"socket:[12345]", 12345, true},
		{"socket:[0]", 0, true},
		{"pipe:[12345]", 0, false},
		{"socket:[12345", 0, false},
		{"socket:[x]", 0, false},
		{"/dev/null", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		if ino, ok := parseSocketLink(tc.link); ino != tc.ino || ok != tc.ok {
			t.Errorf("parseSocketLink(%q) = %d, %v, want %d, %v", tc.link, ino, ok, tc.ino, tc.ok)
		}
	}
}

func TestFormatCommandLine(t *testing.T) {
	long := strings.Repeat("é", maxCommand) // 2 bytes each: the cut falls inside one
	tests := []struct{ raw, want string }{
		{"python3\x00app.py\x008101\x00", "python3 app.py 8101"},
		{"node\x00", "node"},
		{"sh\x00-c\x00echo \x1b[31mred\x00", `"sh -c echo \x1b[31mred"`},
		{long, long[:maxCommand] + "…"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := formatCommandLine([]byte(tc.raw)); got != tc.want {
			t.Errorf("formatCommandLine(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestParseStatPPid(t *testing.T) {
	tests := []struct {
		stat string
		ppid int
		ok   bool
	}{
		{"123 (sleep) S 45 123 45 0 -1 4194304", 45, true},
		{"123 (a) b) (c) R 7 123 45", 7, true}, // comm with spaces and parentheses
		{"123 (sleep) S", 0, false},
		{"123 sleep S 45", 0, false},
		{"123 (sleep) S x", 0, false},
	}
	for _, tc := range tests {
		if ppid, ok := parseStatPPid(tc.stat); ppid != tc.ppid || ok != tc.ok {
			t.Errorf("parseStatPPid(%q) = %d, %v, want %d, %v", tc.stat, ppid, ok, tc.ppid, tc.ok)
		}
	}
}

func TestParseExit(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		code int
		why  string
	}{
		{"0 0 0", true, 0, "exit status 0"},
		{"3 0 0", true, 3, "exit status 3"},
		{"-1 9 0", true, -1, "signal: killed"},
		{"-1 15 0", true, -1, "signal: terminated"},
		{"-1 11 1", true, -1, "signal: segmentation fault (core dumped)"},
		{"-1 0 0", false, -1, ""},
		{"1 0", false, -1, ""},
		{"a 0 0", false, -1, ""},
		{"1 0 2", false, -1, ""},
	}
	for _, tc := range tests {
		ok, code, why := parseExit(tc.in)
		if ok != tc.ok || code != tc.code || why != tc.why {
			t.Errorf("parseExit(%q) = %v %d %q, want %v %d %q", tc.in, ok, code, why, tc.ok, tc.code, tc.why)
		}
	}
}

// checkHolders asserts that err is a PortInUseError for addr naming pid,
// whose command line contains cmd.
func checkHolders(t *testing.T, err error, addr string, pid int, cmd string) {
	t.Helper()
	var pe *PortInUseError
	if !errors.As(err, &pe) || !errors.Is(err, ErrPortInUse) {
		t.Fatalf("CheckPort(%s) = %v, want a PortInUseError", addr, err)
	}
	i := slices.IndexFunc(pe.Holders, func(h PortHolder) bool { return h.Pid == pid })
	if i < 0 {
		t.Fatalf("holders %+v, want pid %d among them", pe.Holders, pid)
	}
	if !strings.Contains(pe.Holders[i].Command, cmd) {
		t.Errorf("holder %d's command %q, want it to contain %q", pid, pe.Holders[i].Command, cmd)
	}
	for _, want := range []string{addr, "pid " + strconv.Itoa(pid), cmd} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestCheckPort(t *testing.T) {
	exe := testBinary(t)
	t.Run("free", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if err := CheckPort(addr); err != nil {
			t.Errorf("CheckPort(%s) with nothing listening = %v", addr, err)
		}
	})
	t.Run("this process", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		checkHolders(t, CheckPort(ln.Addr().String()), ln.Addr().String(), os.Getpid(), filepath.Base(exe))
	})
	t.Run("a child process", func(t *testing.T) {
		pid, addr := startListener(t)
		checkHolders(t, CheckPort(addr), addr, pid, filepath.Base(exe))
	})
	t.Run("the unspecified address", func(t *testing.T) {
		ln, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		checkHolders(t, CheckPort(addr), addr, os.Getpid(), filepath.Base(exe))
	})
	t.Run("IPv6 loopback", func(t *testing.T) {
		ln, err := net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback here: %v", err)
		}
		defer ln.Close()
		checkHolders(t, CheckPort(ln.Addr().String()), ln.Addr().String(), os.Getpid(), filepath.Base(exe))
	})
}

// TestAppStartRefusesABusyPort: with CheckAddr, Start does not start an
// app while another process accepts connections there, says which, and
// starts it once the port is free.
func TestAppStartRefusesABusyPort(t *testing.T) {
	pid, addr := startListener(t)
	a := NewApp(AppOptions{Command: "sleep 60", CheckAddr: addr, Grace: testGrace})
	t.Cleanup(func() { a.Close() })
	err := a.Start()
	checkHolders(t, err, addr, pid, filepath.Base(testBinary(t)))
	if a.Running() || a.Pid() != 0 {
		t.Error("the app was started although the port was taken")
	}

	free := NewApp(AppOptions{Command: "sleep 60", CheckAddr: addr + "0", Grace: testGrace}) // no such port: a dial error counts as free
	t.Cleanup(func() { free.Close() })
	if err := free.Start(); err != nil || !free.Running() {
		t.Errorf("Start with an address nobody can listen on = %v", err)
	}
}
