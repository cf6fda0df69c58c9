package vms

import (
	"context"
	"errors"
	"fmt"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// restore starts the VM's machine from the boot snapshot the boot config
// stage found (rt.Hold.snap), and returns nil, nil when there is none to
// restore: the vmm stage then boots. spec is the held machine with this
// VM's own disk (a fresh copy of the image), taps, config drive and
// runtime dir; a restored machine maps the snapshot's memory file instead
// of having its own.
//
// A restore that fails is never the start's failure: what it made is
// released, a snapshot whose state the VMM refused is removed, the start
// warns, and the machine boots cold (held, so the save that follows
// makes a good snapshot).
func (st vmmStage) restore(ctx context.Context, rt *Runtime, spec vmm.Spec) (vmm.Machine, error) {
	h := rt.Hold
	if h == nil || h.snap == nil {
		return nil, nil
	}
	r, ok := rt.Backend.(vmm.Restorer)
	if !ok {
		return nil, fmt.Errorf("%w: the %s backend cannot restore a snapshot", errdefs.ErrUnsupported, rt.Backend.Name())
	}
	spec.MemoryFile = ""
	m, err := r.Restore(ctx, spec, h.snap.RestoreSpec(true))
	if err == nil {
		h.restored = true
		return m, nil
	}
	if ctx.Err() != nil {
		return nil, err
	}
	if rerr := st.afterFailedRestore(ctx, rt); rerr != nil {
		return nil, fmt.Errorf("restore from boot snapshot %s: %w; then releasing what it made: %w", h.snap.ID, err, rerr)
	}
	if errors.Is(err, vmm.ErrBadSnapshot) {
		st.s.removeSnapshot(h.snap.ID)
		rt.warn(st.s.Log, "boot snapshot %s could not be restored and was removed (%v); booting cold", h.snap.ID, err)
	} else {
		rt.warn(st.s.Log, "boot snapshot %s could not be restored (%v); booting cold", h.snap.ID, err)
	}
	h.snap, h.snapKey = nil, nil
	return nil, nil
}

// afterFailedRestore releases what a failed restore recorded, whatever
// it names (a process, sockets, a jail, a cgroup; the backend removed
// what it made, and its release of recorded handles is idempotent), and
// leaves the section as the vmm stage began it, for the cold boot.
func (st vmmStage) afterFailedRestore(ctx context.Context, rt *Runtime) error {
	rec := rt.Record
	if err := rt.Backend.Release(ctx, rec.VMM.Handles); err != nil {
		return err
	}
	rec.VMM = vmmCreating(rt)
	return rec.Save()
}
