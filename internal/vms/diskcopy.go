package vms

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// DiskInfo says what DiskCopy copied.
type DiskInfo struct {
	// VM is the VM as it was when copied.
	VM VM
	// Image is the image the VM's disk was made from: the copy is that
	// image's file system plus what the guest changed, so a layer of the
	// changes is a diff against Image.Rootfs.
	Image Image
	// Disk is the VM's disk (its strategy and format), not the copy.
	Disk rootfs.Disk
	// Running says the VM ran: its guest flushed its file systems and the
	// machine was paused for the copy, Frozen long, then resumed.
	Running bool
	Frozen  time.Duration
}

// DiskCopy writes dst, a consistent raw ext4 image of VM ref's writable
// disk, whatever rootfs strategy made it (rootfs.Manager.RawCopy). A
// running VM's guest is asked to flush its file systems first (the
// agent's sync), then the machine is paused for the copy only and
// resumed whatever failed; a stopped VM's disk is copied as it lies. A
// paused VM is refused (its guest cannot flush), as is one never started
// (it has no disk) or one whose dm-snapshot disk is down (stopped).
// dst must not exist; on error it does not.
func (s *Service) DiskCopy(ctx context.Context, ref, dst string) (DiskInfo, error) {
	vm, err := s.Get(ref)
	if err != nil {
		return DiskInfo{}, err
	}
	unlock := s.locks.Lock(vm.ID)
	defer unlock()
	if vm, err = s.Get(vm.ID); err != nil {
		return DiskInfo{}, err
	}
	if err := refusePaused(vm); err != nil {
		return DiskInfo{}, err
	}
	img, err := s.Catalog.Image(vm.ImageID)
	if err != nil {
		return DiskInfo{}, fmt.Errorf("vm %s: the image it was made from (%s, id %s): %w", vm.Name, vm.Spec.Image, vm.ImageID, err)
	}
	info := DiskInfo{VM: vm, Image: img}
	lv := s.live.get(vm.ID)
	if lv == nil {
		if vm.State == Restarting {
			return DiskInfo{}, fmt.Errorf("vm %s: %w: %w; wait until it runs, or stop it", vm.Name, errdefs.ErrConflict, errRestarting)
		}
		if info.Disk, err = s.storedDisk(vm); err != nil {
			return DiskInfo{}, err
		}
		if err := s.Disks.RawCopy(ctx, info.Disk, dst); err != nil {
			return DiskInfo{}, fmt.Errorf("vm %s: %w", vm.Name, err)
		}
		return info, nil
	}
	info.Disk, info.Running = lv.rt.Disk, true
	pauser, err := pauserOf(vm, lv)
	if err != nil {
		return DiskInfo{}, err
	}
	agent, err := lv.agent.get(ctx)
	if err != nil {
		return DiskInfo{}, err
	}
	if err := agent.Sync(ctx); err != nil {
		return DiskInfo{}, fmt.Errorf("vm %s: flush the guest's file systems: %w", vm.Name, err)
	}
	t0 := time.Now()
	if err := pauser.Pause(ctx); err != nil {
		return DiskInfo{}, fmt.Errorf("vm %s: pause: %w", vm.Name, err)
	}
	err = s.Disks.RawCopy(ctx, info.Disk, dst)
	info.Frozen = time.Since(t0)
	if rerr := pauser.Resume(context.WithoutCancel(ctx)); rerr != nil {
		return DiskInfo{}, errors.Join(fmt.Errorf("vm %s: %w: %w", vm.Name, errNotResumed, rerr), err, removeCopy(dst))
	}
	if err != nil {
		return DiskInfo{}, fmt.Errorf("vm %s: %w", vm.Name, err)
	}
	return info, nil
}

// storedDisk is the disk of a VM that is not running: the one its record
// names, or the file a lost record left in its directory.
func (s *Service) storedDisk(vm VM) (rootfs.Disk, error) {
	dir := s.Layout.VM(vm.ID)
	rec, err := handles.Open(filepath.Join(dir, handles.FileName), vm.ID)
	if err == nil && rec.Disk != nil && rec.Disk.State == handles.Created {
		return rec.Disk.Disk, nil
	}
	if d, ok := rootfs.Existing(dir); ok {
		return d, nil
	}
	return rootfs.Disk{}, fmt.Errorf("vm %s: %w: it has no disk yet (it was never started); start it, change what you want, then try again", vm.Name, errdefs.ErrConflict)
}

func removeCopy(dst string) error {
	if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
