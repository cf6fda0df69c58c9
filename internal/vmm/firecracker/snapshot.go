package firecracker

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/bangerdev/banger/internal/vmm"
)

// CreateSnapshot saves the paused guest's state and memory (PUT
// /snapshot/create). A Diff snapshot needs the backend's
// WithTrackDirtyPages. Under the jailer Firecracker writes inside the jail,
// and the files are moved to the requested paths after.
func (m *Machine) CreateSnapshot(ctx context.Context, s vmm.SnapshotSpec) error {
	typ := s.Type
	if typ == "" {
		typ = vmm.SnapshotFull
	}
	state, mem := s.StatePath, s.MemPath
	if m.jailRoot != "" {
		state, mem = "/snapshot.state", "/snapshot.mem"
		// Stale files are unlinked, never written through (they may be
		// hard links to another snapshot).
		for _, p := range []string{state, mem} {
			if err := removeIfExists(filepath.Join(m.jailRoot, p)); err != nil {
				return fmt.Errorf("snapshot vm %s: %w", m.id, err)
			}
		}
	}
	call := Call{http.MethodPut, "/snapshot/create", SnapshotCreateParams{
		SnapshotType: string(typ), SnapshotPath: state, MemFilePath: mem,
	}}
	if err := m.api.Do(ctx, call, nil); err != nil {
		return fmt.Errorf("snapshot vm %s: %w", m.id, err)
	}
	if m.jailRoot != "" {
		for _, mv := range [][2]string{{state, s.StatePath}, {mem, s.MemPath}} {
			if err := moveFile(filepath.Join(m.jailRoot, mv[0]), mv[1]); err != nil {
				return fmt.Errorf("snapshot vm %s: move %s out of the jail: %w", m.id, mv[0], err)
			}
		}
	}
	return nil
}

// Restore implements vmm.Restorer: it starts a Firecracker process for spec and loads a snapshot into
// it (PUT /snapshot/load) instead of booting: the guest continues where
// the snapshot left it, with its NICs moved to spec's taps
// (network_overrides) and its vsock to spec's runtime dir
// (vsock_override). The snapshot's drives are reopened at the paths they
// had; under the jailer those are the jail's stable names
// (/drive-<id>), which spec's drives are linked to.
func (b *Backend) Restore(ctx context.Context, spec vmm.Spec, r vmm.RestoreSpec) (vmm.Machine, error) {
	m, err := b.launch(ctx, spec, &r)
	if err != nil {
		return nil, err
	}
	if err := m.apply(ctx, restoreCalls(spec, m.paths, m.restoreState, m.restoreMem, r.Resume, b.opts.TrackDirtyPages)); err != nil {
		m.abort()
		return nil, fmt.Errorf("restore vm %s: %w: %w", spec.ID, vmm.ErrBadSnapshot, err)
	}
	return m, nil
}

// restoreCalls is a snapshot load as API calls: logger and metrics (the
// only resources allowed before a load), then the load.
func restoreCalls(spec vmm.Spec, p vmPaths, state, mem string, resume, trackDirty bool) []Call {
	load := SnapshotLoadParams{
		SnapshotPath:    state,
		MemBackend:      MemoryBackend{BackendType: "File", BackendPath: mem},
		ResumeVM:        resume,
		TrackDirtyPages: trackDirty,
		VsockOverride:   &VsockOverride{UDSPath: p.Vsock},
	}
	for i, n := range spec.NICs {
		load.NetworkOverrides = append(load.NetworkOverrides, NetworkOverride{
			IfaceID: resourceID(n.ID, fmt.Sprintf("eth%d", i)), HostDevName: n.Tap,
		})
	}
	return []Call{
		{http.MethodPut, "/logger", Logger{LogPath: p.Log, Level: "Info", ShowLevel: true}},
		{http.MethodPut, "/metrics", Metrics{MetricsPath: p.Metrics}},
		{http.MethodPut, "/snapshot/load", load},
	}
}
