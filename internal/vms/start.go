package vms

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"context"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Start boots a created or stopped VM through its stages and returns once
// its agent answers. On failure the VM ends in the error state, naming the
// stage and quoting the console's last lines, and every runtime resource
// the start acquired is released.
func (s *Service) Start(ctx context.Context, ref string) (StartResult, error) {
	vm, err := s.Get(ref)
	if err != nil {
		return StartResult{}, err
	}
	if vm, err = s.settle(vm, false); err != nil {
		return StartResult{}, err
	}
	unlock := s.locks.Lock(vm.ID)
	defer unlock()
	if s.restarts.get(vm.ID) != nil {
		return StartResult{}, fmt.Errorf("vm %s: %w: %w; `banger restart %s` starts it now", vm.Name, errdefs.ErrConflict, errRestarting, vm.Name)
	}
	return s.startLocked(ctx, vm.ID, byUser)
}

// startLocked starts the VM id, whose lock the caller holds; a start by
// the user resets the restart policy's count, one by the policy adds to it.
func (s *Service) startLocked(ctx context.Context, id string, cause startCause) (StartResult, error) {
	vm, err := s.Get(id)
	if err != nil {
		return StartResult{}, err
	}
	if vm.State.Live() || s.live.get(vm.ID) != nil {
		return StartResult{}, fmt.Errorf("vm %s: %w: it is already running (%s)", vm.Name, errdefs.ErrConflict, vm.State)
	}
	rec, err := s.openRecord(vm.ID)
	if err != nil {
		return StartResult{}, fmt.Errorf("vm %s: %w", vm.Name, err)
	}
	rt := &Runtime{VM: vm, Record: rec, started: s.now()}
	stages := s.pipeline(vm)
	if rec.Running() {
		// Leftovers of a start or stop that did not finish (a failed
		// release, a broken record): release them before acquiring anew.
		if err := s.release(ctx, stages, rt); err != nil {
			return StartResult{}, fmt.Errorf("vm %s: release what an earlier run left: %w", vm.Name, err)
		}
	}
	timings := map[string]float64{}
	err = s.acquire(ctx, stages, rt, timings)
	if errors.Is(err, errRestoredNoAgent) {
		// The start released what it made; the snapshot goes, and the
		// VM boots cold (held: the save makes a good snapshot again).
		snapID := rt.Hold.snap.ID
		s.removeSnapshot(snapID)
		// The disk is still the image's: the restored guest had it
		// read-only.
		rt = &Runtime{VM: vm, Record: rec, started: s.now(), noRestore: true, freshDisk: rt.freshDisk, warnings: rt.warnings}
		rt.warn(s.Log, "boot snapshot %s was removed: %v; booting cold", snapID, errors.Unwrap(err))
		timings = map[string]float64{}
		err = s.acquire(ctx, stages, rt, timings)
	}
	if err != nil {
		return StartResult{}, s.failed(vm, rt, err)
	}
	cpStartAcquired.Hit()
	rt.slot.free()
	if rt.Hold != nil && rt.Hold.restored {
		// A restore is the vmm stage's work, in place of a boot.
		timings["restore"] = timings["vmm"]
		delete(timings, "vmm")
	}
	lv := newLive(rt, rt.Agent)
	s.live.put(lv)
	vm, err = s.update(vm.ID, func(v *VM) {
		v.State, v.Error, v.ErrorPhase, v.ConsoleTail = Running, "", "", nil
		clearExit(v)
		v.Started = rt.started
		v.Runtime = summarize(rec, rt.Probe.Accel)
		v.Boot = rt.Hold.boot()
		if cause == byPolicy {
			v.Restarts.Count++
			v.Restarts.Last = v.Started
		} else {
			v.Restarts = Restarts{}
		}
	})
	if err != nil {
		// The VM runs; the next reconcile records it. The caller hears.
		s.Log.Error("record vm start", "vm", lv.id(), "error", err)
	} else {
		s.emit(events.Start, vm, events.AttrRestarts, strconv.Itoa(vm.Restarts.Count))
	}
	cpStartRecorded.Hit()
	rt.VM = vm
	go s.watch(lv) //nolint:gosec // the watcher outlives the request by design: it lives as long as the VM
	s.Log.Info("vm started", "vm", vm.ID, "name", vm.Name, "vmm", rt.Backend.Name(), "accel", rt.Probe.Accel, "boot", vm.Boot.Mode, "timings_ms", timings)
	return StartResult{VM: vm, Timings: timings, Warnings: rt.warnings}, err
}

