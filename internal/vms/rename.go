package vms

import (
	"fmt"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Rename gives a VM a new name, checked as create checks one and refused
// while another VM has it. Everything a VM holds on the host is keyed by
// its id (taps, rules, cgroups, devices, directories), so nothing else
// changes; the guest's host name is set from the name at each start, so
// a running guest keeps the old one until it restarts.
func (s *Service) Rename(ref, name string) (VM, error) {
	if err := checkVMName(name); err != nil {
		return VM{}, err
	}
	vm, err := s.Get(ref)
	if err != nil {
		return vm, err
	}
	unlock := s.locks.Lock(vm.ID)
	defer unlock()
	old := vm.Name
	err = s.Store.Update(func(tx *store.Tx) error {
		if err := tx.Get(store.VMs, vm.ID, &vm); err != nil {
			return err
		}
		if vm.Name == name {
			return fmt.Errorf("%w: vm %s is already named %q", errdefs.ErrInvalid, vm.ID, name)
		}
		vms, err := store.List[VM](tx, store.VMs)
		if err != nil {
			return err
		}
		for _, v := range vms {
			if v.Name == name {
				return fmt.Errorf("vm name %q: %w: vm %s has it; remove or rename that VM first, or pick another name", name, errdefs.ErrExists, v.ID)
			}
		}
		old = vm.Name
		vm.Name = name
		return tx.Put(store.VMs, vm.ID, vm)
	})
	if err != nil {
		return vm, err
	}
	s.Log.Info("vm renamed", "vm", vm.ID, "from", old, "to", name)
	s.emit(events.Rename, vm, events.AttrOldName, old)
	return vm, nil
}
