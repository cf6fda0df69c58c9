package api

import (
	"time"
)

// Version is the API version prefix; every route lives under it.
const Version = "/v1"

// Info answers GET /v1/info: who the daemon is and where it keeps things.
type Info struct {
	Version   string    `json:"version"`
	PID       int       `json:"pid"`
	StateDir  string    `json:"state_dir"`
	RunDir    string    `json:"run_dir"`
	CacheDir  string    `json:"cache_dir"`
	Socket    string    `json:"socket"`
	StartedAt time.Time `json:"started_at"`
	// ProxyHostKey is the daemon's SSH host key (authorized_keys format):
	// clients of the SSH front door pin it.
	ProxyHostKey string `json:"proxy_host_key,omitempty"`
}

// ImageConfig is the part of an OCI image config a VM runs with.
type ImageConfig struct {
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
	StopSignal string   `json:"stop_signal,omitempty"`
	// Labels are the image config's labels.
	Labels map[string]string `json:"labels,omitempty"`
	// ExposedPorts are the ports the image says it listens on ("80/tcp").
	ExposedPorts []string `json:"exposed_ports,omitempty"`
}

// Image is one bootable root file system in the catalog.
type Image struct {
	// ID names the image's directory under the state dir.
	ID string `json:"id"`
	// Name is the normalized reference or import name ("docker.io/library/debian:bookworm").
	Name string `json:"name"`
	// Source is what made the image: "pull", "import", "load", "tag",
	// "build" or "commit".
	Source string `json:"source"`
	// Digest is the manifest digest of a pull, or the sha256 of an imported tarball.
	Digest   string `json:"digest"`
	Platform string `json:"platform,omitempty"`
	// PlatformAssumed says the image's config named no os/architecture
	// (what crane append makes) and Platform is the host's, assumed.
	PlatformAssumed bool `json:"platform_assumed,omitempty"`
	// Rootfs is the absolute path of the read-only ext4 file.
	Rootfs string `json:"rootfs"`
	// SizeBytes is the size of the ext4 file; ContentBytes what the files hold.
	SizeBytes    int64 `json:"size_bytes"`
	ContentBytes int64 `json:"content_bytes"`
	Inodes       int64 `json:"inodes"`
	// Skipped counts tar entries not representable in the image (device and fifo nodes).
	Skipped int         `json:"skipped,omitempty"`
	Config  ImageConfig `json:"config"`
	// AgentVersion is the banger version whose guest agent the image
	// carries at /.banger/agent, "" when none was injected (a VM start
	// refuses such an image); AgentSHA256 is the agent binary's sha256.
	AgentVersion string `json:"agent_version"`
	AgentSHA256  string `json:"agent_sha256,omitempty"`
	// HeldBoot says its VMs may boot held, so start from boot snapshots;
	// an image imported before them is false (pull or import it again).
	HeldBoot bool `json:"held_boot,omitempty"`
	// Layers are the layer digests of a pull, oldest first.
	Layers  []string  `json:"layers,omitempty"`
	Created time.Time `json:"created"`
}

// PullRequest asks for POST /v1/images/pull.
type PullRequest struct {
	Reference string `json:"reference"`
	Platform  string `json:"platform,omitempty"`
	// SizeBytes overrides the content-aware file system size.
	SizeBytes int64 `json:"size_bytes,omitempty"`
}

// KernelCheck is the classification of one kernel config option.
type KernelCheck struct {
	Option string `json:"option"`
	// State is "builtin", "module" or "missing".
	State string `json:"state"`
	// Essential options missing make the kernel unusable.
	Essential bool `json:"essential,omitempty"`
	// Need says what banger uses the option for.
	Need string `json:"need,omitempty"`
	// Module is the module providing the option when State is "module".
	Module string `json:"module,omitempty"`
}

