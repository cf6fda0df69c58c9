// Package vmm is the seam between the daemon and the virtual machine
// monitors that run its guests. A backend (vmm/qemu, vmm/firecracker) turns a
// Spec — plain values the daemon builds from its records — into a running
// Machine, and can adopt a Machine an earlier daemon started from the
// Handles it recorded.
//
// The interfaces are small on purpose: lifecycle on Machine, optional Pauser,
// Snapshotter and Restorer (save a paused machine, start one from the
// saved state) for backends that can, one Probe that says whether the
// backend can run here and how, and Capabilities that say what it can do —
// callers ask those, never a backend's name (a test in this package walks
// the tree to keep it so). Set holds the backends of a daemon and caches
// their probes. Every backend passes the shared conformance suite in
// vmm/vmmtest.
package vmm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Backend starts and adopts machines of one kind.
type Backend interface {
	// Name is the backend's name: "qemu" or "firecracker".
	Name() string
	// Probe reports whether the backend can run on this host, and how
	// (accelerator, version), without side effects beyond short probes.
	Probe(ctx context.Context) Probe
	// Start launches the VMM for spec and boots the guest. It returns once
	// the VMM runs and the guest is booting; callers wait for the guest
	// with Machine.DialAgent. Before creating each host resource (process,
	// socket) it passes the Handles known so far to spec.Record, so a
	// daemon crash at any point leaves a record to clean up from. On
	// error, everything Start created is gone.
	Start(ctx context.Context, spec Spec) (Machine, error)
	// Attach adopts a machine started earlier (by this or a previous
	// daemon) from its recorded handles. It wraps errdefs.ErrNotFound
	// when the VMM process is no longer the recorded one.
	Attach(ctx context.Context, h Handles) (Machine, error)
	// Release ends and removes everything h names — the process when it
	// is still the recorded one, its sockets, a jail — from the handles
	// alone, without a Machine (a daemon that restarted, a record of a
	// start that crashed half-way). It is idempotent.
	Release(ctx context.Context, h Handles) error
	// Capabilities says what the backend can do; it does not probe.
	Capabilities() Capabilities
}

// Channel is how the host reaches the guest agent.
type Channel string

// The agent channels.
const (
	// ChannelSerial is a virtio-serial port: one byte stream shared by
	// every host connection, so each connection starts with the
	// streamsync exchange that delimits it.
	ChannelSerial Channel = "virtio-serial"
	// ChannelVsock is (hybrid) vsock: every connection is a stream of its
	// own.
	ChannelVsock Channel = "vsock"
)

// Capabilities say what a backend can do. Disk strategy, boot config and
// agent dialing decide from them; nothing outside this package compares a
// backend's name.
type Capabilities struct {
	// Channel is how the guest agent is reached.
	Channel Channel `json:"channel"`
	// PowerOff says the guest can power the machine off. Without it a
	// guest halts by rebooting, which ends the VMM (Firecracker).
	PowerOff bool `json:"power_off"`
	// DiskFormats are the drive formats the VMM opens ("raw", "qcow2").
	DiskFormats []string `json:"disk_formats"`
	// ExtraDrives says drives beyond the root and config drives work.
	ExtraDrives bool `json:"extra_drives"`
	// Pause says machines implement Pauser.
	Pause bool `json:"pause"`
	// Snapshot says machines implement Snapshotter and the backend
	// implements Restorer.
	Snapshot bool `json:"snapshot"`
	// MemoryFile says a snapshot can keep guest RAM in a memory file of
	// its own (SnapshotSpec.MemPath), which restored machines map
	// copy-on-write: Firecracker always writes one, QEMU for a machine
	// started with Spec.MemoryFile, which a confined QEMU cannot open.
	MemoryFile bool `json:"memory_file"`
	// SharedDirs says host directories can be shared into the guest
	// (Spec.SharedDirs: virtio-fs). A machine with a shared directory
	// cannot be snapshotted (see Spec.SnapshotBlocker).
	SharedDirs bool `json:"shared_dirs"`
	// Jailer says the VMM runs confined by a jailer.
	Jailer bool `json:"jailer"`
	// Netns says a NIC's tap may live in another network namespace
	// (NIC.Netns): the backend attaches to it there. QEMU does, since
	// the daemon opens every tap's queue for it; Firecracker opens taps
	// by name in its own namespace (its jailer's --netns would move the
	// whole VMM into the pod's, which banger does not do).
	Netns bool `json:"netns"`
	// Confined says the backend confines the VMM process itself (an
	// unprivileged user, a syscall sandbox, a cgroup with limits) and
	// implements Confiner; its Handles record how (Handles.Confinement).
	Confined bool `json:"confined"`
}

// Opens reports whether the VMM opens drives of format ("" is raw).
func (c Capabilities) Opens(format string) bool {
	if format == "" {
		format = FormatRaw
	}
	return slices.Contains(c.DiskFormats, format)
}

