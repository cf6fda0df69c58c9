package vms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/restart"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/rootfs/dmsnap"
	"github.com/bangerdev/banger/internal/snapshots"
	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Forked says which running VM, and which checkpoint of it, a VM was
// restored from (`banger run --from`).
type Forked struct {
	VM         string `json:"vm"`
	VMName     string `json:"vm_name"`
	Checkpoint string `json:"checkpoint"`
	// CheckpointID is the checkpoint's id (its name may be reused once it
	// is removed).
	CheckpointID string `json:"checkpoint_id"`
}

// CreateFrom records a VM to be restored from checkpoint ref at its first
// start: the source VM's spec as it was at the checkpoint (its image,
// kernel, CPUs, memory, command, network), without its published ports
// (the source keeps them), restart policy or --rm. Its first start is a
// fork (forkStage); a later start boots its disk cold, as any VM's.
func (s *Service) CreateFrom(ctx context.Context, name, ref string, detach bool) (VM, error) {
	if s.Checkpoints == nil {
		return VM{}, fmt.Errorf("%w: this daemon has no checkpoint store", errdefs.ErrUnavailable)
	}
	sn, err := s.Checkpoints.Get(ref)
	if err != nil {
		return VM{}, err
	}
	b, err := sn.ReadFile(checkpointVM)
	var src VM
	if err == nil {
		err = json.Unmarshal(b, &src)
	}
	if err != nil {
		return VM{}, fmt.Errorf("checkpoint %s: %w: the source VM's record: %w", sn.Key.Checkpoint, errdefs.ErrInvalid, err)
	}
	spec := src.Spec
	spec.From, spec.Cold = sn.ID, true
	spec.Ports, spec.AutoRemove, spec.Restart = nil, false, restart.Policy{}
	spec.Detach, spec.Interactive = detach, false
	spec.Stdio = vmlogs.Stdio{} // the source's paths are the source's
	vm, err := s.Create(ctx, name, spec)
	if err != nil {
		return vm, err
	}
	return s.update(vm.ID, func(v *VM) {
		v.Forked = &Forked{VM: src.ID, VMName: src.Name, Checkpoint: sn.Key.Checkpoint, CheckpointID: sn.ID}
	})
}

// forkPlan is how a VM's first start restores a checkpoint instead of
// booting: the verified checkpoint, the host key its saved agent serves
// (the source's), its disk, and the VM's own config, which the
// reidentify stage gives the restored agent.
type forkPlan struct {
	ck     snapshots.Snapshot
	srcKey ssh.PublicKey
	disk   rootfs.Disk
	full   bootcfg.Config
	// reidentified is set once the agent took the VM's own identity.
	reidentified bool
}

// forkStage finds the checkpoint a VM created by CreateFrom restores, its
// files verified against the manifest, at the VM's first start (a VM that
// has its disk already boots it). It holds nothing on the host.
type forkStage struct{ s *Service }

func (forkStage) Name() string { return "fork" }

func (forkStage) skip(rt *Runtime) bool { return rt.VM.Spec.From == "" || rt.Record.Disk != nil }

func (st forkStage) Acquire(_ context.Context, rt *Runtime) error {
	if st.s.Checkpoints == nil {
		return fmt.Errorf("%w: this daemon has no checkpoint store", errdefs.ErrUnavailable)
	}
	// Without its checkpoint the VM has nothing to start from: it has no
	// disk of its own yet, and is not an image's.
	gone := fmt.Sprintf("this VM starts only from it; remove the VM (`banger rm %s`)", rt.VM.Name)
	sn, err := st.s.Checkpoints.Get(rt.VM.Spec.From)
	if err != nil {
		return fmt.Errorf("%w; %s", err, gone)
	}
	listed := sn
	sn, ok, err := st.s.Checkpoints.Lookup(sn.Key) // verified against its manifest
	switch {
	case err != nil: // damaged (and removed, unless that failed)
		if _, serr := os.Stat(listed.Dir); errors.Is(serr, fs.ErrNotExist) {
			// Its source's name (vm.json) went with it.
			st.s.emitCheckpoint(events.Remove, Checkpoint{Snapshot: listed, Name: listed.Key.Checkpoint}, "damaged: "+err.Error())
		}
		return fmt.Errorf("%w: %w; %s", errdefs.ErrNotFound, err, gone)
	case !ok:
		return fmt.Errorf("checkpoint %s: %w: it was removed meanwhile; %s", rt.VM.Spec.From, errdefs.ErrNotFound, gone)
	}
	p := &forkPlan{ck: sn}
	if p.srcKey, err = snapshotHostKey(sn); err != nil {
		return fmt.Errorf("checkpoint %s: the source's host key: %w", sn.Key.Checkpoint, err)
	}
	b, err := sn.ReadFile(checkpointDiskMD)
	if err == nil {
		err = json.Unmarshal(b, &p.disk)
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s: its disk: %w", sn.Key.Checkpoint, err)
	}
	p.disk.Path = sn.Path(checkpointDisk)
	if p.disk.Strategy == rootfs.DMSnapshot {
		p.disk.DM = &dmsnap.Names{COW: p.disk.Path}
	}
	rt.Fork = p
	return nil
}

