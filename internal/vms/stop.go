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
	exit, haveCode := exitFromConsole(tail)
	state, phase, msg := Exited, "", ""
	reason, _ := lv.killed.Load().(string)
	canceled := lv.stopping.Load()
	manual := canceled || lv.manual.Load()
	switch i, line := panicLine(lines); {
	case i >= 0:
		state, phase, msg = Failed, "guest", "the guest kernel panicked: "+line
		// Show the panic and what follows it, not only the stack's end.
		tail = lines[i:min(len(lines), i+25)]
	case !canceled && !haveCode && ex.Code != 0:
		state, phase, msg = Failed, "vmm", fmt.Sprintf("the VMM exited unexpectedly with code %d", ex.Code)
	}
	if relErr != nil {
		s.Log.Error("release runtime resources", "vm", id, "error", relErr)
		if state == Exited {
			state, phase, msg = Failed, "teardown", relErr.Error()
		}
	}
	var (
		delay     time.Duration
		restarted bool
	)
	updated, err := s.update(id, func(v *VM) {
		v.State, v.ErrorPhase, v.Error, v.ExitReason = state, phase, msg, reason
		v.Stopped = s.now()
		if haveCode {
			recordExit(v, exit)
		}
		if state == Failed {
			v.ConsoleTail = tail
		}
		v.Runtime = summarize(lv.rt.Record, "")
		v.Restarts.ManuallyStopped = v.Restarts.ManuallyStopped || manual
		delay, restarted = policyRestart(v, canceled)
	})
	if err == nil {
		// Before done: a stop or kill waiting on it reports after the
		// exit it caused.
		s.emitExit(updated)
	}
	close(lv.done)
	defer close(lv.settled) // before forget: a waiter holding lv sees it

	if err != nil {
		s.Log.Error("record vm exit", "vm", id, "error", err)
		return
	}
	cpWatchRecorded.Hit()
	code := "none"
	if updated.ExitCode != nil {
		code = fmt.Sprint(*updated.ExitCode)
	}
	s.Log.Info("vm exited", "vm", id, "state", state, "exit_code", code, "signal", updated.ExitSignal, "oom", updated.OOMKilled, "reason", reason)
	if restarted {
		s.scheduleRestart(id, delay)
	}
	if updated.Spec.AutoRemove {
		if err := s.remove1(context.Background(), id, false); err != nil {
			s.Log.Error("auto-remove", "vm", id, "error", err)
		}
	}
}

// Stop stops a running VM as docker stops a container: its main process
// gets its stop signal (the image's STOPSIGNAL, default SIGTERM) and, after
// timeout, SIGKILL; the agent then stops every other process, syncs the
// disks and powers off. Only an agent that does not get there within
// vm.agent_timeout more has its VMM killed (ExitReason says so), so a stop
// never loses what the guest wrote. A VM that is not running is left as it
// is (stop is idempotent, as docker's).
func (s *Service) Stop(ctx context.Context, ref string, timeout time.Duration) (VM, error) {
	return s.StopWith(ctx, ref, StopOptions{Timeout: timeout})
}

// StopOptions tune a stop (docker stop's -t and -s).
type StopOptions struct {
	// Timeout is the grace between the first signal and SIGKILL; 0
	// sends SIGKILL right after it.
	Timeout time.Duration
	// Signal is the first signal, a name or number; empty is the
	// image's STOPSIGNAL, else TERM.
	Signal string
}

// check validates the signal and returns it in the agent's spelling.
func (o StopOptions) check() (StopOptions, error) {
	if o.Signal == "" {
		return o, nil
	}
	num, err := proto.ParseSignal(o.Signal, syscall.SIGTERM)
	if err != nil {
		return o, fmt.Errorf("%w: stop signal: %w", errdefs.ErrInvalid, err)
	}
	o.Signal = proto.SignalText(num)
	return o, nil
}

// StopWith is Stop with a signal of the caller's choice.
func (s *Service) StopWith(ctx context.Context, ref string, o StopOptions) (VM, error) {
	o, err := o.check()
	if err != nil {
		return VM{}, err
	}
	vm, err := s.Get(ref)
	if err != nil {
		return vm, err
	}
	if vm, err = s.settle(vm, true); err != nil {
		return vm, err
	}
	unlock := s.locks.Lock(vm.ID)
	defer unlock()
	return s.userStop(ctx, vm.ID, o)
}

// userStop is the user's stop of the VM id, whose lock the caller holds:
// stopLocked, then the stop event when there was a run (or a pending
// restart) to stop. It returns the VM as recorded then.
func (s *Service) userStop(ctx context.Context, id string, o StopOptions) (VM, error) {
	before, err := s.Get(id)
	if err != nil {
		return before, err
	}
	if err := s.stopLocked(ctx, id, o); err != nil {
		return before, err
	}
	vm, err := s.Get(id)
	if err == nil && (before.State.Live() || before.State == Restarting) {
		s.emit(events.Stop, vm)
	}
	return vm, err
}

