package vms

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/snapshots"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// The files a checkpoint adds to its snapshot's (snapshots.StateFile,
// MemoryFile, HostKeyFile): the clone of the source's root disk, that
// disk's description (strategy, format) and the source VM as it was.
const (
	checkpointDisk   = "disk"
	checkpointDiskMD = "disk.json"
	checkpointVM     = "vm.json"
)

// Checkpoint is a stored checkpoint: a running VM's state and disk at one
// moment, which `run --from` restores any number of times.
type Checkpoint struct {
	snapshots.Snapshot
	// Name is the checkpoint's name (its key's); VMName its source's
	// name then.
	Name, VMName string
	// Frozen is how long the source VM was paused to take it (only in
	// Checkpoint's answer).
	Frozen time.Duration
}

// checkpointOf is the stored checkpoint sn with its name (its key's) and
// its source VM's name (from the source's record it keeps, vm.json).
func checkpointOf(sn snapshots.Snapshot) Checkpoint {
	ck := Checkpoint{Snapshot: sn, Name: sn.Key.Checkpoint}
	var src VM
	if b, err := sn.ReadFile(checkpointVM); err == nil && json.Unmarshal(b, &src) == nil {
		ck.VMName = src.Name
	}
	return ck
}

// Checkpoint pauses the running VM ref, saves its state (RAM in the state
// file, or its memory file copied when it has one), clones its root disk
// into the checkpoint store, and resumes it; the VM goes on as it was,
// frozen only for the save and the clone. The checkpoint's temporary
// directory is named in the VM's runtime record before it exists, so a
// crash leaves nothing a later `run --from` reads, and whatever it left
// is released from the record (the checkpoint stage) or by gc. A VM with
// volumes is refused: their state is outside the checkpoint.
func (s *Service) Checkpoint(ctx context.Context, ref, name string) (Checkpoint, error) {
	if s.Checkpoints == nil {
		return Checkpoint{}, fmt.Errorf("%w: this daemon has no checkpoint store", errdefs.ErrUnavailable)
	}
	vm, err := s.Get(ref)
	if err != nil {
		return Checkpoint{}, err
	}
	unlock := s.locks.Lock(vm.ID)
	defer unlock()
	if vm, err = s.Get(vm.ID); err != nil {
		return Checkpoint{}, err
	}
	if err := refusePaused(vm); err != nil {
		return Checkpoint{}, err
	}
	lv, err := s.running(vm)
	if err != nil {
		return Checkpoint{}, err
	}
	if name == "" {
		name = vm.Name + "-" + s.now().Format("20060102-150405")
	}
	if err := checkVMName(name); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint name: %w", err)
	}
	if _, err := s.Checkpoints.Get(name); err == nil {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: %w; remove it with `banger checkpoint rm %s` or pick another --name", name, errdefs.ErrExists, name)
	}
	key, err := s.checkpointKey(lv.rt, name)
	if err != nil {
		return Checkpoint{}, err
	}
	pauser, err := pauserOf(vm, lv)
	if err != nil {
		return Checkpoint{}, err
	}
	ck, err := s.takeCheckpoint(ctx, lv.rt, pauser, key)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("vm %s: checkpoint %s: %w", vm.Name, name, err)
	}
	s.Log.Info("vm checkpointed", "vm", vm.ID, "checkpoint", name, "id", ck.ID, "frozen_ms", ck.Frozen.Milliseconds(), "bytes", ck.SizeBytes)
	s.emitCheckpoint(events.Create, ck, "")
	return ck, nil
}

// checkpointKey is the key of a checkpoint of the running VM of rt: its
// machine's (what a restore must match) and the checkpoint's name. A VM
// whose machine this daemon did not start (adopted after a restart), or
// that has volumes, is refused with the reason.
func (s *Service) checkpointKey(rt *Runtime, name string) (snapshots.Key, error) {
	vm := rt.VM
	if len(vm.Spec.Mounts) > 0 {
		return snapshots.Key{}, fmt.Errorf("vm %s: %w: it has volumes or shared directories (-v/--mount), whose contents a checkpoint does not keep; checkpoint a VM without them", vm.Name, errdefs.ErrUnsupported)
	}
	if len(rt.Boot.Drives) == 0 || rt.Disk.Path == "" {
		return snapshots.Key{}, fmt.Errorf("vm %s: %w: it was started by an earlier daemon, whose machine description this one does not have; restart it (`banger restart %s`) to checkpoint it", vm.Name, errdefs.ErrUnsupported, vm.Name)
	}
	if _, ok := rt.Machine.(vmm.Snapshotter); !ok {
		return snapshots.Key{}, fmt.Errorf("vm %s: %w: its machine cannot be saved", vm.Name, errdefs.ErrUnsupported)
	}
	spec := rt.Boot
	if rt.Hold != nil && rt.Hold.restored {
		// A machine restored from a boot snapshot maps the snapshot's
		// memory privately: its RAM is not a file of its own, and goes
		// into the state file.
		spec.MemoryFile = ""
	}
	k, err := machineKey(rt, spec, s.ClientKey)
	if err != nil {
		return k, err
	}
	k.Checkpoint = name
	return k, nil
}

