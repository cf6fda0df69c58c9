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
}

// ImageConfig is the part of an OCI image config a VM runs with.
type ImageConfig struct {
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
}

// Image is one bootable root file system in the catalog.
type Image struct {
	// ID names the image's directory under the state dir.
	ID string `json:"id"`
	// Name is the normalized reference or import name ("docker.io/library/debian:bookworm").
	Name string `json:"name"`
	// Source is "pull" or "import".
	Source string `json:"source"`
	// Digest is the manifest digest of a pull, or the sha256 of an imported tarball.
	Digest   string `json:"digest"`
	Platform string `json:"platform,omitempty"`
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
}

// Kernel is one guest kernel in the catalog.
type Kernel struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Vmlinux is the uncompressed ELF kernel (what Firecracker boots).
	Vmlinux string `json:"vmlinux"`
	// BzImage is the original compressed kernel, when there was one (QEMU boots it).
	BzImage string `json:"bzimage,omitempty"`
	// Initrd is the initramfs banger built to load the modules the guest needs.
	Initrd string `json:"initrd,omitempty"`
	// Modules counts the modules in Initrd.
	Modules int           `json:"modules"`
	Checks  []KernelCheck `json:"checks,omitempty"`
	Default bool          `json:"default"`
	Source  string        `json:"source,omitempty"`
	Created time.Time     `json:"created"`
}

// VMState is where a VM is in its life.
type VMState string

// The VM states.
const (
	VMCreated VMState = "created"
	VMRunning VMState = "running"
	VMStopped VMState = "stopped"
	VMError   VMState = "error"
)

// PortMapping publishes a guest port on the host.
type PortMapping struct {
	HostIP    string `json:"host_ip,omitempty"`
	HostPort  int    `json:"host_port"`
	GuestPort int    `json:"guest_port"`
	Protocol  string `json:"protocol"`
}

// VMSpec is what the user asked for; it does not change after create.
type VMSpec struct {
	Image      string        `json:"image"`
	Kernel     string        `json:"kernel,omitempty"`
	CPUs       int           `json:"cpus"`
	MemoryMiB  int           `json:"memory_mib"`
	DiskBytes  int64         `json:"disk_bytes,omitempty"`
	Cmd        []string      `json:"cmd,omitempty"`
	Entrypoint []string      `json:"entrypoint,omitempty"`
	Env        []string      `json:"env,omitempty"`
	WorkingDir string        `json:"working_dir,omitempty"`
	User       string        `json:"user,omitempty"`
	VMM        string        `json:"vmm,omitempty"`
	Network    string        `json:"network,omitempty"`
	Ports      []PortMapping `json:"ports,omitempty"`
	Init       bool          `json:"init,omitempty"`
	Detach     bool          `json:"detach,omitempty"`
	AutoRemove bool          `json:"auto_remove,omitempty"`
}

// VMRuntime mirrors the VM's handles.json: every host resource the VM holds,
// recorded before it is created, so a restarted daemon can release it even
// when the runtime dir is gone.
type VMRuntime struct {
	VMM          string   `json:"vmm,omitempty"`
	Accel        string   `json:"accel,omitempty"`
	PID          int      `json:"pid,omitempty"`
	StartTime    uint64   `json:"start_time,omitempty"`
	BootID       string   `json:"boot_id,omitempty"`
	RuntimeDir   string   `json:"runtime_dir,omitempty"`
	DiskPath     string   `json:"disk_path,omitempty"`
	DiskStrategy string   `json:"disk_strategy,omitempty"`
	Loops        []string `json:"loops,omitempty"`
	DMNames      []string `json:"dm_names,omitempty"`
	Tap          string   `json:"tap,omitempty"`
	IP           string   `json:"ip,omitempty"`
	MAC          string   `json:"mac,omitempty"`
}

// VM is one microVM record.
type VM struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	State   VMState   `json:"state"`
	Spec    VMSpec    `json:"spec"`
	ImageID string    `json:"image_id"`
	Runtime VMRuntime `json:"runtime"`
	// ExitCode of the main process, once it has exited.
	ExitCode *int `json:"exit_code,omitempty"`
	// Error and ErrorPhase say why a VM is in the error state.
	Error       string    `json:"error,omitempty"`
	ErrorPhase  string    `json:"error_phase,omitempty"`
	ConsoleTail []string  `json:"console_tail,omitempty"`
	Created     time.Time `json:"created"`
	Started     time.Time `json:"started,omitzero"`
	Stopped     time.Time `json:"stopped,omitzero"`
}
