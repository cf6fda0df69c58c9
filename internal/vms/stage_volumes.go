package vms

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/ext4sb"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// mountPlan is what the volumes stage hands the boot config stage: the
// drives and shared directories the VMM gets, and what the guest mounts.
type mountPlan struct {
	Drives []vmm.Drive
	Shares []vmm.SharedDir
	Guest  []bootcfg.Mount
}

// apply adds the plan to the VMM's spec: the drives, the shared
// directories, and the kernel argument that has the initramfs load the
// modules virtio-fs needs (every other VM boots without them).
func (p mountPlan) apply(s *vmm.Spec) {
	s.Drives = append(s.Drives, p.Drives...)
	s.SharedDirs = p.Shares
	if len(p.Shares) > 0 {
		s.Cmdline += " " + bootcfg.ArgLoad + "=" + bootcfg.ModulesVirtioFS
	}
}

// volumesStage gives the VM its mounts (package volumes): a shared
// directory's virtiofsd, started before the VMM, which connects to it;
// a named volume, held by this VM while it runs; a directory's ext4
// image, made at the first start and kept, like the disk, until rm. It
// is in the pipeline only when the VM has mounts.
type volumesStage struct{ s *Service }

func (volumesStage) Name() string { return "volumes" }

// Tag, socket, log and image names of mount i.
func shareTag(i int) string { return "vol" + strconv.Itoa(i) }
func (st volumesStage) socket(rt *Runtime, i int) string {
	return filepath.Join(st.s.Layout.VMRuntime(rt.VM.ID), "fs"+strconv.Itoa(i)+".sock")
}
func (st volumesStage) log(rt *Runtime, i int) string {
	return filepath.Join(st.s.Layout.VMRuntime(rt.VM.ID), "fs"+strconv.Itoa(i)+".log")
}
func (st volumesStage) image(id string, i int) string {
	return filepath.Join(st.s.Layout.VM(id), "mount-"+strconv.Itoa(i)+".ext4")
}

