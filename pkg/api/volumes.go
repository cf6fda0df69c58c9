package api

import "time"

// The mount types of Mount.Type.
const (
	MountBind   = "bind"
	MountVolume = "volume"
	MountImage  = "image"
	// MountPod is a pod VM's share: an empty directory under which the
	// daemon mounts each container's image (AddContainer).
	MountPod = "pod"
)

// Mount is one of a VM's volumes, as `-v` or `--mount` gave it.
type Mount struct {
	// Type is bind (a host directory shared live), volume (a named
	// volume), image (a directory copied into an ext4 drive) or pod (a
	// pod VM's share; no source).
	Type string `json:"type"`
	// Source is an absolute host path, or a volume's name.
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// SizeBytes sizes an image's ext4 (0: its content plus headroom).
	SizeBytes int64 `json:"size_bytes,omitempty"`
}

// CreateVolumeRequest asks for POST /v1/volumes.
type CreateVolumeRequest struct {
	Name string `json:"name"`
	// SizeBytes is the volume's size (0: the daemon's default, 10 GiB);
	// the file is sparse.
	SizeBytes int64 `json:"size_bytes,omitempty"`
}

// Volume is a named volume: an ext4 disk kept until it is removed.
type Volume struct {
	Name      string    `json:"name"`
	SizeBytes int64     `json:"size_bytes"`
	UUID      string    `json:"uuid"`
	Created   time.Time `json:"created"`
	// AttachedTo is the id of the running VM that holds it.
	AttachedTo string `json:"attached_to,omitempty"`
	// Path, AllocatedBytes (what the sparse file takes on the host's
	// disk) and UsedBy (the VMs whose spec mounts it) are answered by
	// GetVolume.
	Path           string   `json:"path,omitempty"`
	AllocatedBytes int64    `json:"allocated_bytes,omitempty"`
	UsedBy         []string `json:"used_by,omitempty"`
}