// stopLocked stops the VM id, whose lock the caller holds, and returns
// once its exit watcher has released it. A negative o.Timeout kills the VMM
// at once (rm -f: the disk is going anyway). The VM is read here, under
// the lock: it may have exited, or been stopped by another call, since the
// caller looked it up.
func (s *Service) stopLocked(ctx context.Context, id string, o StopOptions) error {
	timeout := o.Timeout
	lv := s.live.get(id)
	if lv == nil {
		if ex := s.live.any(id); ex != nil {
			// Its exit is being recorded: make it the user's stop and
			// read the record once it is written.
			ex.stopping.Store(true)
			<-ex.done
		}
		vm, err := s.Get(id)
		if err != nil {
			return err
		}
		if err := s.cancelRestart(vm); err != nil {
			return fmt.Errorf("vm %s: cancel its restart: %w", vm.Name, err)
		}
		if vm.State.Live() {
			return fmt.Errorf("vm %s: %w: recorded as running but its VMM is not known to this daemon; restart the daemon to reconcile", vm.Name, errdefs.ErrConflict)
		}
		return nil
	}
	lv.stopping.Store(true)
	cpStopBegun.Hit()
	if timeout < 0 {
		return s.killVMM(ctx, lv, "")
	}
	if !s.unpauseFor(ctx, "stop", lv) {
		return s.killVMM(ctx, lv, reasonUnpause)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout+s.agentTimeout())
	defer cancel()
	if err := s.askAgent(wctx, lv, func(c Agent) error {
		return c.ShutdownWith(wctx, agentclient.ShutdownOptions{Signal: o.Signal, Grace: timeout, Now: timeout == 0})
	}); err != nil {
		// No agent to ask: the power button makes a live one stop the
		// same way (with the boot config's grace).
		s.Log.Warn("stop: the guest agent does not answer; pressing the power button", "vm", id, "error", err)
		go func() { _ = lv.rt.Machine.Shutdown(wctx) }()
	}
	select {
	case <-lv.done:
		return nil
	case <-wctx.Done():
	}
	s.Log.Warn("stop: the guest did not power off in time; killing its VMM", "vm", id, "timeout", timeout, "agent_timeout", s.agentTimeout())
	return s.killVMM(ctx, lv, reasonUnresponsive)
}

// The ExitReasons of a VM whose VMM had to be killed.
const (
	reasonUnresponsive = "killed: agent unresponsive"
	reasonUnpause      = "killed: the paused VM could not be unpaused"
)

// agentTimeout is how long the agent gets to end the VM after its main
// process is gone (vm.agent_timeout).
func (s *Service) agentTimeout() time.Duration {
	if s.VM.AgentTimeout <= 0 {
		return 30 * time.Second
	}
	return time.Duration(s.VM.AgentTimeout) * time.Second
}

// askAgent runs fn on the VM's agent connection, dialing it within a part
// of ctx's time so a dead agent still leaves time for the fallback.
func (s *Service) askAgent(ctx context.Context, lv *liveVM, fn func(Agent) error) error {
	dctx, cancel := context.WithTimeout(ctx, min(s.agentTimeout()/2, 10*time.Second))
	defer cancel()
	c, err := lv.agent.get(dctx)
	if err != nil {
		return err
	}
	return fn(c)
}

// killVMM ends the VMM now and waits for the watcher to release the VM;
// reason, when set, is recorded as the VM's ExitReason.
func (s *Service) killVMM(ctx context.Context, lv *liveVM, reason string) error {
	if reason != "" {
		lv.killed.Store(reason)
	}
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	err := lv.rt.Machine.Kill(kctx)
	cancel()
	if err != nil {
		return fmt.Errorf("vm %s: kill the VMM: %w", lv.rt.VM.Name, err)
	}
	<-lv.done
	return nil
}

// Wait blocks until a running VM has stopped and its exit is recorded,
// and returns the record then. As docker's wait it returns at each exit:
// a VM its restart policy restarts comes back Restarting, and a wait on a
// Restarting VM returns at the end of the run the policy starts (or when
// a stop cancels it). A VM removed on exit (--rm) comes back as stopped
// with only its id.
func (s *Service) Wait(ctx context.Context, ref string) (VM, error) {
	vm, err := s.Get(ref)
	if err != nil {
		return vm, err
	}
	if err := s.waitExit(ctx, vm.ID); err != nil {
		return vm, err
	}
	got, err := s.Get(vm.ID)
	if errors.Is(err, errdefs.ErrNotFound) {
		return VM{ID: vm.ID, State: Exited}, nil
	}
	return got, err
}

// recordExit writes how the main process ended onto v.
func recordExit(v *VM, e proto.Exit) {
	code := e.Status
	v.ExitCode, v.ExitSignal, v.OOMKilled = &code, e.Signal, e.OOM
}

// clearExit forgets how the previous run ended (a start): a run that ends
// without an exit line (a crash, a panic) must not show the last one's
// signal or OOM kill, nor a running VM any of it.
func clearExit(v *VM) {
	v.ExitCode, v.ExitSignal, v.OOMKilled, v.ExitReason = nil, "", false, ""
}
