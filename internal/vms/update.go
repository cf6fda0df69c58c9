package vms

import (
	"context"
	"fmt"

	"github.com/bangerdev/banger/internal/restart"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Update is what `banger update` changes of a VM's spec; nil fields stay.
type Update struct {
	Restart *restart.Policy
}

// Update changes a VM's restart policy, as docker update does; it applies
// from the VM's next exit (a pending restart still happens).
func (s *Service) Update(_ context.Context, ref string, u Update) (VM, error) {
	vm, err := s.Get(ref)
	if err != nil {
		return vm, err
	}
	unlock := s.locks.Lock(vm.ID)
	defer unlock()
	if u.Restart == nil {
		return s.Get(vm.ID)
	}
	if err := u.Restart.Validate(); err != nil {
		return vm, fmt.Errorf("%w: --restart: %w", errdefs.ErrInvalid, err)
	}
	if vm.Spec.AutoRemove && !u.Restart.IsNone() {
		return vm, fmt.Errorf("vm %s: %w: it was started with --rm, which a restart policy conflicts with", vm.Name, errdefs.ErrInvalid)
	}
	return s.update(vm.ID, func(v *VM) { v.Spec.Restart = *u.Restart })
}
