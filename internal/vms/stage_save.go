package vms

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bangerdev/banger/internal/crashpoint"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/snapshots"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// saveStage saves a held cold boot as the boot snapshot of its key, once
// the agent answers and before the VM's identity is applied (only when
// a save is due: a restored VM has its snapshot). A save that fails warns
// and the VM goes on; only a machine that cannot be resumed fails the
// start. Its section of the record names the snapshot's temporary
// directory before the directory exists, so a crash leaves nothing a
// later start could use, and Release discards it from the record alone.
type saveStage struct{ s *Service }

func (saveStage) Name() string { return "save" }

func (saveStage) skip(rt *Runtime) bool { return rt.Hold == nil || rt.Hold.restored }

func (st saveStage) Acquire(ctx context.Context, rt *Runtime) error {
	sn, err := st.s.saveBoot(ctx, rt)
	switch {
	case errors.Is(err, errNotResumed):
		return err
	case err != nil:
		rt.warn(st.s.Log, "boot snapshot not saved (%v); the VM goes on, booted cold", err)
		return nil
	}
	rt.Hold.saved = sn.ID
	st.s.Log.Info("boot snapshot saved", "vm", rt.VM.ID, "snapshot", sn.ID, "bytes", sn.SizeBytes)
	return nil
}

// Release discards the temporary directory of a save that did not
// finish. A broken section names no directory: the store's temporary
// directories are gc's, which every daemon start runs.
func (st saveStage) Release(_ context.Context, rt *Runtime) error {
	return discardPending(rt.Record, "snapshot", &rt.Record.Snapshot, st.s.Snapshots)
}

// discardPending removes, through store, the temporary directory that
// the record's section sec (named name) names, and clears the section; a
// broken section names no directory (gc removes the store's leftovers).
func discardPending(rec *handles.Record, name string, sec **handles.Snapshot, store SnapshotStore) error {
	if *sec == nil && !rec.IsBroken(name) {
		return nil
	}
	if *sec != nil {
		if err := store.Discard((*sec).Dir); err != nil {
			return err
		}
	}
	rec.Repaired(name)
	*sec = nil
	return rec.Save()
}

// errNotResumed is a save after which the machine could not be resumed:
// the VM cannot go on.
var errNotResumed = errors.New("the machine could not be resumed after saving it")

// saveBoot saves the held machine of rt: the agent connection closed
// (the saved guest must not hold a session of this daemon's), the
// directory recorded, then made, the machine paused, its state (and RAM
// file) written with the hold key's public half, the machine resumed,
// the snapshot committed, the section cleared. A failure removes the
// directory and clears the section.
func (s *Service) saveBoot(ctx context.Context, rt *Runtime) (snapshots.Snapshot, error) {
	h, rec := rt.Hold, rt.Record
	pauser, ok := rt.Machine.(vmm.Pauser)
	snapper, ok2 := rt.Machine.(vmm.Snapshotter)
	if !ok || !ok2 {
		return snapshots.Snapshot{}, fmt.Errorf("%w: the machine cannot be paused and saved", errdefs.ErrUnsupported)
	}
	p, err := s.Snapshots.Prepare(h.key, snapshots.Origin{Image: rt.Image.Name, Kernel: rt.Kernel.Name, VM: rt.VM.ID})
	if err != nil {
		return snapshots.Snapshot{}, err
	}
	return recordedWrite(rec, &rec.Snapshot, p, cpSaveRecorded, func() (snapshots.Snapshot, error) {
		rt.Agent.close()
		return writeSnapshot(ctx, p, pauser, snapper, []byte(h.holdKey.AuthorizedKey()))
	})
}

// recordedWrite writes a store's pending directory p (a boot snapshot's
// or a checkpoint's) under the record's section *sec: the section names
// the directory before write creates it; a failed write is aborted (when
// the abort fails too, the section stays, and Release discards the
// directory from it); then the section is cleared.
func recordedWrite[T any](rec *handles.Record, sec **handles.Snapshot, p *snapshots.Pending, recorded *crashpoint.Point, write func() (T, error)) (T, error) {
	var zero T
	*sec = &handles.Snapshot{State: handles.Creating, Dir: p.Dir}
	if err := recorded.After(rec.Save()); err != nil {
		*sec = nil
		_ = p.Abort()
		return zero, err
	}
	v, err := write()
	if err != nil {
		if aerr := p.Abort(); aerr != nil {
			return zero, errors.Join(err, aerr)
		}
	}
	*sec = nil
	if serr := rec.Save(); err == nil {
		err = serr
	}
	return v, err
}

// saveTimeout bounds pausing and writing a snapshot: a memory-sized state
// file takes seconds under emulation.
const saveTimeout = 2 * time.Minute

func writeSnapshot(ctx context.Context, p *snapshots.Pending, pauser vmm.Pauser, snapper vmm.Snapshotter, hostKey []byte) (snapshots.Snapshot, error) {
	if err := p.Create(); err != nil {
		return snapshots.Snapshot{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, saveTimeout)
	defer cancel()
	if err := pauser.Pause(ctx); err != nil {
		return snapshots.Snapshot{}, fmt.Errorf("pause: %w", err)
	}
	cpSavePaused.Hit()
	err := snapper.CreateSnapshot(ctx, p.Spec())
	if err == nil {
		err = p.WriteFile(snapshots.HostKeyFile, hostKey)
	}
	cpSaveWritten.Hit()
	if rerr := pauser.Resume(context.WithoutCancel(ctx)); rerr != nil {
		return snapshots.Snapshot{}, fmt.Errorf("%w: %w", errNotResumed, rerr)
	}
	if err != nil {
		return snapshots.Snapshot{}, err
	}
	sn, err := p.Commit()
	if err == nil {
		cpSaveCommitted.Hit()
	}
	return sn, err
}
