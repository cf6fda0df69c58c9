package vms

import (
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/snapshots"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// bootKey is the boot snapshot key of the VM starting in rt on machine
// spec (what the boot config stage prepared), whose agent lets in the
// daemon's clientKey: everything a restored machine must share with the
// one the snapshot was saved from.
// A VM that cannot be saved — its backend cannot snapshot, it shares a
// host directory — has no key, and the error says why; it boots cold.
//
// This is what both sides of boot snapshots ask: the save after a cold
// boot and the lookup before a restore (docs/architecture.md, "Boot
// snapshots").
func bootKey(rt *Runtime, spec vmm.Spec, clientKey ssh.PublicKey) (snapshots.Key, error) {
	if rt.Backend != nil && rt.caps().Snapshot && !rt.Image.HeldBoot {
		return snapshots.Key{}, fmt.Errorf("vm %s: %w: its image was imported before held boots (pull or import it again to have boot snapshots)", rt.VM.Name, errdefs.ErrUnsupported)
	}
	return machineKey(rt, spec, clientKey)
}

// machineKey is the key of the machine spec of the VM in rt: what a
// restore of its state must match (a boot snapshot's, a checkpoint's).
func machineKey(rt *Runtime, spec vmm.Spec, clientKey ssh.PublicKey) (snapshots.Key, error) {
	if rt.Backend == nil {
		return snapshots.Key{}, fmt.Errorf("vm %s: %w: no backend resolved", rt.VM.Name, errdefs.ErrInvalid)
	}
	if !rt.caps().Snapshot {
		return snapshots.Key{}, fmt.Errorf("vm %s: %w: the %s backend cannot save a machine", rt.VM.Name, errdefs.ErrUnsupported, rt.Backend.Name())
	}
	if err := rt.VM.SnapshotBlocker(); err != nil {
		return snapshots.Key{}, err
	}
	if err := spec.SnapshotBlocker(); err != nil {
		return snapshots.Key{}, fmt.Errorf("vm %s: %w", rt.VM.Name, err)
	}
	k := snapshots.Key{
		Backend:      rt.Backend.Name(),
		Accel:        spec.Accel,
		ImageDigest:  rt.Image.Digest,
		AgentSHA256:  rt.Image.AgentSHA256,
		DiskBytes:    rt.VM.Spec.DiskBytes,
		KernelSHA256: rt.Kernel.SHA256,
		Cmdline:      spec.Cmdline,
		CPUs:         spec.CPUs,
		MemoryMiB:    spec.MemoryMiB,
		MemoryFile:   spec.MemoryFile != "",
		NICs:         len(spec.NICs),
	}
	if clientKey != nil {
		k.Daemon = ssh.FingerprintSHA256(clientKey)
	}
	for _, d := range spec.Drives {
		k.Drives = append(k.Drives, snapshots.Drive{ID: d.ID, Format: d.Format, ReadOnly: d.ReadOnly, Root: d.Root})
	}
	if err := k.Validate(); err != nil {
		return snapshots.Key{}, fmt.Errorf("vm %s: %w", rt.VM.Name, err)
	}
	return k, nil
}
