package qemu

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/internal/cgroups"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Confine configures how the backend confines QEMU (config [qemu] user,
// cgroup_parent and unconfined). Without it (WithConfinement not given)
// QEMU runs as the daemon's root, as it did before.
type Confine struct {
	// User is the unprivileged user QEMU runs as; `banger setup` creates
	// it (default banger-vmm).
	User string
	// CgroupParent is where each VM's cgroup goes, relative to every
	// cgroup hierarchy's mount (default banger.slice).
	CgroupParent string
	// AllowUnconfined lets a VM start with whatever confinement the host
	// allows when a part is missing; otherwise Start refuses and says
	// what to fix.
	AllowUnconfined bool
}

// WithConfinement makes the backend run every QEMU confined: as c.User
// with no capabilities, under QEMU's seccomp sandbox, in a cgroup of its
// own with memory and pids limits from the VM's size.
func WithConfinement(c Confine) Option { return func(o *options) { o.confine = &c } }

// sandboxOpts is QEMU's seccomp filter: besides its default deny list, no
// obsolete syscalls, no set*id, no fork/exec, no scheduler or priority
// changes.
const sandboxOpts = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

// The limits' inputs (see limitsFor).
const (
	// memOverheadMiB is QEMU's own memory beyond the guest's RAM: the
	// binary and libraries, device state, the TCG translation cache (which
	// grows with the code a guest runs), I/O buffers.
	memOverheadMiB = 384
	// baseTasks counts QEMU's threads besides the vCPUs: main loop, RCU,
	// signal and timer threads, and up to 64 block I/O workers.
	baseTasks = 96
)

// limitsFor derives a VM's cgroup limits from its size: memory for the
// guest's RAM plus QEMU's own (memOverheadMiB and an eighth of the guest's,
// for page tables and the dirty pages of its disk), tasks for QEMU's
// threads with two per vCPU to spare.
func limitsFor(cpus, memoryMiB int) cgroups.Limits {
	return cgroups.Limits{
		MemoryBytes: int64(memoryMiB+memOverheadMiB+memoryMiB/8) << 20,
		Pids:        int64(baseTasks + 2*cpus),
	}
}

// userIDs are the confinement user's ids.
type userIDs struct {
	UID, GID int
	// Groups are its supplementary groups (kvm, for /dev/kvm).
	Groups []int
}

// confineFacts is what the host offers; gatherFacts (the edge) reads it.
type confineFacts struct {
	User    *userIDs
	UserErr string
	// Setpriv is util-linux's setpriv, which drops the capability
	// bounding set and privileges between fork and exec; "" when absent.
	Setpriv string
	// SandboxErr says why QEMU cannot take -sandbox (built without
	// seccomp); nil when it can.
	SandboxErr error
	Cgroups    cgroups.Host
	// CgroupErr says why the cgroup parent cannot be written.
	CgroupErr error
	// OverflowGID is the kernel's overflow gid (nogroup).
	OverflowGID int
}

// confinement is one start's confinement, decided before anything exists.
type confinement struct {
	// record goes into the handles; nil when nothing confines QEMU.
	record *vmm.Confinement
	// launcher prefixes QEMU's argv (setpriv and its options).
	launcher []string
	sandbox  string
	cgroup   *cgroups.Plan
	status   vmm.ConfinementStatus
}

// planConfinement decides, as data, how to confine the VM id of the given
// size on a host with facts f.
func planConfinement(c Confine, f confineFacts, id string, cpus, memoryMiB int) confinement {
	var out confinement
	var parts, missing []string
	switch {
	case f.User == nil:
		missing = append(missing, fmt.Sprintf("user %s: %s: run `sudo banger setup`", c.User, f.UserErr))
	case f.Setpriv == "":
		missing = append(missing, "setpriv not found in PATH: install util-linux, which drops QEMU's privileges")
	default:
		out.record = &vmm.Confinement{User: c.User, UID: f.User.UID, GID: f.User.GID}
		out.launcher = setprivArgv(f.Setpriv, *f.User, f.OverflowGID)
		parts = append(parts, fmt.Sprintf("user %s (uid %d), no capabilities, not dumpable", c.User, f.User.UID))
	}
	if f.SandboxErr != nil {
		missing = append(missing, "qemu has no seccomp sandbox: "+f.SandboxErr.Error())
	} else {
		out.sandbox = sandboxOpts
		parts = append(parts, "seccomp sandbox")
	}
	plan, err := cgroups.PlanFor(f.Cgroups, c.CgroupParent, cgroupPrefix+id, limitsFor(cpus, memoryMiB))
	if err == nil {
		err = f.CgroupErr
	}
	if err != nil {
		missing = append(missing, "no cgroup limits: "+err.Error())
	} else {
		out.cgroup = &plan
		parts = append(parts, fmt.Sprintf("cgroup v%d memory+pids under %s", plan.Version, c.CgroupParent))
	}
	if out.record == nil && (out.sandbox != "" || out.cgroup != nil) {
		out.record = &vmm.Confinement{}
	}
	if out.record != nil {
		out.record.Sandbox = out.sandbox
		if p := out.cgroup; p != nil {
			l := limitsFor(cpus, memoryMiB)
			out.record.Cgroup = &vmm.Cgroup{Version: p.Version, Dirs: p.Dirs, MemoryMax: l.MemoryBytes, PidsMax: l.Pids}
		}
	}
	out.status = vmm.ConfinementStatus{
		InForce:  len(parts) > 0,
		Summary:  strings.Join(parts, ", "),
		Missing:  missing,
		Refused:  len(missing) > 0 && !c.AllowUnconfined,
		Override: `[qemu] unconfined = "allow"`,
	}
	if out.status.Summary == "" {
		out.status.Summary = "none: qemu runs as root"
	}
	return out
}

// err is Start's error when the confinement is refused.
func (c confinement) err() error {
	if !c.status.Refused {
		return nil
	}
	return fmt.Errorf("%w: qemu cannot be confined here: %s; fix that, or set [qemu] unconfined = \"allow\" to run VMs less confined (see `banger doctor`)",
		errdefs.ErrUnavailable, strings.Join(c.status.Missing, "; "))
}

// setprivArgv runs QEMU as u: real and effective uid u.UID, effective gid
// u.GID with the real gid the overflow gid (a real gid that differs from
// the effective one makes the kernel mark QEMU not dumpable at exec, as
// for a setgid program, so no other process of the same user can ptrace
// it or read its memory), only u's supplementary groups, and empty
// capability sets — the bounding set too, with no_new_privs, so nothing
// QEMU could exec would regain any.
func setprivArgv(setpriv string, u userIDs, overflowGID int) []string {
	groups := "--clear-groups"
	if len(u.Groups) > 0 {
		ids := make([]string, len(u.Groups))
		for i, g := range u.Groups {
			ids[i] = strconv.Itoa(g)
		}
		groups = "--groups=" + strings.Join(ids, ",")
	}
	return []string{setpriv,
		"--reuid=" + strconv.Itoa(u.UID),
		"--rgid=" + strconv.Itoa(overflowGID), "--egid=" + strconv.Itoa(u.GID),
		groups,
		"--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
		"--",
	}
}
