// Package vms is banger's VM service: create, start, stop, kill, wait and
// remove VMs, reconcile them with the host after a daemon restart, and
// account for every host object they hold.
//
// A start runs an ordered list of stages (stage.go) — image, kernel,
// backend, disk, network, runtime directory, boot config, VMM, agent —
// each of which acquires one kind of host resource and records it in the
// VM's runtime record (package handles) before creating it. Stop, rm, a
// failed start and reconcile run Release backwards over whatever the
// record holds. docs/architecture.md draws the pipeline and says where a
// new feature goes. A VM's restart policy (package restart) acts where its
// exit is handled (policy.go).
//
// The service is constructed with small interfaces at the host edges
// (Deps): the catalog of images and kernels, the VMM backends, the disk
// manager, host networking, the agent dialer and a clock. Its lifecycle
// logic is unit-tested in this package with fakes for those; whole-VM
// tests live in internal/e2e.
package vms

import (
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/hostaccess"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/restart"
	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/internal/volumes"
)

// State is where a VM is in its life.
type State string

// The VM states, docker's names where docker has one.
const (
	Created State = "created"
	Running State = "running"
	// Paused is a running VM whose vCPUs are frozen (Pause): its VMM
	// and every host resource stay.
	Paused State = "paused"
	Exited State = "exited"
	Failed State = "error"
	// Restarting is a VM whose main process ended and whose restart
	// policy starts it again after a back-off (policy.go); it holds
	// nothing on the host meanwhile.
	Restarting State = "restarting"
)

// Live reports whether a VM in state s has a VMM: it runs or is paused.
func (s State) Live() bool { return s == Running || s == Paused }

// UnmarshalText reads a state, taking "stopped" (what banger called an
// exited VM before) as Exited.
func (s *State) UnmarshalText(b []byte) error {
	*s = State(b)
	if *s == "stopped" {
		*s = Exited
	}
	return nil
}

// The network modes of Spec.Network; a third is "netns:PATH[:IFACE]"
// (hostnet.ParseNetns): attached to a network namespace others made, and
// any other value names a user-defined network (Spec.OnUserNetwork).
const (
	NetworkDefault = ""
	NetworkNone    = "none"
)

// inNetns says the VM is attached to a network namespace (netnsStage)
// instead of banger's bridge.
func (s Spec) inNetns() bool { return strings.HasPrefix(s.Network, hostnet.NetnsPrefix) }

// Spec is what the user asked for; only Update changes it after create (the
// restart policy).
type Spec struct {
	Image      string   `json:"image"`
	Kernel     string   `json:"kernel,omitempty"`
	CPUs       int      `json:"cpus"`
	MemoryMiB  int      `json:"memory_mib"`
	DiskBytes  int64    `json:"disk_bytes,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
	// Hostname is the guest's host name; empty is the VM's name made a
	// valid host name.
	Hostname string `json:"hostname,omitempty"`
	VMM      string `json:"vmm,omitempty"`
	Network  string `json:"network,omitempty"`
	// NetworkAliases are names the VM answers to on its user-defined
	// network, besides its own (run --network-alias).
	NetworkAliases []string `json:"network_aliases,omitempty"`
	// Ports are the -p mappings; a HostPort of 0 is picked at each start
	// (Summary.Ports, Published).
	Ports []hostnet.Port `json:"ports,omitempty"`
	// PublishAll is -P: Create adds a mapping without a host port for
	// each port the image exposes that Ports does not publish.
	PublishAll bool `json:"publish_all,omitempty"`
	// Mounts are the VM's volumes (-v, --mount), checked at create.
	Mounts []volumes.Mount `json:"mounts,omitempty"`
	Init   bool            `json:"init,omitempty"`
	// Cold is run --cold / create --cold: the VM always boots cold, never
	// from a boot snapshot nor into one.
	Cold bool `json:"cold,omitempty"`
	// Tmpfs are `--tmpfs PATH[:OPTIONS]` mounts ("/cache:size=64m").
	Tmpfs []string `json:"tmpfs,omitempty"`
	// DNS overrides what the guest's resolv.conf gets from its network.
	DNS DNS `json:"dns,omitzero"`
	// Detach is run -d (and create): no client attaches from the start,
	// and an image without a command is allowed (the VM then serves exec
	// until stopped). Either way the VM ends when its main process does,
	// as a container does.
	Detach bool `json:"detach,omitempty"`
	// TTY runs the main process on a terminal (run -t); Interactive keeps
	// its stdin open for an attached client (run -i).
	TTY         bool `json:"tty,omitempty"`
	Interactive bool `json:"interactive,omitempty"`
	AutoRemove  bool `json:"auto_remove,omitempty"`
	// Restart is the restart policy (run --restart); never with AutoRemove.
	Restart restart.Policy `json:"restart,omitzero"`
	// Labels are the user's KEY=VALUE metadata (run --label); banger only
	// keeps and shows them.
	Labels map[string]string `json:"labels,omitempty"`
	// From is the id of the checkpoint the VM's first start restores
	// (run --from); such a VM is Cold (it never holds).
	From string `json:"from,omitempty"`
	// Stdio are host paths for the main process's standard streams
	// (files or FIFOs, as a containerd shim gives them), reopened at each
	// start and by an adopting daemon.
	Stdio vmlogs.Stdio `json:"stdio,omitzero"`
	// Caller is whose access the host paths above were checked with at
	// create (Authorize), and are opened with again at each start; nil
	// for a spec the daemon made itself (root's).
	Caller *hostaccess.Caller `json:"caller,omitempty"`
}

// Summary is what `inspect` shows of a VM's runtime record. It is derived
// from the record (summarize) and never read back to decide anything.
type Summary struct {
	VMM          string `json:"vmm,omitempty"`
	Accel        string `json:"accel,omitempty"`
	PID          int    `json:"pid,omitempty"`
	RuntimeDir   string `json:"runtime_dir,omitempty"`
	DiskPath     string `json:"disk_path,omitempty"`
	DiskStrategy string `json:"disk_strategy,omitempty"`
	Tap          string `json:"tap,omitempty"`
	IP           string `json:"ip,omitempty"`
	MAC          string `json:"mac,omitempty"`
	// Ports are the published ports while the VM is attached, with the
	// host ports picked for those Spec.Ports left to banger (0).
	Ports []hostnet.Port `json:"ports,omitempty"`
	// Confinement says what confines the VMM process (vmm.Confinement's
	// summary, or its jail); "none" when it runs as root unconfined.
	Confinement string `json:"confinement,omitempty"`
}

// VM is one microVM's database record.
type VM struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`
	State   State   `json:"state"`
	Spec    Spec    `json:"spec"`
	ImageID string  `json:"image_id"`
	Runtime Summary `json:"runtime"`
	// ExitCode of the main process, once it has exited (128+N when signal
	// N ended it); ExitSignal names that signal, and OOMKilled says the
	// guest's OOM killer sent it.
	ExitCode   *int   `json:"exit_code,omitempty"`
	ExitSignal string `json:"exit_signal,omitempty"`
	OOMKilled  bool   `json:"oom_killed,omitempty"`
	// ExitReason says how an exited VM ended when it was not its main
	// process's doing alone ("killed: agent unresponsive").
	ExitReason string `json:"exit_reason,omitempty"`
	// Error and ErrorPhase say why a VM is in the error state; the phase
	// is the stage that failed, or guest, vmm, teardown, reconcile.
	Error       string    `json:"error,omitempty"`
	ErrorPhase  string    `json:"error_phase,omitempty"`
	ConsoleTail []string  `json:"console_tail,omitempty"`
	Created     time.Time `json:"created"`
	Started     time.Time `json:"started,omitzero"`
	// Stopped is when it exited (docker's FinishedAt).
	Stopped time.Time `json:"stopped,omitzero"`
	// Restarts is what the restart policy did since the last manual start.
	Restarts Restarts `json:"restarts,omitzero"`
	// Boot says how the VM's last start reached its agent.
	Boot Boot `json:"boot,omitzero"`
	// Forked says which VM and checkpoint it was restored from.
	Forked *Forked `json:"forked,omitempty"`
	// Request is the create request's spec with the config's defaults
	// applied, as Create got it (before the kernel is pinned): what a
	// later Put of the same name is compared with.
	Request *Spec `json:"request,omitempty"`
}

