package vms

import (
	"context"
	"os"
	"path/filepath"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/store"
)

// Reconcile makes the records and the host agree after a daemon start:
// VMs whose VMM still runs (same pid, start time and boot) are adopted;
// everything held by VMs that are gone is released from their runtime
// records and their state recorded; host objects no record explains are
// swept and reported.
func (s *Service) Reconcile(ctx context.Context) {
	vms, err := store.ListAll[VM](s.Store, store.VMs)
	if err != nil {
		s.Log.Error("reconcile: list vms", "error", err)
		return
	}
	for _, vm := range vms {
		s.reconcileVM(ctx, vm)
		s.autoRemove(ctx, vm)
		s.reconcileRestart(vm.ID)
	}
	rep := s.sweep(ctx, false)
	for _, o := range rep.Objects {
		s.Log.Warn("reconcile: removed a host object no VM explains", "kind", o.Kind, "name", o.Name, "owner", o.Owner, "removed", o.Removed, "error", o.Error)
	}
}

func (s *Service) reconcileVM(ctx context.Context, vm VM) {
	if !vm.State.Live() && !s.hasRecord(vm.ID) {
		return
	}
	rec, err := s.openRecord(vm.ID)
	if err != nil {
		s.Log.Error("reconcile: open runtime record", "vm", vm.ID, "error", err)
		return
	}
	if !vm.State.Live() && !rec.Running() {
		return
	}
	rt := &Runtime{VM: vm, Record: rec}
	if vm.State.Live() {
		if lv := s.adopt(ctx, rt); lv != nil {
			s.afterCheckpointCrash(ctx, lv)
			if st := s.adoptedState(ctx, lv); st != vm.State {
				if up, err := s.update(vm.ID, func(v *VM) { v.State = st }); err != nil {
					s.Log.Error("reconcile: record whether the VM is paused", "vm", vm.ID, "error", err)
				} else {
					rt.VM = up
				}
			}
			s.live.put(lv)
			if err := s.beginOutput(rt, vm.Started, true); err != nil {
				// The VM runs on; its output is kept in the log still.
				s.Log.Warn("reconcile: a stdio path of the adopted VM cannot be opened", "vm", vm.ID, "error", err)
			}
			go s.watch(lv) //nolint:gosec // the watcher outlives this call by design: it lives as long as the VM
			s.Log.Info("reconcile: adopted a running VM", "vm", vm.ID, "name", vm.Name, "state", rt.VM.State, "pid", rec.VMM.Handles.Process.PID)
			return
		}
	}
	cpReconcileReleasing.Hit()
	relErr := s.release(ctx, s.pipeline(vm), rt)
	cpReconcileReleased.Hit()
	tail := consoleTail(s.consoleLog(vm.ID), 20)
	exit, haveCode := exitFromConsole(tail)
	up, err := s.update(vm.ID, func(v *VM) {
		v.Runtime = summarize(rec, "")
		if !vm.State.Live() && relErr == nil {
			return
		}
		v.Stopped = s.now()
		switch {
		case relErr != nil:
			v.State, v.ErrorPhase, v.Error, v.ConsoleTail = Failed, "reconcile", relErr.Error(), tail
		case haveCode:
			v.State = Exited
			recordExit(v, exit)
		default:
			v.State, v.ErrorPhase, v.Error, v.ConsoleTail = Failed, "reconcile", reasonVMMGone, tail
		}
	})
	if err != nil {
		s.Log.Error("reconcile: record", "vm", vm.ID, "error", err)
	} else if vm.State.Live() {
		// The run ended while no daemon watched it: this is where the
		// daemon learns of the exit.
		s.emitExit(up)
	}
	s.Log.Info("reconcile: released a VM whose VMM is gone", "vm", vm.ID, "name", vm.Name, "release_error", relErr)
}

// autoRemove removes a VM started with --rm that does not run after
// reconcile: its exit was never handled (the daemon died after recording
// it, or while the VM ran and the VMM ended before this start), as docker
// removes such containers when it restarts.
func (s *Service) autoRemove(ctx context.Context, vm VM) {
	if !vm.Spec.AutoRemove || s.live.get(vm.ID) != nil {
		return
	}
	if err := s.remove1(ctx, vm.ID, false); err != nil {
		s.Log.Error("reconcile: remove a --rm VM that is not running", "vm", vm.ID, "error", err)
		return
	}
	s.Log.Info("reconcile: removed a --rm VM that is not running", "vm", vm.ID, "name", vm.Name)
}

// hasRecord reports whether the VM has a runtime record, in its directory
// or (from an older banger) in its runtime directory.
func (s *Service) hasRecord(id string) bool {
	for _, p := range []string{filepath.Join(s.Layout.VM(id), "handles.json"), filepath.Join(s.Layout.VMRuntime(id), "handles.json")} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// adopt re-attaches to a VM's VMM when the recorded process is alive and
// its backend adopts it. It returns nil when the VM cannot be adopted; the
// caller then releases it.
func (s *Service) adopt(ctx context.Context, rt *Runtime) *liveVM {
	v := rt.Record.VMM
	if v == nil || !v.Handles.Process.Alive() {
		return nil
	}
	b, ok := s.Backends.Get(v.Handles.Backend)
	if !ok {
		s.Log.Error("reconcile: the recorded backend is not configured", "vm", rt.VM.ID, "backend", v.Handles.Backend)
		return nil
	}
	key, err := os.ReadFile(filepath.Join(s.Layout.VM(rt.VM.ID), agentHostKeyFile))
	var hostKey agentclient.Key
	if err == nil {
		hostKey, err = agentclient.ParseKey(key)
	}
	if err != nil {
		s.Log.Error("reconcile: agent host key", "vm", rt.VM.ID, "error", err)
		return nil
	}
	m, err := b.Attach(ctx, v.Handles)
	if err != nil {
		s.Log.Warn("reconcile: cannot adopt the VMM", "vm", rt.VM.ID, "error", err)
		return nil
	}
	rt.Backend, rt.Machine, rt.HostKey = b, m, hostKey
	rt.Agent = &agentLink{machine: m, channel: b.Capabilities().Channel, hostKey: hostKey.PublicKey(), dial: s.Agents, vmID: rt.VM.ID}
	return newLive(rt, rt.Agent)
}
