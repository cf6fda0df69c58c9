package vms

import (
	"context"
	"fmt"
	"time"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Pause freezes a running VM's vCPUs through its backend (vmm.Pauser), as
// docker pause freezes a container's processes: the guest keeps its
// memory, its disk and its host resources, and its clock stops. The VM is
// recorded as paused; exec, ssh and cp are refused until Unpause, stop and
// kill unpause it first, and rm -f kills its VMM as it is.
func (s *Service) Pause(ctx context.Context, ref string) (VM, error) {
	return s.setPaused(ctx, ref, true)
}

// Unpause resumes a paused VM's vCPUs.
func (s *Service) Unpause(ctx context.Context, ref string) (VM, error) {
	return s.setPaused(ctx, ref, false)
}

func (s *Service) setPaused(ctx context.Context, ref string, pause bool) (VM, error) {
	vm, err := s.Get(ref)
	if err != nil {
		return vm, err
	}
	unlock := s.locks.Lock(vm.ID)
	defer unlock()
	if vm, err = s.Get(vm.ID); err != nil {
		return vm, err
	}
	switch {
	case pause && vm.State == Paused:
		return vm, fmt.Errorf("vm %s: %w: it is already paused", vm.Name, errdefs.ErrConflict)
	case !pause && vm.State != Paused:
		return vm, fmt.Errorf("vm %s: %w: it is not paused (state %s)", vm.Name, errdefs.ErrConflict, vm.State)
	}
	lv, err := s.running(vm)
	if err != nil {
		return vm, err
	}
	p, err := pauserOf(vm, lv)
	if err != nil {
		return vm, err
	}
	verb, state, do := events.Unpause, Running, p.Resume
	if pause {
		verb, state, do = events.Pause, Paused, p.Pause
	}
	if err := do(ctx); err != nil {
		return vm, fmt.Errorf("vm %s: %s: %w", vm.Name, verb, err)
	}
	s.Log.Info("vm "+string(verb)+"d", "vm", vm.ID)
	if vm, err = s.update(vm.ID, func(v *VM) { v.State = state }); err != nil {
		return vm, err
	}
	s.emit(verb, vm)
	return vm, nil
}

// pauserOf is the VM's machine as a vmm.Pauser, or an error naming the
// backend that cannot pause.
func pauserOf(vm VM, lv *liveVM) (vmm.Pauser, error) {
	p, ok := lv.rt.Machine.(vmm.Pauser)
	if !ok || lv.rt.Backend == nil || !lv.rt.Backend.Capabilities().Pause {
		name := "its"
		if lv.rt.Backend != nil {
			name = "the " + lv.rt.Backend.Name()
		}
		return nil, fmt.Errorf("vm %s: %w: %s backend cannot pause its machines (its capabilities say pause=false); stop the VM instead", vm.Name, errdefs.ErrUnsupported, name)
	}
	return p, nil
}

// unpauseFor resumes a paused VM before an operation that needs its guest
// to act (stop, kill: the agent stops the main process and syncs), as
// dockerd resumes a paused container it stops. It returns false when the
// VM could not be resumed; the caller then kills its VMM.
func (s *Service) unpauseFor(ctx context.Context, op string, lv *liveVM) bool {
	vm, err := s.Get(lv.id())
	if err != nil || vm.State != Paused {
		return true
	}
	p, err := pauserOf(vm, lv)
	if err == nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = p.Resume(rctx)
		cancel()
	}
	if err != nil {
		s.Log.Warn(op+": cannot unpause the paused VM; killing its VMM", "vm", vm.ID, "error", err)
		return false
	}
	s.Log.Info(op+": unpaused the paused VM first", "vm", vm.ID)
	if up, err := s.update(vm.ID, func(v *VM) { v.State = Running }); err != nil {
		s.Log.Error("record vm unpause", "vm", vm.ID, "error", err)
	} else {
		s.emit(events.Unpause, up)
	}
	return true
}

// adoptedState asks an adopted VM's VMM whether its guest runs or is
// paused, so a daemon restart keeps a paused VM paused and knows it is
// (and a record a crash left saying otherwise is corrected).
func (s *Service) adoptedState(ctx context.Context, lv *liveVM) State {
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := lv.rt.Machine.Status(sctx)
	if err != nil {
		s.Log.Warn("reconcile: ask the VMM whether the guest is paused", "vm", lv.id(), "error", err)
		return lv.rt.VM.State
	}
	if st == vmm.StatusPaused {
		return Paused
	}
	return Running
}

// refusePaused is the error of an operation that needs the guest's agent
// (exec, ssh, cp, top) on a paused VM, or nil.
func refusePaused(vm VM) error {
	if vm.State != Paused {
		return nil
	}
	return fmt.Errorf("vm %s: %w: it is paused; unpause it with `banger unpause %s`", vm.Name, errdefs.ErrConflict, vm.Name)
}
