package vms

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Kill sends sig (a name or number; empty means KILL) to a running VM's
// main process, as docker kill does to a container's. The VM then ends
// when the process does: the agent stops the rest, syncs and powers off.
// For SIGKILL it returns once the VM has exited; when the agent cannot be
// reached the VMM is killed instead (ExitReason says so). Other signals
// return once delivered.
func (s *Service) Kill(ctx context.Context, ref, sig string) (VM, error) {
	num, err := proto.ParseSignal(sig, syscall.SIGKILL)
	if err != nil {
		return VM{}, fmt.Errorf("%w: %w", errdefs.ErrInvalid, err)
	}
	vm, err := s.Get(ref)
	if err != nil {
		return vm, err
	}
	unlock := s.locks.Lock(vm.ID)
	defer unlock()
	lv, err := s.running(vm)
	if err != nil {
		return vm, err
	}
	fatal := num == syscall.SIGKILL
	// docker's kill: the user stopped it; SIGKILL also cancels the restart
	// policy, another signal leaves it to the policy (always restarts).
	lv.manual.Store(true)
	if fatal {
		lv.stopping.Store(true)
	}
	// Reported before the signal goes, as docker does: the exit it
	// causes comes after it.
	s.emit(events.Kill, vm, events.AttrSignal, proto.SignalText(num))
	if !s.unpauseFor(ctx, "kill", lv) {
		if !fatal {
			return vm, fmt.Errorf("vm %s: %w: it is paused and could not be unpaused to deliver %s", vm.Name, errdefs.ErrConflict, proto.SignalText(num))
		}
		if err := s.killVMM(ctx, lv, reasonUnpause); err != nil {
			return vm, err
		}
		return s.Get(vm.ID)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.agentTimeout())
	defer cancel()
	err = s.askAgent(wctx, lv, func(c Agent) error {
		err := c.Signal(wctx, proto.SignalText(num))
		if fatal && errors.Is(err, agentclient.ErrOldAgent) {
			// An agent older than the signal request still stops the
			// main process at once, syncs and powers off.
			return c.ShutdownWith(wctx, agentclient.ShutdownOptions{Now: true})
		}
		return err
	})
	switch {
	case err != nil && !fatal:
		return vm, fmt.Errorf("vm %s: signal %s: %w", vm.Name, proto.SignalText(num), err)
	case err != nil:
		s.Log.Warn("kill: the guest agent does not answer; killing the VMM", "vm", vm.ID, "error", err)
		if err := s.killVMM(ctx, lv, reasonUnresponsive); err != nil {
			return vm, err
		}
	case fatal:
		select {
		case <-lv.done:
		case <-wctx.Done():
			if err := s.killVMM(ctx, lv, reasonUnresponsive); err != nil {
				return vm, err
			}
		}
	}
	return s.Get(vm.ID)
}

// Restart stops a running VM (as Stop does) and starts it again.
func (s *Service) Restart(ctx context.Context, ref string, timeout time.Duration) (StartResult, error) {
	return s.RestartWith(ctx, ref, StopOptions{Timeout: timeout})
}

// RestartWith is Restart with StopWith's options.
func (s *Service) RestartWith(ctx context.Context, ref string, o StopOptions) (StartResult, error) {
	o, err := o.check()
	if err != nil {
		return StartResult{}, err
	}
	vm, err := s.Get(ref)
	if err != nil {
		return StartResult{}, err
	}
	if vm, err = s.settle(vm, true); err != nil {
		return StartResult{}, err
	}
	unlock := s.locks.Lock(vm.ID)
	defer unlock()
	if _, err := s.userStop(ctx, vm.ID, o); err != nil {
		return StartResult{}, err
	}
	res, err := s.startLocked(ctx, vm.ID, byUser)
	if err == nil {
		s.emit(events.Restart, res.VM)
	}
	return res, err
}
