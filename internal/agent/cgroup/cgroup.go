// Package cgroup puts the guest's main process in a cgroup of its own
// whose memory limit leaves room for the agent, as a container runtime
// does. Without it a workload that eats the guest's memory does not get
// OOM-killed: the kernel first evicts every file-backed page, the agent's
// included, and the guest thrashes for minutes, deaf to stop and exec.
// With it the workload's own reclaim fails first and the OOM killer ends
// it (and everything in its group) at once; the agent then ends the VM as
// for any exit, and the record says OOM.
package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bangerdev/banger/internal/procfs"
)

// Name is the main process's cgroup under the cgroup2 root.
const Name = "banger-main"

// Reserve is the memory kept out of the main process's reach: an eighth
// of what is available, at least 16 MiB (the agent, its sessions and the
// kernel's slack) and at most 256 MiB.
func Reserve(avail uint64) uint64 {
	return min(max(avail/8, 16<<20), 256<<20)
}

// Write is one file write of the plan.
type Write struct{ Path, Value string }

// Plan is the writes that set the main process's group up under root (the
// cgroup2 mount) for a guest with avail bytes of memory available at boot
// (what is left after the kernel, which in a small VM is far less than
// its RAM): delegate the memory and pids controllers, cap the group's
// memory, and make an OOM kill take the whole group, as docker's does.
func Plan(root string, avail uint64) (dir string, writes []Write) {
	dir = filepath.Join(root, Name)
	limit := avail - Reserve(avail)
	return dir, []Write{
		{filepath.Join(root, "cgroup.subtree_control"), "+memory +pids"},
		{filepath.Join(dir, "memory.max"), strconv.FormatUint(limit, 10)},
		{filepath.Join(dir, "memory.oom.group"), "1"},
	}
}

// Setup makes the group and returns its directory, opened for
// clone3(CLONE_INTO_CGROUP): the caller starts the main process into it
// and closes the file. It fails (and the caller runs the process without
// a group) when the guest has no cgroup2 or no memory controller.
func Setup(root, meminfo string) (*os.File, error) {
	avail, err := memAvailable(meminfo)
	if err != nil {
		return nil, err
	}
	dir, writes := Plan(root, avail)
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return nil, fmt.Errorf("main cgroup: %w", err)
	}
	for _, w := range writes {
		if err := os.WriteFile(w.Path, []byte(w.Value), 0o644); err != nil {
			return nil, fmt.Errorf("main cgroup: %w", err)
		}
	}
	return os.Open(dir)
}

// memAvailable reads the available memory from meminfo (/proc/meminfo).
func memAvailable(meminfo string) (uint64, error) {
	b, err := os.ReadFile(meminfo)
	if err != nil {
		return 0, err
	}
	m, err := procfs.ParseMeminfo(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", meminfo, err)
	}
	return m.AvailableBytes, nil
}
