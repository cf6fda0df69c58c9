package daemon

import (
	"context"
	"encoding/json"
	"os"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/rootfs"
)

// vmDisks adapts package rootfs to the VM service: it records each disk
// before it is created and brings dm-snapshot devices up and down with the
// VM.
type vmDisks struct {
	layout   paths.Layout
	strategy string
	m        *rootfs.Manager
}

func newVMDisks(l paths.Layout, strategy string) *vmDisks {
	return &vmDisks{layout: l, strategy: strategy, m: rootfs.New()}
}

func (v *vmDisks) request(vm api.VM, img images.Image, backend string) rootfs.Request {
	return rootfs.Request{
		VMID: vm.ID, Image: img.Rootfs, ImageSize: img.SizeBytes, Dir: v.layout.VM(vm.ID),
		SizeBytes: vm.Spec.DiskBytes, Backend: backend, Strategy: v.strategy,
	}
}

// prepare returns the VM's disk, creating it from the image on the first
// start (recorded before it is created). Later starts reuse it, so files
// written in the guest survive stop and start; a dm-snapshot disk's
// devices come up again over its kept COW file.
func (v *vmDisks) prepare(ctx context.Context, vm api.VM, img images.Image, backend string, rec *handles.Recorder) (rootfs.Disk, error) {
	req := v.request(vm, img, backend)
	if res := rec.Snapshot().Find(handles.Disk); len(res) > 0 && res[0].State == handles.Created {
		var d rootfs.Disk
		if json.Unmarshal(res[0].Data, &d) == nil {
			if _, err := os.Stat(res[0].Name); err == nil {
				if d.Strategy == rootfs.DMSnapshot {
					return v.m.Activate(ctx, req, recordDM(rec))
				}
				return d, nil
			}
		}
	}
	strategy, err := rootfs.Choose(req, rootfs.Probe(v.layout.VMs()))
	if err != nil {
		return rootfs.Disk{}, err
	}
	record := func(d rootfs.Disk) error {
		if d.DM != nil {
			if err := recordDM(rec)(d); err != nil {
				return err
			}
		}
		// For dm-snapshot the persistent part is the COW file.
		return rec.Creating(handles.Disk, rootfs.DiskPath(req.Dir, strategy), handles.Persistent, d)
	}
	d, err := v.m.Create(ctx, req, strategy, record)
	if err != nil {
		return rootfs.Disk{}, err
	}
	return d, rec.Created(handles.Disk, rootfs.DiskPath(req.Dir, strategy), handles.Persistent, d)
}

// recordDM records a dm-snapshot disk's runtime objects before they exist.
func recordDM(rec *handles.Recorder) func(rootfs.Disk) error {
	return func(d rootfs.Disk) error {
		if d.DM == nil {
			return nil
		}
		for _, r := range []struct {
			kind handles.Kind
			name string
		}{{handles.Loop, d.DM.OriginLabel}, {handles.Loop, d.DM.COWLabel}, {handles.DM, d.DM.DM}} {
			if err := rec.Creating(r.kind, r.name, handles.Runtime, nil); err != nil {
				return err
			}
		}
		return nil
	}
}

// remove deletes a VM's disk for good.
func (v *vmDisks) remove(ctx context.Context, id string) error {
	return v.m.Remove(ctx, id, v.layout.VM(id))
}

// releaseRuntime releases what a disk holds only while the VM runs
// (device-mapper targets and loop devices).
func (v *vmDisks) releaseRuntime(ctx context.Context, id string) error {
	return v.m.Deactivate(ctx, id)
}

// Device-mapper targets and loop devices are not listed by the daemon's
// inventory: Deactivate finds and releases them by the VM id alone, which
// is what reconcile and rm call.

// diskCaps is what the disk strategies found on this host.
type diskCaps struct {
	checks []api.DoctorCheck
	uses   string
}

func (v *vmDisks) capabilities(context.Context) diskCaps {
	caps := rootfs.Probe(v.layout.VMs())
	var out diskCaps
	for _, c := range caps.Checks() {
		out.checks = append(out.checks, api.DoctorCheck{Name: c.Name, OK: c.OK, Detail: c.Detail})
	}
	req := rootfs.Request{Backend: "qemu", Strategy: v.strategy}
	if s, err := rootfs.Choose(req, caps); err == nil {
		out.uses = s + " (with qemu)"
	} else {
		out.uses = "none: " + err.Error()
	}
	if s, err := rootfs.Choose(rootfs.Request{Backend: "firecracker", Strategy: v.strategy}, caps); err == nil {
		out.uses += ", " + s + " (with firecracker)"
	}
	return out
}
