package firecracker

// Request and response bodies of the Firecracker v1.16.1 API, written from
// the definitions of specs/firecracker-api-v1.16.1.yaml. Only the fields
// banger sends or reads are here; optional ones are omitempty so an unset
// value takes Firecracker's default.

// MachineConfig is the MachineConfiguration definition.
type MachineConfig struct {
	VCPUCount       int  `json:"vcpu_count"`
	MemSizeMiB      int  `json:"mem_size_mib"`
	SMT             bool `json:"smt"`
	TrackDirtyPages bool `json:"track_dirty_pages"`
}

// BootSource is the BootSource definition.
type BootSource struct {
	KernelImagePath string `json:"kernel_image_path"`
	InitrdPath      string `json:"initrd_path,omitempty"`
	BootArgs        string `json:"boot_args,omitempty"`
}

// Drive is the Drive definition (virtio-block).
type Drive struct {
	DriveID      string `json:"drive_id"`
	PathOnHost   string `json:"path_on_host"`
	IsRootDevice bool   `json:"is_root_device"`
	IsReadOnly   bool   `json:"is_read_only"`
}

// NetworkInterface is the NetworkInterface definition.
type NetworkInterface struct {
	IfaceID     string `json:"iface_id"`
	HostDevName string `json:"host_dev_name"`
	GuestMAC    string `json:"guest_mac,omitempty"`
	MTU         int    `json:"mtu,omitempty"`
}

// Vsock is the Vsock definition (hybrid vsock over a unix socket).
type Vsock struct {
	GuestCID int    `json:"guest_cid"`
	UDSPath  string `json:"uds_path"`
}

// EntropyDevice is the EntropyDevice definition (virtio-rng).
type EntropyDevice struct{}

// Logger is the Logger definition.
type Logger struct {
	LogPath   string `json:"log_path"`
	Level     string `json:"level,omitempty"`
	ShowLevel bool   `json:"show_level"`
}

// Metrics is the Metrics definition.
type Metrics struct {
	MetricsPath string `json:"metrics_path"`
}

// InstanceActionInfo is the InstanceActionInfo definition.
type InstanceActionInfo struct {
	ActionType string `json:"action_type"`
}

// The action types.
const (
	ActionInstanceStart  = "InstanceStart"
	ActionSendCtrlAltDel = "SendCtrlAltDel"
	ActionFlushMetrics   = "FlushMetrics"
)

// VM is the Vm definition (PATCH /vm).
type VM struct {
	State string `json:"state"`
}

// The VM states PATCH /vm accepts.
const (
	VMPaused  = "Paused"
	VMResumed = "Resumed"
)

// SnapshotCreateParams is the SnapshotCreateParams definition.
type SnapshotCreateParams struct {
	SnapshotType string `json:"snapshot_type,omitempty"`
	SnapshotPath string `json:"snapshot_path"`
	MemFilePath  string `json:"mem_file_path"`
}

// MemoryBackend is the MemoryBackend definition.
type MemoryBackend struct {
	BackendType string `json:"backend_type"`
	BackendPath string `json:"backend_path"`
}

// NetworkOverride is the NetworkOverride definition.
type NetworkOverride struct {
	IfaceID     string `json:"iface_id"`
	HostDevName string `json:"host_dev_name"`
}

// VsockOverride is the VsockOverride definition.
type VsockOverride struct {
	UDSPath string `json:"uds_path"`
}

// SnapshotLoadParams is the SnapshotLoadParams definition. banger uses
// mem_backend, not the deprecated mem_file_path.
type SnapshotLoadParams struct {
	SnapshotPath     string            `json:"snapshot_path"`
	MemBackend       MemoryBackend     `json:"mem_backend"`
	TrackDirtyPages  bool              `json:"track_dirty_pages,omitempty"`
	ResumeVM         bool              `json:"resume_vm,omitempty"`
	NetworkOverrides []NetworkOverride `json:"network_overrides,omitempty"`
	VsockOverride    *VsockOverride    `json:"vsock_override,omitempty"`
}

// InstanceInfo is the InstanceInfo definition (GET /).
type InstanceInfo struct {
	AppName    string `json:"app_name"`
	ID         string `json:"id"`
	State      string `json:"state"`
	VMMVersion string `json:"vmm_version"`
}

// The instance states GET / reports.
const (
	StateNotStarted = "Not started"
	StateRunning    = "Running"
	StatePaused     = "Paused"
)

// Error is the Error definition every failed request answers with.
type Error struct {
	FaultMessage string `json:"fault_message"`
}
