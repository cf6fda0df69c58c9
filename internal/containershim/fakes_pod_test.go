package containershim

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// AddContainer gives a running pod VM a container, as the daemon does:
// an absent VM or image is not found; a VM not running, without a pod
// share, or with the id already is a conflict.
func (d *fakeDaemon) AddContainer(_ context.Context, ref, id, image string) (api.VM, error) {
	v, err := d.get(ref)
	if err != nil {
		return api.VM{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, fmt.Sprintf("add %s %s %s", ref, id, image))
	if err := d.addErr; err != nil {
		d.addErr = nil
		return api.VM{}, err
	}
	if _, ok := d.images[image]; !ok {
		return api.VM{}, fmt.Errorf("%w: image %s", errdefs.ErrNotFound, image)
	}
	if v.vm.State != api.VMRunning {
		return api.VM{}, fmt.Errorf("%w: vm %s is %s", errdefs.ErrConflict, ref, v.vm.State)
	}
	if !slices.ContainsFunc(v.vm.Spec.Mounts, func(m api.Mount) bool { return m.Type == api.MountPod }) {
		return api.VM{}, fmt.Errorf("%w: vm %s has no pod share", errdefs.ErrConflict, ref)
	}
	if _, ok := v.containers[id]; ok {
		return api.VM{}, fmt.Errorf("%w: vm %s: container %s exists", errdefs.ErrConflict, ref, id)
	}
	if v.containers == nil {
		v.containers = map[string]string{}
	}
	v.containers[id] = image
	return v.vm, nil
}

// RemoveContainer removes a running pod VM's container; an absent one is
// no error, a VM not running is a conflict.
func (d *fakeDaemon) RemoveContainer(_ context.Context, ref, id string) (api.VM, error) {
	v, err := d.get(ref)
	if err != nil {
		return api.VM{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, fmt.Sprintf("remove %s %s", ref, id))
	if v.vm.State != api.VMRunning {
		return api.VM{}, fmt.Errorf("%w: vm %s is %s", errdefs.ErrConflict, ref, v.vm.State)
	}
	delete(v.containers, id)
	return v.vm, nil
}

// containersOf answers the containers of pod VM name (nil when absent).
func (d *fakeDaemon) containersOf(name string) map[string]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.vms[name]; ok {
		return maps.Clone(v.containers)
	}
	return nil
}

// vmNames answers the names of the VMs, sorted.
func (d *fakeDaemon) vmNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Sorted(maps.Keys(d.vms))
}
