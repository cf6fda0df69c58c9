package vms

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Remove releases everything a VM holds and deletes its record. A running
// VM is refused unless force, which kills it first.
func (s *Service) Remove(ctx context.Context, ref string, force bool) error {
	return s.RemoveWith(ctx, ref, RemoveOptions{Force: force})
}

// RemoveOptions tune a removal.
type RemoveOptions struct {
	// Force kills a running VM first.
	Force bool
	// MissingOK makes a VM that does not exist (or no longer does, when
	// a concurrent removal won) a success: a retried delete.
	MissingOK bool
}

// RemoveWith is Remove with options.
func (s *Service) RemoveWith(ctx context.Context, ref string, o RemoveOptions) error {
	absent := func(err error) bool { return o.MissingOK && errors.Is(err, errdefs.ErrNotFound) }
	vm, err := s.Get(ref)
	if err != nil {
		if absent(err) {
			return nil
		}
		return err
	}
	if vm, err = s.settle(vm, o.Force); err != nil {
		if absent(err) {
			return nil
		}
		return err
	}
	if err = s.remove1(ctx, vm.ID, o.Force); err == nil {
		return nil
	}
	if _, gerr := s.Get(vm.ID); absent(gerr) {
		return nil // removed meanwhile (an --rm VM's exit, another rm)
	}
	return err
}

func (s *Service) remove1(ctx context.Context, id string, force bool) error {
	unlock := s.locks.Lock(id)
	defer unlock()
	vm, err := s.Get(id)
	if err != nil {
		return err
	}
	if vm.State == Restarting && !force {
		return fmt.Errorf("vm %s: %w: %w; stop it first or use `banger rm -f`", vm.Name, errdefs.ErrConflict, errRestarting)
	}
	s.restarts.cancel(vm.ID)
	if s.live.get(vm.ID) != nil {
		if !force {
			return fmt.Errorf("vm %s: %w: it is running; stop it first or use `banger rm -f`", vm.Name, errdefs.ErrConflict)
		}
		// The disk goes too: nothing to sync, kill the VMM at once.
		if err := s.stopLocked(ctx, vm.ID, StopOptions{Timeout: -1}); err != nil {
			return err
		}
		if vm, err = s.Get(vm.ID); err != nil {
			return err
		}
	}
	rec, err := s.openRecord(vm.ID)
	if err != nil {
		return fmt.Errorf("vm %s: remove: %w", vm.Name, err)
	}
	rt := &Runtime{VM: vm, Record: rec}
	stages := s.pipeline(vm)
	// A VM that stopped normally holds nothing at runtime: its watcher
	// released it. Only leftovers (a failed release) are released here.
	if rec.Running() {
		if err := s.release(ctx, stages, rt); err != nil {
			return fmt.Errorf("vm %s: %w (retry `banger rm %s`)", vm.Name, err, vm.Name)
		}
	}
	cpRemoveReleased.Hit()
	errs := []error{s.remove(ctx, stages, rt)}
	if errors.Join(errs...) == nil {
		errs = append(errs, rec.Remove(), os.RemoveAll(s.Layout.VM(vm.ID)))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vm %s: remove: %w (the record is kept; retry `banger rm %s`)", vm.Name, err, vm.Name)
	}
	cpRemoveFiles.Hit()
	if err := s.Store.Update(func(tx *store.Tx) error { return tx.Delete(store.VMs, vm.ID) }); err != nil {
		return err
	}
	s.emit(events.Remove, vm)
	s.Log.Info("vm removed", "vm", vm.ID, "name", vm.Name)
	return nil
}

// RemoveAll removes every VM, killing running ones (tests and uninstalls
// use it).
func (s *Service) RemoveAll(ctx context.Context) error {
	vms, err := store.ListAll[VM](s.Store, store.VMs)
	if err != nil {
		return err
	}
	var errs []error
	for _, vm := range vms {
		errs = append(errs, s.remove1(ctx, vm.ID, true))
	}
	return errors.Join(errs...)
}
