package api

import "time"

// Checkpoint is a running VM's state and disk at one moment, taken by
// `banger checkpoint`; `banger run --from` restores new VMs from it.
type Checkpoint struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// VM and VMName are the VM it was taken of (which may be gone since).
	VM     string `json:"vm"`
	VMName string `json:"vm_name,omitempty"`
	Image  string `json:"image,omitempty"`
	Kernel string `json:"kernel,omitempty"`
	// Backend, CPUs, MemoryMiB and MemoryFile are the saved machine's.
	Backend    string    `json:"backend"`
	CPUs       int       `json:"cpus"`
	MemoryMiB  int       `json:"memory_mib"`
	MemoryFile bool      `json:"memory_file,omitempty"`
	Created    time.Time `json:"created"`
	// Path is its directory; SizeBytes what its files hold (the disk's
	// clone is sparse: its apparent size counts).
	Path      string         `json:"path"`
	SizeBytes int64          `json:"size_bytes"`
	Files     []SnapshotFile `json:"files"`
	// FrozenMS is how long the source VM was paused to take it; only in
	// CheckpointVM's answer.
	FrozenMS float64 `json:"frozen_ms,omitempty"`
}

// CheckpointRequest asks for POST /v1/vms/{ref}/checkpoint.
type CheckpointRequest struct {
	// Name is the checkpoint's; empty names it VM-YYYYMMDD-HHMMSS.
	Name string `json:"name,omitempty"`
}

// Forked says which VM, and which checkpoint of it, a VM was restored
// from (`banger run --from`).
type Forked struct {
	VM           string `json:"vm"`
	VMName       string `json:"vm_name"`
	Checkpoint   string `json:"checkpoint"`
	CheckpointID string `json:"checkpoint_id"`
}