func (forkStage) Release(context.Context, *Runtime) error { return nil }

// clone gives a fork its own copy of its checkpoint's disk, recorded
// before it is made; a dm-snapshot copy's devices then come up as any
// start's.
func (s diskStage) clone(ctx context.Context, rt *Runtime, req rootfs.Request) error {
	src := rt.Fork.disk
	dst := rootfs.DiskPath(req.Dir, src.Strategy)
	rec := rt.Record
	rec.Disk = &handles.Disk{State: handles.Creating, Disk: rootfs.Disk{Path: dst, Format: src.Format, Strategy: src.Strategy}}
	if err := cpDiskRecorded.After(rec.Save()); err != nil {
		return err
	}
	d, err := s.disks.Clone(ctx, src, dst)
	if err != nil {
		return err
	}
	cpDiskMade.Hit()
	if d.Strategy == rootfs.DMSnapshot {
		rec.Disk = &handles.Disk{State: handles.Created, Disk: d}
		return s.reuse(ctx, rt, req)
	}
	return s.created(rt, d)
}

// restoreFork starts the fork's machine from its checkpoint: spec is
// this VM's (its disk copy, taps, config drive, runtime dir) with the
// source's command line, and must have the checkpoint's shape (the same
// image, kernel, agent, CPUs, memory, drives and NICs). A restore that
// fails fails the start, which releases everything: a fork is never
// booted instead.
func (st vmmStage) restoreFork(ctx context.Context, rt *Runtime, spec vmm.Spec) (vmm.Machine, error) {
	ck := rt.Fork.ck
	r, ok := rt.Backend.(vmm.Restorer)
	if !ok {
		return nil, fmt.Errorf("%w: the %s backend cannot restore a checkpoint", errdefs.ErrUnsupported, rt.Backend.Name())
	}
	spec.Cmdline, spec.MemoryFile = ck.Key.Cmdline, ""
	shape := spec
	if ck.Key.MemoryFile {
		shape.MemoryFile = memoryFileName
	}
	k, err := machineKey(rt, shape, st.s.ClientKey)
	if err == nil {
		k.Checkpoint = ck.Key.Checkpoint
		if k.ID() != ck.ID {
			err = fmt.Errorf("%w: the VM no longer has checkpoint %s's machine (its image, kernel, agent or daemon key changed since), so no VM restores it any more; remove the VM (`banger rm %s`) and the checkpoint (`banger checkpoint rm %s`)",
				errdefs.ErrConflict, ck.Key.Checkpoint, rt.VM.Name, ck.Key.Checkpoint)
		}
	}
	if err != nil {
		return nil, err
	}
	m, err := r.Restore(ctx, spec, ck.RestoreSpec(true))
	if err != nil {
		return nil, fmt.Errorf("restore checkpoint %s: %w", ck.Key.Checkpoint, err)
	}
	cpForkRestored.Hit()
	return m, nil
}

// reidentifyStage gives a fork's restored agent (the source's, serving
// the source's host key) the VM's own identity and the host's clock
// (Agent.Reidentify): hostname, MAC, address, SSH host key, a reseeded
// entropy pool. Its processes go on. The connection is then made again,
// pinning the VM's own key.
type reidentifyStage struct{ s *Service }

func (reidentifyStage) Name() string { return "reidentify" }

func (reidentifyStage) skip(rt *Runtime) bool { return rt.Fork == nil }

func (st reidentifyStage) Acquire(ctx context.Context, rt *Runtime) error {
	return st.s.giveIdentity(ctx, rt, "give the fork its identity", func(ctx context.Context, c Agent) error {
		err := c.Reidentify(ctx, rt.Fork.full, st.s.now())
		if err == nil {
			rt.Fork.reidentified = true
		}
		return err
	})
}

// Release has nothing of its own: the agent stage closes the connection.
func (reidentifyStage) Release(context.Context, *Runtime) error { return nil }
