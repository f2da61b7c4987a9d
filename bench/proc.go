package main

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. The
// kernel fixes it at 100 on every architecture Linux runs on (it is the
// ABI value, independent of CONFIG_HZ); Go has no sysconf to ask.
const clockTicks = 100

// errNotLinux is returned by the /proc readers on other systems.
var errNotLinux = errors.New("needs Linux (/proc)")

// parseStatCPU returns utime+stime from the text of /proc/PID/stat. The
// command name (field 2) is in parentheses and may itself hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no ')'", stat)
	}
	f := strings.Fields(stat[i+1:])
	// After the name: state(3) ppid(4) … utime(14) stime(15); f[0] is field 3.
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("stat %q: too few fields", stat)
	}
	u, err := strconv.ParseUint(f[utime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat utime %q: %w", f[utime], err)
	}
	s, err := strconv.ParseUint(f[stime], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat stime %q: %w", f[stime], err)
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// memory is a process's resident set, in KiB.
type memory struct {
	rss, hwm int64 // VmRSS (now) and VmHWM (peak)
}

// parseStatusMemory reads VmRSS and VmHWM from the text of /proc/PID/status.
func parseStatusMemory(status string) (memory, error) {
	var m memory
	found := 0
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("status %s: unexpected %q", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("status %s: %w", k, err)
		}
		if k == "VmRSS" {
			m.rss = n
		} else {
			m.hwm = n
		}
		found++
	}
	if found != 2 {
		return m, errors.New("status: no VmRSS/VmHWM lines")
	}
	return m, nil
}