// failed records a failed start: the error state with the stage that
// failed and, when the VMM was launched, the console's last lines of this
// run, which the error quotes too.
func (s *Service) failed(vm VM, rt *Runtime, err error) error {
	stage := "start"
	var se *stageError
	if errors.As(err, &se) {
		stage = se.stage
	}
	var tail []string
	if rt.marked {
		tail = consoleTail(s.consoleLog(vm.ID), 20)
	}
	if up, uerr := s.update(vm.ID, func(v *VM) {
		v.State, v.Error, v.ErrorPhase, v.ConsoleTail = Failed, err.Error(), stage, tail
		v.Runtime = summarize(rt.Record, "")
	}); uerr != nil {
		s.Log.Error("record failed start", "vm", vm.ID, "error", uerr)
	} else {
		s.emit(events.Error, up, events.AttrError, err.Error(), events.AttrPhase, stage)
	}
	if len(tail) > 0 {
		err = fmt.Errorf("%w\nlast console lines:\n  %s", err, strings.Join(tail, "\n  "))
	}
	return err
}

// openRecord opens a VM's runtime record in its directory (created here).
// A record that cannot be fully decoded is logged and used as it is: its
// broken sections release by the VM id. A record of an older banger in the
// runtime directory is converted once.
func (s *Service) openRecord(id string) (*handles.Record, error) {
	dir := s.Layout.VM(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("vm dir: %w", err)
	}
	path := filepath.Join(dir, handles.FileName)
	rec, err := handles.Open(path, id)
	switch {
	case errors.Is(err, handles.ErrCorrupt):
		s.Log.Warn("runtime record partly unreadable; releasing its broken sections by the VM id", "vm", id, "broken", rec.Broken, "error", err)
	case err != nil:
		return nil, err
	}
	if rec.Empty() {
		legacy := filepath.Join(s.Layout.VMRuntime(id), handles.FileName)
		if old, lerr := handles.FromLegacy(legacy, path, id); lerr == nil {
			if err := old.Save(); err != nil {
				return nil, err
			}
			_ = os.Remove(legacy)
			s.Log.Info("converted a runtime record of an older banger", "vm", id)
			return old, nil
		}
	}
	return rec, nil
}

// summarize derives what inspect shows from the record.
func summarize(rec *handles.Record, accel string) Summary {
	var sum Summary
	if d := rec.Disk; d != nil {
		sum.DiskPath, sum.DiskStrategy = d.Disk.Path, d.Disk.Strategy
	}
	if n := rec.Network; n != nil {
		sum.IP, sum.MAC = n.IP, n.MAC
		if n.Attach != "" {
			sum.Tap, sum.Ports = n.Resources.Tap, n.Resources.Ports
		}
	}
	if n := rec.Netns; n != nil {
		sum.IP, sum.MAC, sum.Tap = n.IP, n.MAC, n.Handles.Tap
	}
	if r := rec.RunDir; r != nil {
		sum.RuntimeDir = r.Path
	}
	if v := rec.VMM; v != nil {
		sum.VMM, sum.PID = v.Handles.Backend, v.Handles.Process.PID
		sum.Accel = v.Handles.Accel
		if sum.Accel == "" {
			sum.Accel = accel
		}
		switch h := v.Handles; {
		case h.Confinement != nil:
			sum.Confinement = h.Confinement.Summary()
		case h.JailDir != "":
			sum.Confinement = "jail " + h.JailDir
		default:
			sum.Confinement = "none"
		}
	}
	return sum
}
