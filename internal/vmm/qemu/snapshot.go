package qemu

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

var _ vmm.Snapshotter = (*Machine)(nil)

// restoreTimeout bounds loading a state file: a few hundred milliseconds
// for a small guest under TCG; a stream QEMU cannot parse ends QEMU
// sooner.
const restoreTimeout = 2 * time.Minute

// CreateSnapshot implements vmm.Snapshotter: it saves the paused machine's
// state (QMP migrate to a descriptor of a temporary file, which is then
// synced and renamed to s.StatePath). With s.MemPath the machine's RAM
// file (Spec.MemoryFile) stays out of the stream (x-ignore-shared) and is
// copied, frozen, to s.MemPath; otherwise all of RAM goes into the state
// file. A machine sharing host directories is refused before anything is
// sent to QEMU.
func (m *Machine) CreateSnapshot(ctx context.Context, s vmm.SnapshotSpec) error {
	fail := func(err error) error { return m.errf("snapshot", err) }
	if err := vmm.SharedDirsBlocker(m.h.SharedDirs); err != nil {
		return fail(err)
	}
	if err := checkSnapshotSpec(s, m.h.MemoryFile); err != nil {
		return fail(err)
	}
	st, err := m.Status(ctx)
	if err != nil {
		return fail(err)
	}
	if st != vmm.StatusPaused {
		return fail(fmt.Errorf("the machine is %s: %w: pause it first", st, errdefs.ErrConflict))
	}
	err = fsutil.WriteAtomicWith(s.StatePath, 0o600, func(f *os.File) error {
		m.qmpMu.Lock()
		err := runSteps(ctx, m.h.Sockets["qmp"], saveSteps(s.MemPath != ""), f)
		m.qmpMu.Unlock()
		if err != nil {
			return err
		}
		if err := waitMigration(ctx, m.qmpArgs, m.alive); err != nil {
			// A save given up on must not go on writing to the
			// descriptor, nor leave the machine migrating.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = m.qmp(cctx, "migrate_cancel", nil)
			cancel()
			return err
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("save state to %s: %w", s.StatePath, err))
	}
	if s.MemPath != "" {
		err := fsutil.WriteAtomicWith(s.MemPath, 0o600, func(f *os.File) error { return fsutil.CopySparse(f, m.h.MemoryFile) })
		if err != nil {
			_ = os.Remove(s.StatePath)
			return fail(fmt.Errorf("save memory to %s: %w", s.MemPath, err))
		}
	}
	return nil
}

// checkSnapshotSpec rejects what QEMU cannot save; memFile is the
// machine's RAM file, if any.
func checkSnapshotSpec(s vmm.SnapshotSpec, memFile string) error {
	switch {
	case s.StatePath == "":
		return fmt.Errorf("%w: no state path", errdefs.ErrInvalid)
	case s.Type != "" && s.Type != vmm.SnapshotFull:
		return fmt.Errorf("%w: %s snapshots: qemu saves full snapshots only", errdefs.ErrUnsupported, s.Type)
	case s.MemPath != "" && memFile == "":
		return fmt.Errorf("%w: a memory path, but guest RAM is not in a file (start the machine with a memory file, or leave the memory path empty to save RAM in the state file)", errdefs.ErrInvalid)
	case s.MemPath != "" && s.MemPath == memFile:
		return fmt.Errorf("%w: the memory path %s is the running machine's RAM file, which keeps changing", errdefs.ErrInvalid, s.MemPath)
	}
	return nil
}

// Restore implements vmm.Restorer: QEMU starts with spec's command line
// and -incoming defer, waits for the state file (a descriptor it
// inherited) and loads it; guest RAM comes from the stream, or from
// r.MemPath mapped privately (share=off: copy-on-write, the file is never
// written, so any number of machines restore from it). The guest then runs
// (r.Resume) or stays paused. A state file QEMU cannot load ends QEMU, and
// Restore fails with what it printed.
func (b *Backend) Restore(ctx context.Context, spec vmm.Spec, r vmm.RestoreSpec) (vmm.Machine, error) {
	if r.StatePath == "" {
		return nil, fmt.Errorf("vm %s: restore: %w: no state path", spec.ID, errdefs.ErrInvalid)
	}
	if len(spec.SharedDirs) > 0 || spec.MemoryFile != "" {
		return nil, fmt.Errorf("vm %s: restore: %w: a restored machine has neither shared directories nor a memory file of its own", spec.ID, errdefs.ErrInvalid)
	}
	m, err := b.start(ctx, spec, &r)
	if err != nil {
		return nil, err
	}
	if err := m.load(ctx, r); err != nil {
		m.abort()
		return nil, fmt.Errorf("vm %s: restore from %s: %w: %w", spec.ID, r.StatePath, vmm.ErrBadSnapshot, err)
	}
	return m, nil
}

// load runs the incoming migration in a QEMU started by start with r.
func (m *Machine) load(ctx context.Context, r vmm.RestoreSpec) error {
	ctx, cancel := context.WithTimeout(ctx, restoreTimeout)
	defer cancel()
	m.qmpMu.Lock()
	err := runSteps(ctx, m.h.Sockets["qmp"], restoreSteps(r.MemPath != "", stateFD(m.child.ExtraFiles)), nil)
	m.qmpMu.Unlock()
	if err == nil {
		err = waitMigration(ctx, m.qmpArgs, m.alive)
	}
	if err != nil {
		if !m.alive() {
			return m.died()
		}
		return err
	}
	if r.Resume {
		return m.Resume(ctx)
	}
	return nil
}

// stateFD is the state file's descriptor number in QEMU: commandLine
// hands it over last.
func stateFD(inherited []*os.File) string {
	return strconv.Itoa(2 + len(inherited))
}
