package vmm

import (
	"context"
	"errors"
)

// SnapshotType is "Full" or "Diff" (Firecracker's names).
type SnapshotType string

// The snapshot types.
const (
	SnapshotFull SnapshotType = "Full"
	SnapshotDiff SnapshotType = "Diff"
)

// SnapshotSpec names the files of a snapshot.
type SnapshotSpec struct {
	Type SnapshotType
	// StatePath receives the device and vCPU state (with QEMU, also guest
	// RAM unless MemPath is set).
	StatePath string
	// MemPath receives guest RAM. Firecracker always writes it; QEMU only
	// for a machine started with Spec.MemoryFile (its RAM file, frozen),
	// and it must be empty otherwise.
	MemPath string
}

// Snapshotter is a Machine that can save its state (it must be paused).
// The files are complete once CreateSnapshot returns.
type Snapshotter interface {
	CreateSnapshot(ctx context.Context, s SnapshotSpec) error
}

// RestoreSpec names a snapshot to start a VM from: the files a
// Snapshotter wrote.
type RestoreSpec struct {
	StatePath string
	// MemPath is the snapshot's RAM file, when it has one. The restored
	// machine maps it copy-on-write: the file never changes, and many
	// machines restore from it.
	MemPath string
	// Resume runs the guest right after loading; otherwise it stays
	// paused until Pauser.Resume.
	Resume bool
}

// ErrBadSnapshot is wrapped by Restore's error when the VMM refused the
// snapshot's state (a file it cannot load): the snapshot is unusable, not
// the host.
var ErrBadSnapshot = errors.New("the VMM cannot load the snapshot")

// Restorer is a Backend that starts a machine from a snapshot instead of
// booting it. The spec must describe the same machine as the snapshot's
// source (CPUs, memory, the same drives in the same order, as many NICs)
// but with this VM's files: its own copy of the disks as they were at the
// snapshot, its taps, its runtime dir and console. Like Start, it records
// each resource in spec.Record before creating it and removes everything
// it created on error; the machine it returns is an ordinary Machine
// (Attach adopts it like a booted one).
type Restorer interface {
	Restore(ctx context.Context, spec Spec, r RestoreSpec) (Machine, error)
}
