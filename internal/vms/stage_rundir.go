package vms

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// runDirStage makes the VM's runtime directory, where the VMM puts its
// sockets. It is always the layout's path for the VM id: the recorded
// path is never trusted for a removal.
type runDirStage struct{ layout paths.Layout }

func (runDirStage) Name() string { return "rundir" }

func (s runDirStage) Acquire(_ context.Context, rt *Runtime) error {
	dir := s.layout.VMRuntime(rt.VM.ID)
	rt.Record.RunDir = &handles.RunDir{State: handles.Creating, Path: dir}
	if err := cpRunDirRecorded.After(rt.Record.Save()); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("runtime dir: %w", err)
	}
	cpRunDirMade.Hit()
	rt.Record.RunDir.State = handles.Created
	return rt.Record.Save()
}

// Release removes the directory once nothing of the VMM is recorded: a
// VMM that could not be ended keeps its sockets where they are.
func (s runDirStage) Release(_ context.Context, rt *Runtime) error {
	rec := rt.Record
	if rec.RunDir == nil && !rec.IsBroken("run_dir") {
		return nil
	}
	if rec.VMM != nil || rec.IsBroken("vmm") {
		return fmt.Errorf("%w: the VMM of vm %s is still recorded; its runtime dir stays", errdefs.ErrConflict, rt.VM.ID)
	}
	if err := removeRunDir(s.layout, rt.VM.ID); err != nil {
		return err
	}
	cpRunDirRemoved.Hit()
	rec.Repaired("run_dir")
	rec.RunDir = nil
	return rec.Save()
}

// removeRunDir removes a VM's runtime directory, refusing any id that is
// not a VM id (the path comes from the layout, never from a record).
func removeRunDir(l paths.Layout, id string) error {
	if !isHex(id) {
		return fmt.Errorf("refusing to remove the runtime dir of vm id %q", id)
	}
	err := os.RemoveAll(l.VMRuntime(id))
	if errors.Is(err, syscall.ENOTDIR) {
		return nil // a parent is not a directory: the dir cannot exist
	}
	return err
}
