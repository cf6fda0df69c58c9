package vms

import (
	"context"
	"fmt"
	"os"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// diskStage gives the VM its writable disk: made from the image on the
// first start (by the strategy the host and the backend's drive formats
// allow), reused by later ones so files written in the guest survive stop
// and start. A dm-snapshot disk's device-mapper objects come up at every
// start and go at every stop; the disk itself goes at rm.
type diskStage struct {
	disks    Disks
	layout   paths.Layout
	strategy string // vm.disk_strategy
}

func (diskStage) Name() string { return "disk" }

func (s diskStage) request(rt *Runtime) rootfs.Request {
	return rootfs.Request{
		VMID: rt.VM.ID, Image: rt.Image.Rootfs, ImageSize: rt.Image.SizeBytes, Dir: s.layout.VM(rt.VM.ID),
		SizeBytes: rt.VM.Spec.DiskBytes, QCOW2: rt.caps().Opens(vmm.FormatQCOW2), Strategy: s.strategy,
	}
}

func (s diskStage) Acquire(ctx context.Context, rt *Runtime) error {
	rec, req := rt.Record, s.request(rt)
	if rec.Disk == nil {
		// No record of a disk: a disk file in the VM's directory is one a
		// lost or broken record named; keep the user's files.
		if d, ok := rootfs.Existing(req.Dir); ok {
			rec.Disk = &handles.Disk{State: handles.Created, Disk: d}
		}
	}
	if d := rec.Disk; d != nil && d.State == handles.Created {
		if _, err := os.Stat(rootfs.DiskPath(req.Dir, d.Disk.Strategy)); err == nil {
			return s.reuse(ctx, rt, req)
		}
	}
	if rt.Fork != nil {
		return s.clone(ctx, rt, req)
	}
	strategy, err := rootfs.Choose(req, s.disks.Probe(s.layout.VMs()))
	if err != nil {
		return err
	}
	record := func(d rootfs.Disk) error {
		rec.Disk = &handles.Disk{State: handles.Creating, Disk: d}
		if d.Strategy == rootfs.DMSnapshot {
			rec.Disk.DM = handles.Creating
		}
		return cpDiskRecorded.After(rec.Save())
	}
	d, err := s.disks.Create(ctx, req, strategy, record)
	if err != nil {
		// The section stays "creating": rm removes whatever is there, and
		// the next start makes the disk anew.
		return err
	}
	cpDiskMade.Hit()
	rt.freshDisk = true
	return s.created(rt, d)
}

// reuse takes the disk an earlier start made, bringing a dm-snapshot
// disk's devices up again over its kept COW file.
func (s diskStage) reuse(ctx context.Context, rt *Runtime, req rootfs.Request) error {
	d := rt.Record.Disk.Disk
	if !rt.caps().Opens(d.Format) {
		return fmt.Errorf("%w: the VM's disk is %s, which vmm %s does not open; start it with the vmm it was created with", errdefs.ErrConflict, d.Format, rt.Backend.Name())
	}
	if d.Strategy != rootfs.DMSnapshot {
		rt.Disk = d
		return nil
	}
	dd, err := s.disks.Activate(ctx, req, func(d rootfs.Disk) error {
		rt.Record.Disk.Disk, rt.Record.Disk.DM = d, handles.Creating
		return rt.Record.Save()
	})
	if err != nil {
		return err
	}
	return s.created(rt, dd)
}

func (s diskStage) created(rt *Runtime, d rootfs.Disk) error {
	rt.Record.Disk = &handles.Disk{State: handles.Created, Disk: d}
	if d.Strategy == rootfs.DMSnapshot {
		rt.Record.Disk.DM = handles.Created
	}
	rt.Disk = d
	return rt.Record.Save()
}

// Release tears down a dm-snapshot disk's devices (by the VM id, which
// names them); the disk file stays.
func (s diskStage) Release(ctx context.Context, rt *Runtime) error {
	rec := rt.Record
	if (rec.Disk == nil || rec.Disk.DM == "") && !rec.IsBroken("disk") {
		return nil
	}
	if err := s.disks.Deactivate(ctx, rt.VM.ID); err != nil {
		return err
	}
	// A broken section's disk file is found again by its name (Acquire).
	rec.Repaired("disk")
	if rec.Disk != nil {
		rec.Disk.DM = ""
	}
	return rec.Save()
}

// Remove deletes the disk, whatever its strategy.
func (s diskStage) Remove(ctx context.Context, rt *Runtime) error {
	if err := s.disks.Remove(ctx, rt.VM.ID, s.layout.VM(rt.VM.ID)); err != nil {
		return err
	}
	cpDiskRemoved.Hit()
	if rt.Record.Disk == nil {
		return nil
	}
	rt.Record.Disk = nil
	return rt.Record.Save()
}
