//go:build linux

package build

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxCommand bounds a PortHolder's command line: enough to recognise it.
const maxCommand = 200

// listenSocket is one listening TCP socket from /proc/net/tcp{,6}.
type listenSocket struct {
	addr  netip.Addr
	port  uint16
	inode uint64
}

// tcpListen is the state of a listening socket in /proc/net/tcp (TCP_LISTEN).
const tcpListen = "0A"

// portHolders returns the processes that hold a listening socket accepting
// connections at remote: a socket bound to that address and port, or to
// the unspecified address on that port.
func portHolders(remote *net.TCPAddr) []PortHolder {
	rip, ok := netip.AddrFromSlice(remote.IP)
	if !ok {
		return nil
	}
	rip = rip.Unmap()
	inodes := map[uint64]bool{}
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for _, s := range parseProcNetTCP(b) {
			if s.port == uint16(remote.Port) && s.inode != 0 && accepts(s.addr, rip) {
				inodes[s.inode] = true
			}
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	return socketHolders(inodes)
}

// accepts reports whether a socket listening on local takes connections to
// ip (an unmapped address): the same address, or the unspecified address
// of its family ("::" takes IPv4 too, unless IPV6_V6ONLY, which /proc does
// not show).
func accepts(local, ip netip.Addr) bool {
	local = local.Unmap()
	switch {
	case local == ip:
		return true
	case local.IsUnspecified():
		return local.Is6() || ip.Is4()
	}
	return false
}

// parseProcNetTCP returns the listening sockets in the text of
// /proc/net/tcp or /proc/net/tcp6. Lines it cannot read are skipped.
func parseProcNetTCP(b []byte) []listenSocket {
	var out []listenSocket
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpListen {
			continue
		}
		host, port, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		addr, ok := parseProcAddr(host)
		p, err1 := strconv.ParseUint(port, 16, 16)
		inode, err2 := strconv.ParseUint(f[9], 10, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		out = append(out, listenSocket{addr: addr, port: uint16(p), inode: inode})
	}
	return out
}

// parseProcAddr reads an address as /proc/net/tcp{,6} prints it: the
// 4 or 16 bytes in network order, printed as 32-bit words in the host's
// byte order ("0100007F" is 127.0.0.1 on a little-endian machine).
func parseProcAddr(s string) (netip.Addr, bool) {
	raw, err := hex.DecodeString(s)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.Addr{}, false
	}
	b := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(b[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	return netip.AddrFromSlice(b)
}

// socketHolders returns the processes with a descriptor open on one of the
// socket inodes, lowest pid first, at most maxHolders. Processes whose
// descriptors cannot be read (another user's, without root) are missed.
func socketHolders(inodes map[uint64]bool) []PortHolder {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	var pids []int
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		fdDir := "/proc/" + name + "/fd/"
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(fdDir + fd.Name())
			if ino, ok := parseSocketLink(link); err == nil && ok && inodes[ino] {
				pids = append(pids, pid)
				break
			}
		}
	}
	slices.Sort(pids)
	var out []PortHolder
	for _, pid := range pids[:min(len(pids), maxHolders)] {
		out = append(out, PortHolder{Pid: pid, Command: commandLine(pid)})
	}
	return out
}

// parseSocketLink reads the inode of a /proc/PID/fd link to a socket,
// "socket:[12345]".
func parseSocketLink(link string) (uint64, bool) {
	s, ok := strings.CutPrefix(link, "socket:[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// commandLine returns pid's command line (see formatCommandLine), or its
// name when it has none (a kernel thread, a zombie).
func commandLine(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if len(bytes.TrimRight(b, "\x00")) == 0 {
		b, _ = os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		b = bytes.TrimSpace(b)
	}
	return formatCommandLine(b)
}

// formatCommandLine turns the NUL-separated arguments of
// /proc/PID/cmdline into one line for the terminal: arguments separated by
// spaces, at most maxCommand bytes, quoted Go-style if it holds anything
// unprintable (a terminal escape in an argument is not passed through).
func formatCommandLine(raw []byte) string {
	s := strings.ReplaceAll(string(bytes.TrimRight(raw, "\x00")), "\x00", " ")
	if len(s) > maxCommand {
		cut := maxCommand
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		s = strconv.Quote(s)
	}
	return s
}