// Kernel is one guest kernel in the catalog. It records everything a VM
// start needs, so starting one is reading this record.
type Kernel struct {
	Name string `json:"name"`
	// Version is the kernel release ("6.1.0-56-cloud-amd64", as uname -r).
	Version string `json:"version"`
	// Arch is the kernel's architecture ("x86_64").
	Arch string `json:"arch,omitempty"`
	// Dir is the entry's directory; every path below is inside it.
	Dir string `json:"dir,omitempty"`
	// Vmlinux is the uncompressed ELF kernel (what Firecracker boots).
	Vmlinux string `json:"vmlinux"`
	// VmlinuxSHA256 is the digest of Vmlinux.
	VmlinuxSHA256 string `json:"vmlinux_sha256,omitempty"`
	// PVH says Vmlinux has a PVH entry point, so QEMU can boot the ELF
	// directly; without it QEMU needs BzImage.
	PVH bool `json:"pvh,omitempty"`
	// BzImage is the original compressed kernel, when there was one (QEMU boots it).
	BzImage string `json:"bzimage,omitempty"`
	// PayloadCodec is the compression of BzImage's payload.
	PayloadCodec string `json:"payload_codec,omitempty"`
	// Config is the stored kernel config; ConfigSource says where it came
	// from ("boot/config-6.1.0-56-cloud-amd64", "ikconfig", a file path).
	Config       string `json:"config,omitempty"`
	ConfigSource string `json:"config_source,omitempty"`
	// Initrd is the initramfs banger built to load the modules the guest needs.
	Initrd string `json:"initrd,omitempty"`
	// InitrdCodec is the initramfs compression.
	InitrdCodec string `json:"initrd_codec,omitempty"`
	// InitrdModules lists the modules in Initrd in load order, as paths
	// inside the initramfs (what /.banger/initrd.json says).
	InitrdModules []string `json:"initrd_modules,omitempty"`
	// InitrdOnDemand are the module groups in Initrd a VM loads only when
	// it asks (virtio-fs, for VMs that share directories), by group.
	InitrdOnDemand map[string][]string `json:"initrd_on_demand,omitempty"`
	// AgentSHA256 is the digest of the banger-agent built into Initrd as
	// /init; a different agent means the initramfs must be rebuilt.
	AgentSHA256 string `json:"agent_sha256,omitempty"`
	// Modules counts the modules in Initrd.
	Modules int           `json:"modules"`
	Checks  []KernelCheck `json:"checks,omitempty"`
	Default bool          `json:"default"`
	Source  string        `json:"source,omitempty"`
	// SizeBytes is what the entry's directory holds.
	SizeBytes int64     `json:"size_bytes,omitempty"`
	Created   time.Time `json:"created"`
}

// Check returns the state of a config option ("CONFIG_VIRTIO_VSOCKETS"),
// or "" when it was not checked.
func (k *Kernel) Check(option string) string {
	for _, c := range k.Checks {
		if c.Option == option {
			return c.State
		}
	}
	return ""
}

// KernelImportRequest asks for POST /v1/kernels/import with a path on the
// daemon's host. (An uploaded file is sent as the body instead, with the
// name and default flag in the query.)
type KernelImportRequest struct {
	// Path is a vmlinux, bzImage, .deb, tarball or directory.
	Path string `json:"path"`
	Name string `json:"name,omitempty"`
	// Config and Modules point at the kernel config and lib/modules/<release>
	// directory of a bare kernel file when they are not next to it.
	Config  string `json:"config,omitempty"`
	Modules string `json:"modules,omitempty"`
	Default bool   `json:"default,omitempty"`
}

// KernelPullRequest asks for POST /v1/kernels/pull.
type KernelPullRequest struct {
	// Ref is a catalog entry ("debian-cloud", "firecracker-6.1"), a URL
	// (with SHA256), or an OCI image reference.
	Ref  string `json:"ref"`
	Name string `json:"name,omitempty"`
	// SHA256 verifies a URL download.
	SHA256  string `json:"sha256,omitempty"`
	Default bool   `json:"default,omitempty"`
}