// Boot is how a start reached the VM's agent: a cold boot, or a restore
// of a boot snapshot (docs/architecture.md, "Boot snapshots").
type Boot struct {
	// Mode is BootCold or BootRestored.
	Mode string `json:"mode,omitempty"`
	// Snapshot is the boot snapshot it restored; Saved the one its cold
	// boot saved.
	Snapshot string `json:"snapshot,omitempty"`
	Saved    string `json:"saved,omitempty"`
}

// The modes of Boot.
const (
	BootCold     = "cold"
	BootRestored = "restored"
)

// Restarts is a VM's restart bookkeeping (docker's RestartCount and
// HasBeenManuallyStopped, plus the back-off), kept in its record so the
// policy survives a daemon restart.
type Restarts struct {
	// Count is how many times the policy started the VM since the user
	// last did; Last is when it last did.
	Count int       `json:"count,omitempty"`
	Last  time.Time `json:"last,omitzero"`
	// Delay is the back-off the policy waited (or waits) before its last
	// restart; the next doubles it unless the VM ran restart.ResetAfter.
	Delay time.Duration `json:"delay,omitempty"`
	// ManuallyStopped is the user's stop or kill, until the next manual
	// start: unless-stopped and on-failure do not restart such a VM.
	ManuallyStopped bool `json:"manually_stopped,omitempty"`
}

// Image is what a start needs of an image from the catalog.
type Image struct {
	ID     string
	Name   string
	Rootfs string
	// SizeBytes is the size of the read-only ext4 file Rootfs.
	SizeBytes int64
	// AgentVersion is "" when the image carries no guest agent.
	AgentVersion string
	// Digest is the image's digest and AgentSHA256 the digest of the
	// agent it carries: a boot snapshot fits only the same two.
	Digest      string
	AgentSHA256 string
	// HeldBoot says its VMs may boot held (images.Image.HeldBoot).
	HeldBoot bool
	// Config is the part of the image's OCI config a VM runs with.
	Config imagepull.Config
}

// Kernel is what a start needs of a kernel from the catalog.
type Kernel struct {
	Name    string
	Vmlinux string
	BzImage string
	Initrd  string
	// SHA256 is the digest of Vmlinux: a boot snapshot fits only it.
	SHA256 string
	// VirtioFS says the guest can mount shared directories (the
	// options are built in, or their modules are in Initrd).
	VirtioFS bool
}

// StartResult is a started VM and how long each stage took (ms).
type StartResult struct {
	VM      VM
	Timings map[string]float64
	// Warnings are what went wrong without failing the start (a boot
	// snapshot that could not be restored or saved).
	Warnings []string
}

// DNS is what a guest's /etc/resolv.conf says instead of what its network
// gives (run --dns, --dns-search, --dns-option): each field set replaces
// the network's.
type DNS struct {
	Servers []string `json:"servers,omitempty"`
	Search  []string `json:"search,omitempty"`
	Options []string `json:"options,omitempty"`
}

// IsZero reports whether d changes nothing.
func (d DNS) IsZero() bool {
	return len(d.Servers) == 0 && len(d.Search) == 0 && len(d.Options) == 0
}
