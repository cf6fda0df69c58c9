package snapshots

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Key is everything a restored machine must share with the machine a
// snapshot was taken from. Two keys are the same snapshot only when every
// field is equal; the ID is a digest of them all.
type Key struct {
	// Backend and Accel are the VMM and its accelerator ("kvm", "tcg"):
	// the saved CPU and device state is theirs.
	Backend string `json:"backend"`
	Accel   string `json:"accel,omitempty"`
	// ImageDigest is the image's digest; AgentSHA256 the agent it
	// carries (images record it), which is running in the saved memory.
	ImageDigest string `json:"image_digest"`
	AgentSHA256 string `json:"agent_sha256"`
	// DiskBytes is the root disk's size: the guest's file system was grown
	// to it before the save.
	DiskBytes int64 `json:"disk_bytes"`
	// KernelSHA256 is the kernel's digest. The initramfs is not part of
	// the key: banger builds it from the kernel's modules and the agent,
	// both in the key, and it is read only at boot.
	KernelSHA256 string `json:"kernel_sha256"`
	// Cmdline is the guest kernel's command line (the daemon's part, which
	// carries nothing of one VM's).
	Cmdline   string `json:"cmdline"`
	CPUs      int    `json:"cpus"`
	MemoryMiB int    `json:"memory_mib"`
	// MemoryFile says guest RAM is kept apart from the state (a memory
	// file the restored machines map copy-on-write).
	MemoryFile bool `json:"memory_file,omitempty"`
	// Drives are the machine's block devices, in order.
	Drives []Drive `json:"drives"`
	// NICs counts the machine's network interfaces.
	NICs int `json:"nics"`
	// Daemon is the fingerprint (SHA256:…) of the daemon's client key,
	// the one key the saved agent lets in: a restored agent trusts only
	// the key its snapshot booted with.
	Daemon string `json:"daemon"`
	// Checkpoint is a checkpoint's name (docs/architecture.md,
	// "Checkpoint and fork"): a checkpoint is one running VM's state at
	// one moment, never shared by shape, so its name is part of its key.
	// Boot snapshots leave it empty.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// Drive is the shape of one of the machine's block devices: what a
// restored machine's drive in the same place must be.
type Drive struct {
	ID       string `json:"id"`
	Format   string `json:"format,omitempty"`
	ReadOnly bool   `json:"read_only,omitempty"`
	Root     bool   `json:"root,omitempty"`
}

// IDLen is the length of a snapshot's ID, as a VM's.
const IDLen = 12

// ID is the snapshot's name: a digest of the whole key.
func (k Key) ID() string {
	b, err := json.Marshal(k) // struct fields marshal in a fixed order
	if err != nil {
		panic(fmt.Sprintf("snapshots: marshal key: %v", err)) // plain data: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:IDLen]
}

// Validate says what a key lacks to name a snapshot safely: a part left
// empty would match machines that differ in it.
func (k Key) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{
		{"backend", k.Backend}, {"image digest", k.ImageDigest}, {"agent sha256", k.AgentSHA256},
		{"kernel sha256", k.KernelSHA256}, {"daemon", k.Daemon},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("no %s", f.name))
		}
	}
	if k.CPUs <= 0 || k.MemoryMiB <= 0 {
		errs = append(errs, fmt.Errorf("cpus %d, memory %d MiB", k.CPUs, k.MemoryMiB))
	}
	roots := 0
	for _, d := range k.Drives {
		if d.Root {
			roots++
		}
	}
	if roots != 1 {
		errs = append(errs, fmt.Errorf("%d root drives, want 1", roots))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("snapshot key: %w: %w", errdefs.ErrInvalid, err)
	}
	return nil
}
