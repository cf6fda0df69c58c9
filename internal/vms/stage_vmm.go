package vms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// vmmStage starts the VMM. The backend passes its handles to the record
// before it creates each of its resources (process, sockets, jail).
type vmmStage struct{ s *Service }

func (vmmStage) Name() string { return "vmm" }

func (st vmmStage) Acquire(ctx context.Context, rt *Runtime) error {
	rec := rt.Record
	rec.VMM = vmmCreating(rt)
	if err := cpVMMRecorded.After(rec.Save()); err != nil {
		return err
	}
	// This run's console lines begin here: nothing is written to the log
	// before the VMM can be (a start that fails earlier leaves no trace).
	if err := markRun(rt.Boot.ConsoleLog, rt.started); err != nil {
		return err
	}
	rt.marked = true
	spec := rt.Boot
	spec.Record = func(h vmm.Handles) error {
		rec.VMM.Handles = h
		return rec.Save()
	}
	var m vmm.Machine
	var err error
	if rt.Fork != nil {
		m, err = st.restoreFork(ctx, rt, spec)
	} else {
		m, err = st.restore(ctx, rt, spec)
	}
	if m == nil && err == nil {
		m, err = rt.Backend.Start(ctx, spec)
	}
	if err != nil {
		return err
	}
	cpVMMStarted.Hit()
	rt.Machine = m
	rec.VMM = &handles.VMM{State: handles.Created, Handles: m.Handles()}
	return rec.Save()
}

// vmmCreating is the stage's section before the backend records
// anything: its name, no handles.
func vmmCreating(rt *Runtime) *handles.VMM {
	return &handles.VMM{State: handles.Creating, Handles: vmm.Handles{Backend: rt.Backend.Name()}}
}

// Release ends the VMM: through the live machine when this daemon has
// one, else through its backend from the recorded handles. VMM processes
// that carry the VM's id but that no record names (a daemon killed
// between exec and record, a broken section) go first: they hold what the
// backend's release removes (the cgroup). Last go what the backends name
// after the VM (vmm.Sweeper: cgroups a lost record named).
func (st vmmStage) Release(ctx context.Context, rt *Runtime) error {
	rec := rt.Record
	var known int
	switch {
	case rt.Machine != nil:
		known = rt.Machine.Handles().Process.PID
	case rec.VMM != nil:
		known = rec.VMM.Handles.Process.PID
	}
	err := st.s.killStrays(rt.VM.ID, known)
	switch {
	case rt.Machine != nil:
		rt.Agent.close()
		kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = errors.Join(err, rt.Machine.Kill(kctx))
		cancel()
		if err == nil {
			err = rt.Machine.Cleanup()
		}
	case rec.VMM != nil:
		b, ok := st.s.Backends.Get(rec.VMM.Handles.Backend)
		if !ok {
			err = errors.Join(err, fmt.Errorf("%w: recorded backend %q is not configured in this daemon", errdefs.ErrUnavailable, rec.VMM.Handles.Backend))
			break
		}
		err = errors.Join(err, b.Release(ctx, rec.VMM.Handles))
	}
	if err == nil {
		err = st.s.sweepBackends(rt.VM.ID)
	}
	if err != nil {
		return err
	}
	cpVMMReleased.Hit()
	if rec.VMM == nil && !rec.IsBroken("vmm") {
		return nil
	}
	rec.Repaired("vmm")
	rec.VMM = nil
	return rec.Save()
}

// killStrays kills processes that carry the VM's id in their environment
// (every VMM does: vmm.EnvVMID) but that no record names: any but pid
// known (0 when the record names none).
func (s *Service) killStrays(id string, known int) error {
	pids, err := proc.FindByEnv(vmm.EnvVMID, id)
	if err != nil {
		return nil //nolint:nilerr // no /proc to search: nothing to find
	}
	var errs []error
	for _, pid := range pids {
		if pid == known && known != 0 {
			continue // the release ends it
		}
		if isHelper(pid) {
			continue // a volume's virtiofsd: the volumes stage ends it
		}
		ident, err := proc.Lookup(pid)
		if err != nil {
			continue // gone already
		}
		s.Log.Warn("killing an unrecorded VMM process of the VM", "vm", id, "pid", pid)
		if err := ident.Kill(5 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("kill unrecorded VMM pid %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// sweepBackends releases what every backend names after VM id (vmm.Sweeper): a
// record lost to a crash does not name them, and the VM may have run on
// any backend.
func (s *Service) sweepBackends(id string) error {
	var errs []error
	for _, b := range s.Backends.Backends() {
		if sw, ok := b.(vmm.Sweeper); ok {
			if err := sw.Sweep(id); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", b.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// agentStage waits for the guest agent to answer and keeps the connection.
type agentStage struct{ s *Service }

func (agentStage) Name() string { return "agent" }

func (st agentStage) Acquire(ctx context.Context, rt *Runtime) error {
	rt.Agent = &agentLink{machine: rt.Machine, channel: rt.caps().Channel, hostKey: rt.agentKey(), dial: st.s.Agents, vmID: rt.VM.ID}
	timeout := st.s.VM.BootTimeout
	restored := rt.Hold != nil && rt.Hold.restored
	if restored {
		// A restored agent answers within a second; one that does not
		// never will, and a cold boot is the way on (startLocked).
		timeout = min(timeout, restoredAgentTimeout)
	}
	err := waitAgent(ctx, rt.Machine, rt.Agent, timeout)
	if err != nil && restored && ctx.Err() == nil {
		return fmt.Errorf("%w: %w", errRestoredNoAgent, err)
	}
	return err
}

// restoredAgentTimeout bounds the wait for a restored guest's agent
// (seconds; vm.boot_timeout when that is shorter).
const restoredAgentTimeout = 20

// errRestoredNoAgent is a restored guest whose agent did not answer: its
// boot snapshot is no good.
var errRestoredNoAgent = errors.New("the guest restored from the boot snapshot did not answer")

func (agentStage) Release(_ context.Context, rt *Runtime) error {
	rt.Agent.close()
	return nil
}

// waitAgent waits until the guest agent answers, the VMM exits (the guest
// failed to boot) or the boot timeout passes.
func waitAgent(ctx context.Context, m vmm.Machine, a *agentLink, timeoutSec int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(timeoutSec)*time.Second)
	defer cancel()
	exited := make(chan vmm.Exit, 1)
	go func() {
		if ex, err := m.Wait(ctx); err == nil {
			exited <- ex
			cancel()
		}
	}()
	_, err := a.get(ctx)
	if err == nil {
		return nil
	}
	select {
	case ex := <-exited:
		return fmt.Errorf("the guest stopped before its agent answered (VMM exit code %d); see the console lines below or `banger logs`", ex.Code)
	default:
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: the guest agent did not answer within %ds (vm.boot_timeout); see `banger logs`", errdefs.ErrUnavailable, timeoutSec)
	}
	return err
}
