package procfs

import (
	"os"
	"path/filepath"
	"strconv"
)

// FS is a /proc (or a copy of one, in tests) rooted at Root.
type FS struct{ Root string }

// Proc is the host's /proc.
var Proc = FS{Root: "/proc"}

func (fs FS) read(pid int, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(fs.Root, strconv.Itoa(pid), name))
}

// Stat reads a process's stat file.
func (fs FS) Stat(pid int) (Stat, error) {
	b, err := fs.read(pid, "stat")
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}

// Status reads a process's status file.
func (fs FS) Status(pid int) (Status, error) {
	b, err := fs.read(pid, "status")
	if err != nil {
		return Status{}, err
	}
	return ParseStatus(b)
}

// IO reads a process's io file.
func (fs FS) IO(pid int) (IO, error) {
	b, err := fs.read(pid, "io")
	if err != nil {
		return IO{}, err
	}
	return ParseIO(b)
}

// Cmdline reads a process's arguments.
func (fs FS) Cmdline(pid int) ([]string, error) {
	b, err := fs.read(pid, "cmdline")
	return ParseCmdline(b), err
}

// Meminfo reads meminfo.
func (fs FS) Meminfo() (Meminfo, error) {
	b, err := os.ReadFile(filepath.Join(fs.Root, "meminfo"))
	if err != nil {
		return Meminfo{}, err
	}
	return ParseMeminfo(b)
}

// PIDs lists the processes (the numeric entries).
func (fs FS) PIDs() ([]int, error) {
	ents, err := os.ReadDir(fs.Root)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// NetBytes reads a network interface's received and transmitted byte
// counters from sysfs (/sys/class/net/NAME/statistics), as the host sees
// them.
func NetBytes(sysClassNet, name string) (rx, tx uint64, err error) {
	dir := filepath.Join(sysClassNet, name, "statistics")
	b, err := os.ReadFile(filepath.Join(dir, "rx_bytes"))
	if err == nil {
		rx, err = ParseCounter(b)
	}
	if err != nil {
		return 0, 0, err
	}
	if b, err = os.ReadFile(filepath.Join(dir, "tx_bytes")); err == nil {
		tx, err = ParseCounter(b)
	}
	return rx, tx, err
}