// takeCheckpoint records the checkpoint's directory in the VM's record,
// makes it, pauses the machine (with pauser), saves it and clones its
// disk, resumes it (whatever failed), and commits. A failure removes the
// directory and clears the section; a directory that cannot be removed
// stays in the section for the checkpoint stage's Release.
func (s *Service) takeCheckpoint(ctx context.Context, rt *Runtime, pauser vmm.Pauser, key snapshots.Key) (Checkpoint, error) {
	rec := rt.Record
	p, err := s.Checkpoints.Prepare(key, snapshots.Origin{Image: rt.Image.Name, Kernel: rt.Kernel.Name, VM: rt.VM.ID})
	if err != nil {
		return Checkpoint{}, err
	}
	return recordedWrite(rec, &rec.Checkpoint, p, cpCheckpointRecorded, func() (Checkpoint, error) {
		return s.writeCheckpoint(ctx, rt, pauser, p)
	})
}

func (s *Service) writeCheckpoint(ctx context.Context, rt *Runtime, pauser vmm.Pauser, p *snapshots.Pending) (Checkpoint, error) {
	if err := p.Create(); err != nil {
		return Checkpoint{}, err
	}
	vmJSON, err := json.Marshal(rt.VM)
	if err != nil {
		return Checkpoint{}, err
	}
	disk, frozen, err := s.freeze(ctx, rt, pauser, p)
	if err != nil {
		return Checkpoint{}, err
	}
	diskJSON, err := json.Marshal(disk)
	if err != nil {
		return Checkpoint{}, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{snapshots.HostKeyFile, []byte(rt.HostKey.AuthorizedKey())},
		{checkpointDiskMD, diskJSON},
		{checkpointVM, vmJSON},
	} {
		if err := p.WriteFile(f.name, f.data); err != nil {
			return Checkpoint{}, err
		}
	}
	if err := p.Add(checkpointDisk); err != nil {
		return Checkpoint{}, err
	}
	sn, err := p.Commit()
	if err != nil {
		return Checkpoint{}, err
	}
	cpCheckpointCommitted.Hit()
	ck := checkpointOf(sn)
	ck.Frozen = frozen
	return ck, nil
}

// freeze is the part of a checkpoint the source VM is paused for: its
// state saved, its disk cloned (the pause flushed what the guest wrote).
// The machine is resumed whatever failed; a machine that cannot be is
// errNotResumed.
func (s *Service) freeze(ctx context.Context, rt *Runtime, pauser vmm.Pauser, p *snapshots.Pending) (rootfs.Disk, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, saveTimeout)
	defer cancel()
	t0 := time.Now()
	if err := pauser.Pause(ctx); err != nil {
		return rootfs.Disk{}, 0, fmt.Errorf("pause: %w", err)
	}
	cpCheckpointPaused.Hit()
	err := rt.Machine.(vmm.Snapshotter).CreateSnapshot(ctx, p.Spec())
	var disk rootfs.Disk
	if err == nil {
		disk, err = s.Disks.Clone(ctx, rt.Disk, p.Path(checkpointDisk))
	}
	cpCheckpointWritten.Hit()
	if rerr := pauser.Resume(context.WithoutCancel(ctx)); rerr != nil {
		return rootfs.Disk{}, 0, fmt.Errorf("%w: %w", errNotResumed, rerr)
	}
	return disk, time.Since(t0), err
}

// checkpointStage releases a checkpoint a crash or a failure cut short:
// its section of the record names the temporary directory, which goes.
// Taking a checkpoint is an operation on a running VM, not a step of a
// start: Acquire has nothing to do.
type checkpointStage struct{ s *Service }

func (checkpointStage) Name() string { return "checkpoint" }

func (checkpointStage) skip(*Runtime) bool { return true }

func (checkpointStage) Acquire(context.Context, *Runtime) error { return nil }

func (st checkpointStage) Release(_ context.Context, rt *Runtime) error {
	return discardPending(rt.Record, "checkpoint", &rt.Record.Checkpoint, st.s.Checkpoints)
}

// ListCheckpoints lists the stored checkpoints.
func (s *Service) ListCheckpoints() ([]Checkpoint, error) {
	if s.Checkpoints == nil {
		return []Checkpoint{}, nil
	}
	sns, err := s.Checkpoints.List()
	out := make([]Checkpoint, 0, len(sns))
	for _, sn := range sns {
		out = append(out, checkpointOf(sn))
	}
	return out, err
}

// RemoveCheckpoint deletes a checkpoint by name, id or id prefix. VMs
// restored from it keep running: their disks are their own copies.
func (s *Service) RemoveCheckpoint(ref string) (Checkpoint, error) {
	if s.Checkpoints == nil {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: %w", ref, errdefs.ErrNotFound)
	}
	sn, err := s.Checkpoints.Remove(ref)
	if err != nil {
		return Checkpoint{}, err
	}
	ck := checkpointOf(sn)
	s.emitCheckpoint(events.Remove, ck, "")
	return ck, nil
}