func (st volumesStage) Acquire(ctx context.Context, rt *Runtime) error {
	rec := rt.Record
	mounts := rt.VM.Spec.Mounts
	sec := &handles.Volumes{Mounts: make([]handles.VolumeMount, len(mounts))}
	for i, m := range mounts {
		sec.Mounts[i] = handles.VolumeMount{Type: string(m.Type), Target: m.Target}
		// A directory image an earlier start made is kept.
		if old := rec.Volumes; old != nil && i < len(old.Mounts) && old.Mounts[i].Type == string(m.Type) && old.Mounts[i].Target == m.Target {
			sec.Mounts[i].Image, sec.Mounts[i].ImageState = old.Mounts[i].Image, old.Mounts[i].ImageState
		}
	}
	rec.Volumes = sec
	if err := rec.Save(); err != nil {
		return err
	}
	rt.Mounts = mountPlan{}
	for i, m := range mounts {
		var err error
		switch m.Type {
		case volumes.TypeBind:
			err = st.share(rt, i, m, false)
		case volumes.TypeVolume:
			err = st.attach(rt, i, m)
		case volumes.TypeImage:
			err = st.copyDir(ctx, rt, i, m)
		case volumes.TypePod:
			err = st.pod(rt, i, m)
		default:
			err = fmt.Errorf("%w: unknown mount type %q", errdefs.ErrInvalid, m.Type)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// share starts virtiofsd for a shared directory, recorded first. The
// directory is opened as the spec's caller (own: the daemon's own, a pod
// share's, opened as root).
func (st volumesStage) share(rt *Runtime, i int, m volumes.Mount, own bool) error {
	caps := rt.caps()
	if err := sharedDirSupport(m, &caps, rt.Kernel); err != nil {
		return err
	}
	if err := checkHostDir(m); err != nil {
		return err
	}
	caller, dir, err := st.hostDir(rt, m, own)
	if err != nil {
		return err
	}
	rec, e := rt.Record, &rt.Record.Volumes.Mounts[i]
	e.Share, e.Socket, e.Log = handles.Creating, st.socket(rt, i), st.log(rt, i)
	if err := rec.Save(); err != nil {
		return err
	}
	id, err := st.s.Shares.StartShare(volumes.Share{VMID: rt.VM.ID, Dir: dir, Socket: e.Socket, Log: e.Log, ReadOnly: m.ReadOnly, Caller: caller})
	if err != nil {
		return fmt.Errorf("%s: %w", m.Flag(), err)
	}
	e.Share, e.Process = handles.Created, id
	if err := rec.Save(); err != nil {
		return err
	}
	tag := shareTag(i)
	rt.Mounts.Shares = append(rt.Mounts.Shares, vmm.SharedDir{Tag: tag, Socket: e.Socket, Desc: m.Flag()})
	rt.Mounts.Guest = append(rt.Mounts.Guest, bootcfg.Mount{Type: bootcfg.MountVirtioFS, Source: tag, Target: m.Target, ReadOnly: m.ReadOnly})
	return nil
}

// podDir is the VM's pod share: one per VM, in its runtime directory.
func (st volumesStage) podDir(id string) string {
	return filepath.Join(st.s.Layout.VMRuntime(id), "pod")
}

// pod makes the VM's pod share, recorded first: its directory, a shared
// mount (so the images mounted under it later reach virtiofsd's
// namespace), then shared with the guest as a directory is.
func (st volumesStage) pod(rt *Runtime, i int, m volumes.Mount) error {
	rec, e := rt.Record, &rt.Record.Volumes.Mounts[i]
	dir := st.podDir(rt.VM.ID)
	e.Pod, e.PodDir = handles.Creating, dir
	if err := rec.Save(); err != nil {
		return err
	}
	if err := st.s.Shares.MakePod(dir); err != nil {
		return fmt.Errorf("%s: %w", m.Flag(), err)
	}
	e.Pod = handles.Created
	if err := rec.Save(); err != nil {
		return err
	}
	return st.share(rt, i, volumes.Mount{Type: volumes.TypeBind, Source: dir, Target: m.Target}, true)
}

// attach holds a named volume for the VM, recorded first, and attaches
// its file as a drive. A new volume is filled from the image's
// directory by the guest (unless it is mounted read-only).
func (st volumesStage) attach(rt *Runtime, i int, m volumes.Mount) error {
	if err := st.drives(rt, m); err != nil {
		return err
	}
	if st.s.Volumes == nil {
		return fmt.Errorf("%s: %w: this daemon has no named volumes", m.Flag(), errdefs.ErrUnavailable)
	}
	rec, e := rt.Record, &rt.Record.Volumes.Mounts[i]
	e.Claim, e.Volume = handles.Creating, m.Source
	if err := rec.Save(); err != nil {
		return err
	}
	v, err := st.s.Volumes.Claim(m.Source, rt.VM.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", m.Flag(), err)
	}
	e.Claim = handles.Created
	if err := rec.Save(); err != nil {
		return err
	}
	rt.Mounts.Drives = append(rt.Mounts.Drives, vmm.Drive{ID: "vol" + strconv.Itoa(i), Path: st.s.Volumes.Path(m.Source), ReadOnly: m.ReadOnly})
	rt.Mounts.Guest = append(rt.Mounts.Guest, bootcfg.Mount{Type: bootcfg.MountExt4, Source: v.UUID, Target: m.Target, ReadOnly: m.ReadOnly, CopyUp: !m.ReadOnly})
	return nil
}

// copyDir attaches the ext4 copy of a directory, made on the first start
// (recorded first; a half-made one is made again) and kept until rm.
func (st volumesStage) copyDir(ctx context.Context, rt *Runtime, i int, m volumes.Mount) error {
	if err := st.drives(rt, m); err != nil {
		return err
	}
	rec, e := rt.Record, &rt.Record.Volumes.Mounts[i]
	path := st.image(rt.VM.ID, i)
	uuid, err := "", errors.New("not made")
	if e.ImageState != handles.Creating {
		// Made by an earlier start (or named by a record since lost).
		uuid, err = ext4sb.FileUUID(path)
	}
	if err != nil {
		if err := checkHostDir(m); err != nil {
			return err
		}
		e.Image, e.ImageState = path, handles.Creating
		if err := rec.Save(); err != nil {
			return err
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if uuid, err = st.buildImage(ctx, rt, m, path); err != nil {
			return fmt.Errorf("%s: %w", m.Flag(), err)
		}
	}
	e.Image, e.ImageState = path, handles.Created
	if err := rec.Save(); err != nil {
		return err
	}
	rt.Mounts.Drives = append(rt.Mounts.Drives, vmm.Drive{ID: "img" + strconv.Itoa(i), Path: path, ReadOnly: m.ReadOnly})
	rt.Mounts.Guest = append(rt.Mounts.Guest, bootcfg.Mount{Type: bootcfg.MountExt4, Source: uuid, Target: m.Target, ReadOnly: m.ReadOnly})
	return nil
}

// drives refuses a drive-backed mount on a backend without extra drives.
func (volumesStage) drives(rt *Runtime, m volumes.Mount) error {
	if !rt.caps().ExtraDrives {
		return fmt.Errorf("%s: %w: vmm %s cannot attach more drives", m.Flag(), errdefs.ErrUnsupported, rt.Backend.Name())
	}
	return nil
}

// Release ends the VM's virtiofsd processes (recorded, and any other
// carrying its id) and lets go of its named volumes; directory images
// stay for the next start. A broken section releases by the VM id.
func (st volumesStage) Release(_ context.Context, rt *Runtime) error {
	rec := rt.Record
	broken := rec.IsBroken("volumes")
	if rec.Volumes == nil && !broken {
		return nil
	}
	var errs []error
	shared := broken
	if sec := rec.Volumes; sec != nil {
		for i := range sec.Mounts {
			e := &sec.Mounts[i]
			if e.Share != "" {
				shared = true
				if err := st.s.Shares.StopShare(e.Process, e.Socket, e.Log); err != nil {
					errs = append(errs, fmt.Errorf("virtiofsd of %s: %w", e.Target, err))
					continue
				}
				e.Share, e.Socket, e.Log, e.Process = "", "", "", proc.Identity{}
			}
			if e.Pod != "" { // after its virtiofsd, which holds it
				if err := st.s.Shares.ReleasePod(e.PodDir); err != nil {
					errs = append(errs, fmt.Errorf("pod share of %s: %w", e.Target, err))
					continue
				}
				e.Pod, e.PodDir, e.Containers = "", "", nil
			}
			if e.Claim != "" && st.s.Volumes != nil {
				if err := st.s.Volumes.Unclaim(e.Volume, rt.VM.ID); err != nil {
					errs = append(errs, fmt.Errorf("volume %s: %w", e.Volume, err))
					continue
				}
				e.Claim, e.Volume = "", ""
			}
		}
		if !slices.ContainsFunc(sec.Mounts, func(e handles.VolumeMount) bool {
			return e.Image != "" || e.Share != "" || e.Claim != "" || e.Pod != ""
		}) {
			rec.Volumes = nil
		}
	}
	if shared {
		errs = append(errs, st.s.Shares.StopSharesOf(rt.VM.ID))
	}
	if broken && st.s.Volumes != nil {
		errs = append(errs, st.s.Volumes.UnclaimAll(rt.VM.ID))
	}
	if broken { // the pod share's place is the VM's, whatever the record said
		errs = append(errs, st.s.Shares.ReleasePod(st.podDir(rt.VM.ID)))
	}
	if err := errors.Join(errs...); err != nil {
		_ = rec.Save()
		return err
	}
	rec.Repaired("volumes")
	return rec.Save()
}

// Remove deletes the directory images (their paths come from the
// layout, never from the record) and the section.
func (st volumesStage) Remove(_ context.Context, rt *Runtime) error {
	rec := rt.Record
	if rec.Volumes == nil {
		return nil
	}
	for i := range rec.Volumes.Mounts {
		if err := os.Remove(st.image(rt.VM.ID, i)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	rec.Volumes = nil
	return rec.Save()
}
