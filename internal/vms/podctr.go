package vms

import (
	"context"
	"fmt"
	"path"
	"slices"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// AddContainer makes container id of a running pod VM (one with a pod
// share, `--mount type=pod`) from image: recorded in the share's entry
// of the VM's record, then the image's ext4 mounted read-only under the
// share, then the container's root made by the guest's agent over it
// (an exec with the container's id then runs there). A failure undoes
// what it made. An id the VM has already is a conflict.
func (s *Service) AddContainer(ctx context.Context, ref, id, imageRef string) (VM, error) {
	return s.onPodShare(ref, func(vm VM, lv *liveVM, e *handles.VolumeMount) error {
		return s.addContainer(ctx, vm, lv, e, id, imageRef)
	})
}

func (s *Service) addContainer(ctx context.Context, vm VM, lv *liveVM, e *handles.VolumeMount, id, imageRef string) error {
	target, err := volumes.PodImageDir(e.PodDir, id)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(e.Containers, func(c handles.PodContainer) bool { return c.ID == id }) {
		return fmt.Errorf("vm %s: container %s: %w: it exists; remove it first", vm.Name, id, errdefs.ErrConflict)
	}
	img, err := s.Catalog.Image(imageRef)
	if err != nil {
		return fmt.Errorf("vm %s: container %s: %w", vm.Name, id, err)
	}
	agent, err := lv.agent.get(ctx)
	if err != nil {
		return err
	}
	rec := lv.rt.Record
	e.Containers = append(e.Containers, handles.PodContainer{ID: id, Image: img.Rootfs, Target: target, State: handles.Creating})
	if err := rec.Save(); err != nil {
		return err
	}
	undo := func(err error) error {
		_ = s.Shares.UnmountPodImage(target)
		e.Containers = slices.DeleteFunc(e.Containers, func(c handles.PodContainer) bool { return c.ID == id })
		_ = rec.Save()
		return fmt.Errorf("vm %s: container %s: %w", vm.Name, id, err)
	}
	if err := s.Shares.MountPodImage(vm.ID, img.Rootfs, target); err != nil {
		return undo(err)
	}
	e.Containers[len(e.Containers)-1].State = handles.Created
	if err := rec.Save(); err != nil {
		return undo(err)
	}
	if err := agent.MakeContainer(ctx, id, path.Join(e.Target, id)); err != nil {
		return undo(err)
	}
	s.Log.Info("container added", "vm", vm.ID, "container", id, "image", img.Name)
	return nil
}

// RemoveContainer removes container id of a running pod VM: its root in
// the guest (its processes should have ended), then its image's mount,
// then its entry in the record. An absent container is not an error.
func (s *Service) RemoveContainer(ctx context.Context, ref, id string) (VM, error) {
	return s.onPodShare(ref, func(vm VM, lv *liveVM, e *handles.VolumeMount) error {
		return s.removeContainer(ctx, vm, lv, e, id)
	})
}

func (s *Service) removeContainer(ctx context.Context, vm VM, lv *liveVM, e *handles.VolumeMount, id string) error {
	i := slices.IndexFunc(e.Containers, func(c handles.PodContainer) bool { return c.ID == id })
	if i < 0 {
		return nil
	}
	agent, err := lv.agent.get(ctx)
	if err != nil {
		return err
	}
	if err := agent.RemoveContainer(ctx, id); err != nil {
		return fmt.Errorf("vm %s: container %s: %w", vm.Name, id, err)
	}
	if err := s.Shares.UnmountPodImage(e.Containers[i].Target); err != nil {
		return fmt.Errorf("vm %s: container %s: %w", vm.Name, id, err)
	}
	e.Containers = slices.Delete(e.Containers, i, i+1)
	if err := lv.rt.Record.Save(); err != nil {
		return err
	}
	s.Log.Info("container removed", "vm", vm.ID, "container", id)
	return nil
}

// onPodShare runs do under the VM's lock with its pod share's entry.
func (s *Service) onPodShare(ref string, do func(VM, *liveVM, *handles.VolumeMount) error) (VM, error) {
	vm, err := s.Get(ref)
	if err != nil {
		return vm, err
	}
	unlock := s.locks.Lock(vm.ID)
	defer unlock()
	vm, lv, e, err := s.podShare(vm.ID)
	if err != nil {
		return vm, err
	}
	return vm, do(vm, lv, e)
}

// podShare is a running, unpaused VM's pod share entry in its record
// (the caller holds the VM's lock).
func (s *Service) podShare(id string) (VM, *liveVM, *handles.VolumeMount, error) {
	vm, lv, err := s.lookupRunning(id)
	if err != nil {
		return vm, nil, nil, err
	}
	if err := refusePaused(vm); err != nil {
		return vm, nil, nil, err
	}
	if sec := lv.rt.Record.Volumes; sec != nil {
		for i := range sec.Mounts {
			if e := &sec.Mounts[i]; e.Pod == handles.Created {
				return vm, lv, e, nil
			}
		}
	}
	return vm, nil, nil, fmt.Errorf("vm %s: %w: it has no pod share; create it with --mount type=pod,target=/GUEST/DIR", vm.Name, errdefs.ErrConflict)
}
