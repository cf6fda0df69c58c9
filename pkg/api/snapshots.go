package api

import "time"

// Snapshot is a boot snapshot: a machine saved once its agent was ready,
// which later VMs of the same image, kernel, agent, backend and shape
// start from.
type Snapshot struct {
	ID string `json:"id"`
	// Image and Kernel are what it was made from (names at the time);
	// ImageDigest, KernelSHA256 and AgentSHA256 are what decide whether
	// it still fits.
	Image        string `json:"image,omitempty"`
	ImageDigest  string `json:"image_digest"`
	Kernel       string `json:"kernel,omitempty"`
	KernelSHA256 string `json:"kernel_sha256"`
	AgentSHA256  string `json:"agent_sha256"`
	Backend      string `json:"backend"`
	Accel        string `json:"accel,omitempty"`
	// Cmdline is the guest kernel's command line it booted with.
	Cmdline   string `json:"cmdline"`
	CPUs      int    `json:"cpus"`
	MemoryMiB int    `json:"memory_mib"`
	// MemoryFile says guest RAM is a file of its own (mapped
	// copy-on-write by every VM restored from it), not in the state.
	MemoryFile bool  `json:"memory_file,omitempty"`
	DiskBytes  int64 `json:"disk_bytes"`
	// Drives are the machine's drive ids in order; NICs its NIC count.
	Drives []string `json:"drives"`
	NICs   int      `json:"nics"`
	// VM is the id of the VM whose first boot was saved.
	VM      string    `json:"vm,omitempty"`
	Created time.Time `json:"created"`
	// Path is its directory; SizeBytes what its files hold.
	Path      string         `json:"path"`
	SizeBytes int64          `json:"size_bytes"`
	Files     []SnapshotFile `json:"files"`
	// Stale says no start can use it any more: its image, kernel or
	// agent is gone or changed (`banger snapshot prune` removes it).
	Stale bool `json:"stale"`
}

// SnapshotFile is one file of a snapshot with its recorded digest.
type SnapshotFile struct {
	Name      string `json:"name"`
	SizeBytes int64  `json:"size_bytes"`
	SHA256    string `json:"sha256"`
}

// PruneSnapshotsRequest asks for POST /v1/snapshots/prune.
type PruneSnapshotsRequest struct {
	// All removes every snapshot, not only the stale ones.
	All bool `json:"all,omitempty"`
}
