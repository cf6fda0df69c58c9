package vms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bangerdev/banger/internal/errdefs"
)

// watch waits for a live VM's VMM to exit, however that happens (the main
// process ended, a stop, a kill, a guest panic, a crash), then releases
// its runtime stages and records how it ended. When the service closes
// first it returns without touching anything: VMs outlive their daemon,
// and the next one adopts them.
func (s *Service) watch(lv *liveVM) {
	ex, err := lv.rt.Machine.Wait(s.ctx)
	if s.ctx.Err() != nil {
		return
	}
	cpWatchExited.Hit()
	id := lv.id()
	if err != nil {
		s.Log.Error("wait for vmm", "vm", id, "error", err)
	}
	lv.agent.close()
	relErr := s.release(context.Background(), s.pipeline(lv.rt.VM), lv.rt)
	cpWatchReleased.Hit()
	s.live.retire(id)
	defer s.live.forget(id)

	lines := consoleLines(s.consoleLog(id))
	tail := lastN(lines, 20)
	code, haveCode := exitFromConsole(tail)
	state, phase, msg := Exited, "", ""
	switch i, line := panicLine(lines); {
	case i >= 0:
		state, phase, msg = Failed, "guest", "the guest kernel panicked: "+line
		// Show the panic and what follows it, not only the stack's end.
		tail = lines[i:min(len(lines), i+25)]
	case !lv.stopping.Load() && !haveCode && ex.Code != 0:
		state, phase, msg = Failed, "vmm", fmt.Sprintf("the VMM exited unexpectedly with code %d", ex.Code)
	}
	if relErr != nil {
		s.Log.Error("release runtime resources", "vm", id, "error", relErr)
		if state == Exited {
			state, phase, msg = Failed, "teardown", relErr.Error()
		}
	}
	updated, err := s.update(id, func(v *VM) {
		v.State, v.ErrorPhase, v.Error = state, phase, msg
		v.Stopped = s.now()
		if haveCode {
			v.ExitCode = &code
		}
		if state == Failed {
			v.ConsoleTail = tail
		}
		v.Runtime = summarize(lv.rt.Record, "")
	})
	close(lv.done)
	defer close(lv.settled) // before forget: a waiter holding lv sees it

	if err != nil {
		s.Log.Error("record vm exit", "vm", id, "error", err)
		return
	}
	cpWatchRecorded.Hit()
	exit := "none"
	if updated.ExitCode != nil {
		exit = fmt.Sprint(*updated.ExitCode)
	}
	s.Log.Info("vm stopped", "vm", id, "state", state, "exit_code", exit)
	if updated.Spec.AutoRemove {
		if err := s.remove1(context.Background(), id, false); err != nil {
			s.Log.Error("auto-remove", "vm", id, "error", err)
		}
	}
}

// Stop stops a running VM: the agent is asked to stop the main process
// and power off; after timeout the VMM is asked (ACPI power button,
// Ctrl-Alt-Del) and finally killed. A zero timeout kills at once. A VM
// that is not running is left as it is (stop is idempotent, as docker's).
func (s *Service) Stop(ctx context.Context, ref string, timeout time.Duration) (VM, error) {
	vm, err := s.Get(ref)
	if err != nil {
		return vm, err
	}
	unlock := s.locks.lock(vm.ID)
	defer unlock()
	if err := s.stopLocked(ctx, vm, timeout); err != nil {
		return vm, err
	}
	return s.Get(vm.ID)
}

// stopLocked stops vm, whose lock the caller holds, and returns once its
// exit watcher has released it.
func (s *Service) stopLocked(ctx context.Context, vm VM, timeout time.Duration) error {
	lv := s.live.get(vm.ID)
	if lv == nil {
		if vm.State == Running {
			return fmt.Errorf("vm %s: %w: recorded as running but its VMM is not known to this daemon; restart the daemon to reconcile", vm.Name, errdefs.ErrConflict)
		}
		return nil
	}
	lv.stopping.Store(true)
	cpStopBegun.Hit()
	if timeout > 0 {
		s.shutdownGracefully(ctx, lv, timeout)
	}
	select {
	case <-lv.done:
	default:
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := lv.rt.Machine.Kill(kctx)
		cancel()
		if err != nil {
			return fmt.Errorf("vm %s: kill: %w", vm.Name, err)
		}
		<-lv.done
	}
	return nil
}

// shutdownGracefully asks the agent, then the VMM, to power the guest off,
// and waits up to timeout for the watcher to see the exit.
func (s *Service) shutdownGracefully(ctx context.Context, lv *liveVM, timeout time.Duration) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if c, err := lv.agent.get(wctx); err == nil {
		if err := c.Shutdown(wctx); err != nil {
			s.Log.Debug("agent shutdown request", "vm", lv.id(), "error", err)
		}
	}
	// The agent gets half the time; then the VMM presses the power button
	// (ACPI, Ctrl-Alt-Del), which also covers an agent that is not
	// answering.
	select {
	case <-lv.done:
		return
	case <-time.After(timeout / 2):
	}
	if err := lv.rt.Machine.Shutdown(wctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		s.Log.Debug("vmm shutdown", "vm", lv.id(), "error", err)
	}
	select {
	case <-lv.done:
	case <-wctx.Done():
	}
}

// Wait blocks until a running VM has stopped and its exit is recorded,
// and returns the record then. A VM removed on exit (--rm) comes back as
// stopped with only its id.
func (s *Service) Wait(ctx context.Context, ref string) (VM, error) {
	vm, err := s.Get(ref)
	if err != nil {
		return vm, err
	}
	if lv := s.live.any(vm.ID); lv != nil {
		select {
		case <-lv.settled:
		case <-ctx.Done():
			return vm, ctx.Err()
		}
	}
	got, err := s.Get(vm.ID)
	if errors.Is(err, errdefs.ErrNotFound) {
		return VM{ID: vm.ID, State: Exited}, nil
	}
	return got, err
}
