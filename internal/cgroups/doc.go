// Package cgroups gives one process (a VMM) a cgroup of its own with memory
// and pids limits, under a parent shared by all of banger's VMs.
//
// The work is data: Detect reads where the memory and pids controllers are
// (a cgroup v2 hierarchy with both enabled, or, on a hybrid host, the cgroup
// v1 hierarchies mounted for each), ParseMounts and PlanFor are pure
// functions from that to the directories to make and the files to write,
// tested as values; Apply, Join and Remove are the thin edge that does it.
//
// On cgroup v2 the process is started inside its group (clone3 with
// CLONE_INTO_CGROUP: Apply returns the directory's descriptor for
// exec.Cmd's SysProcAttr.CgroupFD), so nothing it allocates is charged
// elsewhere. On cgroup v1 it joins right after exec (Join), before it has
// allocated guest memory.
//
// The parent is made with the controllers enabled for its children (v2:
// "+memory +pids" in every ancestor's cgroup.subtree_control, as Docker's
// cgroupfs driver does). When the parent cannot be written (no delegation:
// a read-only /sys/fs/cgroup in a container, a systemd unit without
// Delegate=yes) Apply says so; Check says it without changing anything.
package cgroups