// The drive formats.
const (
	FormatRaw   = "raw"
	FormatQCOW2 = "qcow2"
)

// Probe is what a backend found out about the host.
type Probe struct {
	// Available is true when Start can work here.
	Available bool `json:"available"`
	// Version of the VMM binary, when found.
	Version string `json:"version,omitempty"`
	// Binary is the resolved path of the VMM binary.
	Binary string `json:"binary,omitempty"`
	// Accel is the accelerator Start will use: "kvm" or "tcg".
	Accel string `json:"accel,omitempty"`
	// Notes explain the choice or the unavailability, for `banger doctor`
	// and the user ("KVM present but cannot run a standard guest: ...;
	// using tcg").
	Notes []string `json:"notes,omitempty"`
}

// Kernel is what the guest boots.
type Kernel struct {
	// Vmlinux is an uncompressed ELF kernel (Firecracker needs this).
	Vmlinux string
	// BzImage is a compressed bzImage, when there is one (QEMU prefers it).
	BzImage string
	// Initrd is an initramfs to load, when the kernel needs modules.
	Initrd string
}

// Drive is one block device. The first drive with Root set is the root
// file system (/dev/vda).
type Drive struct {
	ID       string
	Path     string
	ReadOnly bool
	// Format is "raw" (default) or "qcow2" (QEMU only).
	Format string
	Root   bool
}

// SharedDir is a host directory shared into the guest through virtio-fs:
// a vhost-user-fs device whose backend (virtiofsd, started by the daemon
// before the VMM) listens on Socket. The guest mounts it by Tag.
type SharedDir struct {
	// Tag is the virtio-fs tag, at most MaxTagLen bytes.
	Tag    string
	Socket string
	// Desc says what the user asked for ("-v /srv/data:/data"), for
	// messages; optional.
	Desc string
}

// MaxTagLen is the longest virtio-fs tag (the device's config space).
const MaxTagLen = 36

// NIC is one network interface backed by a host tap.
type NIC struct {
	ID  string
	Tap string
	MAC string
	MTU int
	// Netns is the network namespace file Tap lives in; empty for the
	// daemon's own. Needs Capabilities.Netns.
	Netns string
}

// Spec is everything a backend needs to start one VM.
type Spec struct {
	// ID is the VM id; it names host objects and is set as EnvVMID.
	ID string
	// RuntimeDir exists and belongs to this VM; sockets go here. Keep it
	// short: unix socket paths are limited to 107 bytes.
	RuntimeDir string
	Kernel     Kernel
	// Cmdline holds the guest's kernel arguments from the daemon (root,
	// init, banger's boot settings). The backend appends what its machine
	// needs (console device, timer quirks).
	Cmdline   string
	CPUs      int
	MemoryMiB int
	Drives    []Drive
	NICs      []NIC
	// SharedDirs need Capabilities.SharedDirs; a backend without it
	// refuses a spec that has any.
	SharedDirs []SharedDir
	// ConsoleLog receives the guest's serial console.
	ConsoleLog string
	// AgentPort is the vsock port the guest agent listens on (Firecracker).
	AgentPort uint32
	// Accel overrides the probed accelerator ("kvm", "tcg"); empty = probe.
	Accel string
	// MemoryFile, when set, holds guest RAM in this file (created by the
	// backend, mapped shared, removed by Cleanup) instead of anonymous
	// memory, so a snapshot can keep RAM as a file of its own
	// (SnapshotSpec.MemPath). It belongs in the VM's runtime dir; on tmpfs
	// it costs no more than anonymous RAM. QEMU only (Firecracker writes
	// its memory file at the snapshot and ignores this).
	MemoryFile string
	// Record persists handles before each resource is created (see
	// Backend.Start). It may be nil in tests.
	Record func(Handles) error
}

// ErrNotMigratable is wrapped by SnapshotBlocker's answer.
var ErrNotMigratable = errors.New("the machine's state cannot be saved")

// SnapshotBlocker says why a machine started from s cannot be paused to
// a file, snapshotted, checkpointed or forked, or returns nil. A
// vhost-user-fs device holds its state in the virtiofsd process, outside
// the VMM, and QEMU refuses to migrate it ("State blocked by
// non-migratable device ... vhost-user-fs"); microvm has no hotplug to
// detach it first. Drives (named volumes, images) do not block.
func (s Spec) SnapshotBlocker() error {
	if len(s.SharedDirs) == 0 {
		return nil
	}
	return SharedDirsBlocker(SharedDirNames(s.SharedDirs))
}

// SharedDirNames names shared directories for messages and handles: the
// tag, with what the user asked for when known ("vol0 (-v /srv:/data)").
func SharedDirNames(dirs []SharedDir) []string {
	var names []string
	for _, d := range dirs {
		n := d.Tag
		if d.Desc != "" {
			n += " (" + d.Desc + ")"
		}
		names = append(names, n)
	}
	return names
}

