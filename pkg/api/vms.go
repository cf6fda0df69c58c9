package api

// CreateVMRequest asks for POST /v1/vms.
type CreateVMRequest struct {
	// Name is optional; the daemon picks one ("swift_heron") when empty.
	Name string `json:"name,omitempty"`
	Spec VMSpec `json:"spec"`
	// From is a checkpoint (name or id): the VM is the source's, as it
	// was then, restored at its first start with its own identity; Spec
	// then only gives Detach.
	From string `json:"from,omitempty"`
}

// PutVMRequest asks for PUT /v1/vms/{name}: the VM named so, with this
// spec, created unless it exists.
type PutVMRequest struct {
	Spec VMSpec `json:"spec"`
}

// StartResult answers POST /v1/vms/{ref}/start once the guest agent is
// ready.
type StartResult struct {
	VM VM `json:"vm"`
	// Timings are the durations of the start's stages, in milliseconds:
	// image, kernel, backend, disk, network, rundir, bootcfg, vmm (or
	// restore, when a boot snapshot was restored instead), agent, save
	// (a cold boot saved as a boot snapshot), identity (the VM's own
	// config applied after the hold); a stage the VM does not need is
	// absent. VM.Boot says whether it booted cold or restored.
	Timings map[string]float64 `json:"timings"`
}

// The network modes of VMSpec.Network. A third, "netns:PATH[:IFACE]"
// (NetworkNetnsPrefix), attaches the VM to a network namespace something
// else made and configured (a CNI pod's): its tap lives there, joined to
// the namespace's interface IFACE (default: its only one besides lo), and
// the guest takes that interface's address, gateway and MAC. Ports are
// not published for such a VM. Any other value names a user-defined
// network (CreateNetwork); "bridge" is the default network.
const (
	NetworkDefault     = ""
	NetworkNone        = "none"
	NetworkNetnsPrefix = "netns:"
)

// DoctorReport answers GET /v1/doctor: what the daemon detected on the host
// and what it will use.
type DoctorReport struct {
	Checks []DoctorCheck `json:"checks"`
	// Uses says what banger picks here: vmm, accel, disk strategy.
	Uses map[string]string `json:"uses"`
}

// DoctorCheck is one detected capability.
type DoctorCheck struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Detail is the version found, or why not.
	Detail string `json:"detail"`
}

// GCReport answers POST /v1/gc: host objects banger owns that no VM record
// explains, and whether they were removed.
type GCReport struct {
	DryRun  bool         `json:"dry_run"`
	Objects []HostObject `json:"objects"`
}

// HostObject is one host object banger owns (GET /v1/inventory), or one
// that gc found orphaned.
type HostObject struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Owner   string `json:"owner,omitempty"`
	Removed bool   `json:"removed"`
	Error   string `json:"error,omitempty"`
}

// RenameVMRequest asks for POST /v1/vms/{ref}/rename.
type RenameVMRequest struct {
	Name string `json:"name"`
}

// PutVMContainerRequest asks for PUT /v1/vms/{ref}/containers/{id}.
type PutVMContainerRequest struct {
	// Image is the container's image (a name or id banger has).
	Image string `json:"image"`
}

// VMStatsRequest asks for POST /v1/stats.
type VMStatsRequest struct {
	// VMs are refs of running VMs; empty means every running VM.
	VMs []string `json:"vms,omitempty"`
}

// VMStats is one VM's sample. A nil number is unknown: guest memory of a
// paused VM or of a guest agent older than the request, network bytes of
// a VM without a network.
type VMStats struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// CPUPercent is the VMM process's CPU use over the sampling window
	// (100 is one host CPU).
	CPUPercent float64 `json:"cpu_percent"`
	// VMMRSSBytes is the VMM process's resident memory; PIDs its tasks.
	VMMRSSBytes uint64 `json:"vmm_rss_bytes"`
	PIDs        int    `json:"pids"`
	// GuestMemoryUsedBytes and GuestMemoryTotalBytes are the guest's own
	// view (total less available, as free(1) counts it).
	GuestMemoryUsedBytes  *uint64 `json:"guest_memory_used_bytes"`
	GuestMemoryTotalBytes *uint64 `json:"guest_memory_total_bytes"`
	// BlockReadBytes and BlockWriteBytes are the drives' totals since
	// the VM started.
	BlockReadBytes  *uint64 `json:"block_read_bytes"`
	BlockWriteBytes *uint64 `json:"block_write_bytes"`
	// NetRxBytes and NetTxBytes are bytes the guest received and sent.
	NetRxBytes *uint64 `json:"net_rx_bytes"`
	NetTxBytes *uint64 `json:"net_tx_bytes"`
	// Error says why the VM could not be sampled.
	Error string `json:"error,omitempty"`
}
