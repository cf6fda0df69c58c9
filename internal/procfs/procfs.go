// Package procfs parses the Linux /proc and sysfs files banger reads for
// statistics: a process's stat, status and io files, /proc/meminfo, and a
// network interface's byte counters. The host reads them for a VMM
// process (banger stats); the guest agent reads the guest's own for
// memory and process listings (banger stats, banger top). Parsers are
// pure functions over the file's bytes, so they are tested on real-looking
// input; Read* helpers are the thin file edge.
package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ClockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux architecture banger runs on.
const ClockTicks = 100

// Stat is what banger uses of /proc/PID/stat.
type Stat struct {
	PID   int
	Comm  string
	State string
	PPID  int
	// UTime and STime are CPU time in clock ticks (ClockTicks a second),
	// of every thread of the process.
	UTime, STime uint64
	// Threads is the process's thread count.
	Threads int
	// StartTime is when it started, in clock ticks after boot.
	StartTime uint64
}

// CPUTicks is the process's user and system CPU time, in clock ticks.
func (s Stat) CPUTicks() uint64 { return s.UTime + s.STime }

// ParseStat parses /proc/PID/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted after its last ')'.
func ParseStat(b []byte) (Stat, error) {
	var st Stat
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return st, errors.New("procfs: stat: no (comm)")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return st, fmt.Errorf("procfs: stat: pid: %w", err)
	}
	st.PID, st.Comm = pid, string(b[open+1:end])
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state); utime is field 14, stime 15, num_threads
	// 20, starttime 22.
	if len(f) < 20 {
		return st, fmt.Errorf("procfs: stat: %d fields after comm, want at least 20", len(f))
	}
	st.State = f[0]
	var errs []error
	num := func(i int) uint64 {
		n, err := strconv.ParseUint(f[i], 10, 64)
		errs = append(errs, err)
		return n
	}
	st.PPID = int(num(1))
	st.UTime, st.STime = num(11), num(12)
	st.Threads = int(num(17))
	st.StartTime = num(19)
	if err := errors.Join(errs...); err != nil {
		return st, fmt.Errorf("procfs: stat: %w", err)
	}
	return st, nil
}

// Status is what banger uses of /proc/PID/status.
type Status struct {
	Name string
	// RSSBytes is VmRSS: resident memory (0 for a kernel thread).
	RSSBytes uint64
	// UID is the real user id.
	UID int
}

// ParseStatus parses /proc/PID/status ("Key:\tvalue" lines).
func ParseStatus(b []byte) (Status, error) {
	var st Status
	seen := false
	err := eachField(b, func(key, val string) error {
		var err error
		switch key {
		case "Name":
			st.Name, seen = val, true
		case "VmRSS":
			st.RSSBytes, err = kib(val)
		case "Uid":
			if f := strings.Fields(val); len(f) > 0 {
				st.UID, err = strconv.Atoi(f[0])
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	})
	if err == nil && !seen {
		err = errors.New("no Name line")
	}
	if err != nil {
		return st, fmt.Errorf("procfs: status: %w", err)
	}
	return st, nil
}

// IO is what banger uses of /proc/PID/io: bytes the process made the
// storage layer read and write.
type IO struct {
	ReadBytes, WriteBytes uint64
}

// ParseIO parses /proc/PID/io.
func ParseIO(b []byte) (IO, error) {
	var io IO
	var have int
	err := eachField(b, func(key, val string) error {
		var p *uint64
		switch key {
		case "read_bytes":
			p = &io.ReadBytes
		case "write_bytes":
			p = &io.WriteBytes
		default:
			return nil
		}
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		*p, have = n, have+1
		return nil
	})
	if err == nil && have != 2 {
		err = errors.New("no read_bytes and write_bytes")
	}
	if err != nil {
		return io, fmt.Errorf("procfs: io: %w", err)
	}
	return io, nil
}

// Meminfo is what banger uses of /proc/meminfo.
type Meminfo struct {
	TotalBytes, AvailableBytes uint64
}

// UsedBytes is memory in use: total less available (what free(1) and
// docker count as used).
func (m Meminfo) UsedBytes() uint64 {
	if m.AvailableBytes > m.TotalBytes {
		return 0
	}
	return m.TotalBytes - m.AvailableBytes
}

// ParseMeminfo parses /proc/meminfo. Kernels before 3.14 have no
// MemAvailable; free + buffers + cached stands in for it.
func ParseMeminfo(b []byte) (Meminfo, error) {
	var m Meminfo
	v := map[string]uint64{}
	err := eachField(b, func(key, val string) error {
		switch key {
		case "MemTotal", "MemAvailable", "MemFree", "Buffers", "Cached":
			n, err := kib(val)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			v[key] = n
		}
		return nil
	})
	if err == nil && v["MemTotal"] == 0 {
		err = errors.New("no MemTotal")
	}
	if err != nil {
		return m, fmt.Errorf("procfs: meminfo: %w", err)
	}
	m.TotalBytes = v["MemTotal"]
	if a, ok := v["MemAvailable"]; ok {
		m.AvailableBytes = a
	} else {
		m.AvailableBytes = v["MemFree"] + v["Buffers"] + v["Cached"]
	}
	return m, nil
}

// ParseCmdline splits /proc/PID/cmdline (NUL-separated arguments).
func ParseCmdline(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}

// ParseCounter parses a sysfs counter file (one decimal number), such as
// /sys/class/net/TAP/statistics/rx_bytes.
func ParseCounter(b []byte) (uint64, error) {
	n, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("procfs: counter: %w", err)
	}
	return n, nil
}

// eachField calls fn with each "Key: value" line's key and trimmed value.
func eachField(b []byte, fn func(key, val string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if err := fn(strings.TrimSpace(key), strings.TrimSpace(val)); err != nil {
			return err
		}
	}
	return sc.Err()
}

// kib parses "1234 kB" into bytes.
func kib(val string) (uint64, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(val, "kB")), 10, 64)
	if err != nil {
		return 0, err
	}
	return n * 1024, nil
}