// VMState is where a VM is in its life.
type VMState string

// The VM states.
const (
	VMCreated VMState = "created"
	VMRunning VMState = "running"
	// VMPaused is a running VM whose vCPUs are frozen (banger pause).
	VMPaused VMState = "paused"
	VMExited VMState = "exited"
	VMError  VMState = "error"
	// VMRestarting is a VM waiting out its restart policy's back-off.
	VMRestarting VMState = "restarting"
)

// UpdateVMRequest asks for UpdateVM; nil fields stay as they are.
type UpdateVMRequest struct {
	Restart *RestartPolicy `json:"restart,omitempty"`
}

// RestartPolicy is a VM's --restart: Name is no, always, unless-stopped or
// on-failure, which MaxRetries bounds (0: no bound).
type RestartPolicy struct {
	Name       string `json:"name,omitempty"`
	MaxRetries int    `json:"max_retries,omitempty"`
}

// PortMapping publishes a guest port on the host.
type PortMapping struct {
	HostIP    string `json:"host_ip,omitempty"`
	HostPort  int    `json:"host_port"`
	GuestPort int    `json:"guest_port"`
	Protocol  string `json:"protocol"`
}

// PublishedPorts is what the VM publishes on the host now: while it runs,
// Runtime.Ports (with the host ports banger picked); otherwise the
// mappings that name their host port.
func (vm VM) PublishedPorts() []PortMapping {
	if len(vm.Runtime.Ports) > 0 {
		return vm.Runtime.Ports
	}
	var out []PortMapping
	for _, p := range vm.Spec.Ports {
		if p.HostPort != 0 {
			out = append(out, p)
		}
	}
	return out
}

// VMSpec is what the user asked for; it does not change after create.
type VMSpec struct {
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
	// Hostname is the guest's host name; empty is the VM's name.
	Hostname string `json:"hostname,omitempty"`
	VMM      string `json:"vmm,omitempty"`
	Network  string `json:"network,omitempty"`
	// NetworkAliases are names the VM answers to on its user-defined
	// network (run --network-alias).
	NetworkAliases []string `json:"network_aliases,omitempty"`
	// Ports are the -p mappings; a HostPort of 0 is picked by the daemon
	// at each start (VMRuntime.Ports says which).
	Ports []PortMapping `json:"ports,omitempty"`
	// PublishAll is -P: every port the image exposes gets a host port.
	PublishAll bool `json:"publish_all,omitempty"`
	// Mounts are the VM's volumes (-v, --mount).
	Mounts []Mount `json:"mounts,omitempty"`
	Init   bool    `json:"init,omitempty"`
	// Cold is run --cold / create --cold: the VM always boots cold,
	// never from a boot snapshot nor into one.
	Cold bool `json:"cold,omitempty"`
	// Tmpfs are `--tmpfs PATH[:OPTIONS]` mounts.
	Tmpfs []string `json:"tmpfs,omitempty"`
	// DNS replaces the resolvers, search domains and options the guest's
	// /etc/resolv.conf gets from its network (run --dns, --dns-search,
	// --dns-option; a CRI pod's DNS config).
	DNS DNSConfig `json:"dns,omitzero"`
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
	// Restart is the restart policy (run --restart).
	Restart RestartPolicy `json:"restart,omitzero"`
	// Labels are the user's KEY=VALUE metadata (run --label); banger only
	// keeps and shows them.
	Labels map[string]string `json:"labels,omitempty"`
	// From is the id of the checkpoint the VM's first start restores
	// (run --from; set by the daemon).
	From string `json:"from,omitempty"`
	// Stdio names host files or FIFOs for the main process's standard
	// streams, as a containerd shim is given them.
	Stdio Stdio `json:"stdio,omitzero"`
}

