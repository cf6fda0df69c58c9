package vmm

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Confinement is how a backend confined one VMM process; it is part of the
// VM's Handles (nil: the VMM runs unconfined, as the daemon's root). The
// backend records it before it creates what it names (the cgroup) and
// removes that in Release, from the record alone.
type Confinement struct {
	// User is the unprivileged user the VMM runs as, with the ids it got.
	User string `json:"user"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
	// Sandbox is the VMM's own syscall filter as its command line asks for
	// it; empty when there is none.
	Sandbox string `json:"sandbox,omitempty"`
	// Cgroup is the VM's own cgroup, with the limits written into it; nil
	// when the host has no usable cgroup controllers and the config allows
	// running without.
	Cgroup *Cgroup `json:"cgroup,omitempty"`
}

// Cgroup is a VM's cgroup: one directory on cgroup v2, one per controller
// on a host whose memory and pids controllers are cgroup v1 hierarchies.
// `banger stats` reads the VMM's memory and task counts from Dirs.
type Cgroup struct {
	// Version is 2 or 1.
	Version int `json:"version"`
	// Dirs maps a controller ("memory", "pids") to the directory holding
	// its files; on v2 every controller maps to the same directory.
	Dirs map[string]string `json:"dirs"`
	// MemoryMax and PidsMax are the limits written (bytes, tasks).
	MemoryMax int64 `json:"memory_max"`
	PidsMax   int64 `json:"pids_max"`
}

// Paths returns the cgroup's distinct directories, sorted.
func (c *Cgroup) Paths() []string {
	if c == nil {
		return nil
	}
	out := slices.Sorted(maps.Values(c.Dirs))
	return slices.Compact(out)
}

// Summary is c in one line, as inspect shows it: "user banger-vmm (uid
// 999), seccomp sandbox, cgroup v2 (memory 704643072 bytes, 98 tasks)".
func (c *Confinement) Summary() string {
	if c == nil {
		return ""
	}
	var parts []string
	if c.User != "" {
		parts = append(parts, fmt.Sprintf("user %s (uid %d)", c.User, c.UID))
	}
	if c.Sandbox != "" {
		parts = append(parts, "seccomp sandbox")
	}
	if cg := c.Cgroup; cg != nil {
		parts = append(parts, fmt.Sprintf("cgroup v%d (memory %d bytes, %d tasks)", cg.Version, cg.MemoryMax, cg.PidsMax))
	}
	return strings.Join(parts, ", ")
}

// Copy returns a deep copy of c (nil stays nil).
func (c *Confinement) Copy() *Confinement {
	if c == nil {
		return nil
	}
	out := *c
	if c.Cgroup != nil {
		cg := *c.Cgroup
		cg.Dirs = maps.Clone(c.Cgroup.Dirs)
		out.Cgroup = &cg
	}
	return &out
}

// ConfinementStatus is what a backend would do to confine a VMM started
// now, and what the host lacks for more: `banger doctor` shows it.
type ConfinementStatus struct {
	// InForce says a VMM started now is confined at all.
	InForce bool `json:"in_force"`
	// Summary is one line: what confines it ("user banger-vmm (uid 999),
	// seccomp sandbox, no capabilities, cgroup v2 memory+pids").
	Summary string `json:"summary"`
	// Missing says what the host lacks, each with what to do about it.
	Missing []string `json:"missing,omitempty"`
	// Refused says VM starts fail until Missing is fixed (the config does
	// not allow running less confined).
	Refused bool `json:"refused,omitempty"`
	// Override, when Refused, names the setting that lets VMs start
	// anyway, less confined.
	Override string `json:"override,omitempty"`
}

// Confiner is a Backend that confines its VMM itself (Capabilities.Confined).
// Confinement checks the host now, cheaply and without side effects: it is
// not cached, so `banger setup` takes effect without restarting the daemon.
type Confiner interface {
	Confinement(ctx context.Context) ConfinementStatus
}