// SharedDirsBlocker is SnapshotBlocker's error for a machine sharing the
// named directories (SharedDirNames), or nil when there are none.
func SharedDirsBlocker(tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w: it shares host directories through virtio-fs (%s), whose device cannot be migrated; a VM with -v host directories cannot be snapshotted", errdefs.ErrUnsupported, ErrNotMigratable, strings.Join(tags, ", "))
}

// Handles identify a running machine's host resources; the daemon stores
// them in handles.json and VM.Runtime.
type Handles struct {
	Backend string        `json:"backend"`
	Process proc.Identity `json:"process"`
	// Sockets by role: "qmp", "api", "agent", "vsock".
	Sockets map[string]string `json:"sockets,omitempty"`
	Accel   string            `json:"accel,omitempty"`
	// JailDir is the jailer's chroot, when the jailer is used.
	JailDir string `json:"jail_dir,omitempty"`
	// Confinement is how the backend confined the process itself (nil:
	// not at all).
	Confinement *Confinement `json:"confinement,omitempty"`
	// MemoryFile is the file holding guest RAM, when the backend created
	// one for it (Spec.MemoryFile); Release removes it.
	MemoryFile string `json:"memory_file,omitempty"`
	// SharedDirs name the directories the machine shares
	// (SharedDirNames); they keep its state from being saved
	// (SharedDirsBlocker), also once adopted.
	SharedDirs []string `json:"shared_dirs,omitempty"`
}

// Status is what the VMM says about the guest.
type Status string

// The statuses.
const (
	StatusRunning Status = "running"
	StatusPaused  Status = "paused"
	StatusStopped Status = "stopped"
)

// Exit describes how a VMM process ended.
type Exit struct {
	// Code is the VMM's exit status; -1 when it was killed by a signal or
	// is not our child (adopted).
	Code int
	// Signal is the signal that ended it, when known.
	Signal string
}

// Machine is one running VMM.
type Machine interface {
	// Handles returns the machine's recorded resources.
	Handles() Handles
	// DialAgent opens a byte stream to the guest agent (virtio-serial,
	// hybrid vsock). It may be called while the guest still boots; it
	// retries until ctx ends.
	DialAgent(ctx context.Context) (net.Conn, error)
	// Status asks the VMM for the guest's state.
	Status(ctx context.Context) (Status, error)
	// Shutdown asks the guest to power off (ACPI power button, Ctrl-Alt-Del)
	// and waits, until ctx ends, for the VMM to exit. It does not kill.
	Shutdown(ctx context.Context) error
	// Kill ends the VMM process now and waits for it to go.
	Kill(ctx context.Context) error
	// Wait blocks until the VMM process exits or ctx ends.
	Wait(ctx context.Context) (Exit, error)
	// Cleanup removes what the backend created on the host (sockets, jail)
	// after the process is gone. It is idempotent.
	Cleanup() error
}

// Pauser is a Machine that can pause and resume its vCPUs.
type Pauser interface {
	Pause(ctx context.Context) error
	Resume(ctx context.Context) error
}

// BlockStatser is a Machine that counts the bytes its guest read from and
// wrote to its drives (QEMU: QMP query-blockstats). Without it, stats fall
// back to the VMM process's I/O counters.
type BlockStatser interface {
	BlockStats(ctx context.Context) (BlockStats, error)
}

// BlockStats are a machine's drive I/O totals, over every drive.
type BlockStats struct {
	ReadBytes, WriteBytes uint64
}

// Sweeper is a Backend that names host objects after the VM they serve
// (QEMU's cgroup per VM), so they can be found and released from the VM's
// id alone: after a crash lost the record that named them, or when gc
// looks for leftovers.
type Sweeper interface {
	// Owned lists those objects, each with the VM id in its name.
	Owned() ([]Owned, error)
	// Sweep releases the objects of VM id, once its VMM is gone. It is
	// idempotent: nothing to release is success.
	Sweep(id string) error
}

// Owned is one host object a Sweeper found.
type Owned struct {
	// Kind is what it is ("cgroup").
	Kind string
	// Name says which (its path).
	Name string
	// VMID is the VM it belongs to.
	VMID string
}

// The guest agent channel's well-known names, shared by the backends (host
// side) and banger-agent (guest side).
const (
	// AgentPortName is the name of the QEMU virtio-serial port carrying the
	// agent's SSH connection; the guest finds it under
	// /sys/class/virtio-ports/*/name.
	AgentPortName = "banger.agent"
	// AgentVsockPort is the AF_VSOCK port the agent listens on
	// (Firecracker hybrid vsock: the host sends "CONNECT 1024\n").
	AgentVsockPort = 1024
	// AgentTCPPort is the agent's TCP fallback port on the VM's address.
	AgentTCPPort = 1022
)