// DNSConfig is what a guest's /etc/resolv.conf says, as docker's --dns,
// --dns-search and --dns-option give it: resolver addresses (at most 3,
// all a resolver library reads), search domains and resolver options
// ("ndots:2"). Empty fields keep what the VM's network gives.
type DNSConfig struct {
	Servers []string `json:"servers,omitempty"`
	Search  []string `json:"search,omitempty"`
	Options []string `json:"options,omitempty"`
}

// Stdio is where a VM's main process reads and writes on the host,
// besides what the daemon keeps for `banger logs`: absolute paths of
// regular files (output appended, created when missing) or FIFOs, outside
// banger's own directories; empty is none. The daemon opens them at each
// start (a FIFO without blocking on its other end), and again when a new
// daemon adopts the running VM, continuing where the last one stopped.
// Stdin opens the process's stdin; its end of file closes it.
type Stdio struct {
	Stdin  string `json:"stdin,omitempty"`
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
}

// VMRuntime is what a VM holds on the host, as inspect shows it: a summary
// the daemon derives from the VM's runtime record.
type VMRuntime struct {
	VMM          string `json:"vmm,omitempty"`
	Accel        string `json:"accel,omitempty"`
	PID          int    `json:"pid,omitempty"`
	RuntimeDir   string `json:"runtime_dir,omitempty"`
	DiskPath     string `json:"disk_path,omitempty"`
	DiskStrategy string `json:"disk_strategy,omitempty"`
	Tap          string `json:"tap,omitempty"`
	IP           string `json:"ip,omitempty"`
	MAC          string `json:"mac,omitempty"`
	// Ports are the published ports while the VM runs, with the host
	// ports banger picked for -p GUESTPORT and -P.
	Ports []PortMapping `json:"ports,omitempty"`
	// Confinement says what confines the VMM process; "none" when it
	// runs as root unconfined.
	Confinement string `json:"confinement,omitempty"`
}

// VM is one microVM record.
type VM struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	State   VMState   `json:"state"`
	Spec    VMSpec    `json:"spec"`
	ImageID string    `json:"image_id"`
	Runtime VMRuntime `json:"runtime"`
	// ExitCode of the main process, once it has exited (128+N for signal
	// N); ExitSignal names the signal and OOMKilled says the guest's OOM
	// killer sent it. ExitReason says how a VM ended when it was not its
	// main process's doing alone ("killed: agent unresponsive").
	ExitCode   *int   `json:"exit_code,omitempty"`
	ExitSignal string `json:"exit_signal,omitempty"`
	OOMKilled  bool   `json:"oom_killed,omitempty"`
	ExitReason string `json:"exit_reason,omitempty"`
	// Error and ErrorPhase say why a VM is in the error state.
	Error       string    `json:"error,omitempty"`
	ErrorPhase  string    `json:"error_phase,omitempty"`
	ConsoleTail []string  `json:"console_tail,omitempty"`
	Created     time.Time `json:"created"`
	Started     time.Time `json:"started,omitzero"`
	Stopped     time.Time `json:"stopped,omitzero"`
	// RestartCount is how many times the restart policy started the VM
	// since the user last did; Restarted is when it last did.
	RestartCount int       `json:"restart_count,omitempty"`
	Restarted    time.Time `json:"restarted,omitzero"`
	// Boot says how the VM's last start reached its agent.
	Boot VMBoot `json:"boot,omitzero"`
	// Forked says which VM and checkpoint it was restored from (run
	// --from, fork).
	Forked *Forked `json:"forked,omitempty"`
}

// VMBoot is how a start reached a VM's agent.
type VMBoot struct {
	// Mode is "cold" (booted) or "restored" (from a boot snapshot).
	Mode string `json:"mode,omitempty"`
	// Snapshot is the boot snapshot it restored; Saved the one its cold
	// boot saved.
	Snapshot string `json:"snapshot,omitempty"`
	Saved    string `json:"saved,omitempty"`
}
