package vms

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/snapshots"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// CreateSnapshot implements vmm.Snapshotter: on a paused machine it
// writes a state file naming the host key the guest serves (what a
// restored agent serves) and, when asked, a memory file.
func (m *fakeMachine) CreateSnapshot(_ context.Context, s vmm.SnapshotSpec) error {
	if !m.paused() {
		return fmt.Errorf("snapshot: the machine is running: %w: pause it first", errdefs.ErrConflict)
	}
	if err := m.h.do("vmm.snapshot"); err != nil {
		return err
	}
	m.guest.mu.Lock()
	state := "fake-state held=" + fmt.Sprint(m.guest.held) + "\n" + string(ssh.MarshalAuthorizedKey(m.guest.key))
	m.guest.mu.Unlock()
	if err := os.WriteFile(s.StatePath, []byte(state), 0o600); err != nil {
		return err
	}
	if s.MemPath != "" {
		return os.WriteFile(s.MemPath, bytes.Repeat([]byte("ram"), 1000), 0o600)
	}
	return nil
}

// Restore implements vmm.Restorer: it records handles, then starts a
// machine whose guest is the saved one (held, serving the saved key). A
// state file it cannot read is refused with vmm.ErrBadSnapshot, as a
// VMM refuses a truncated stream.
func (b *fakeBackend) Restore(_ context.Context, spec vmm.Spec, r vmm.RestoreSpec) (vmm.Machine, error) {
	if spec.MemoryFile != "" {
		return nil, fmt.Errorf("restore: %w: a restored machine has no memory file of its own", errdefs.ErrInvalid)
	}
	if spec.Record != nil {
		if err := spec.Record(b.handles(spec.ID)); err != nil {
			return nil, err
		}
	}
	if err := b.h.do("vmm.restore"); err != nil {
		return nil, err
	}
	state, err := os.ReadFile(r.StatePath)
	_, line, ok := strings.Cut(string(state), "\n")
	key, kerr := agentclient.ParsePublicKey(line)
	if err != nil || !ok || kerr != nil || !strings.HasPrefix(string(state), "fake-state held=") {
		return nil, fmt.Errorf("restore from %s: %w: not a saved machine", r.StatePath, vmm.ErrBadSnapshot)
	}
	b.h.mu.Lock()
	b.specs = append(b.specs, spec)
	b.restores = append(b.restores, r)
	b.h.mu.Unlock()
	m := newFakeMachine(b.h, spec.ID, b.handles(spec.ID), spec.ConsoleLog)
	m.guest = &fakeGuest{key: key, held: strings.HasPrefix(string(state), "fake-state held=true"), restored: true}
	if !r.Resume {
		m.resumed = make(chan struct{})
	}
	b.h.mu.Lock()
	b.h.machines[spec.ID] = m
	b.h.cgroups[spec.ID] = true
	b.h.mu.Unlock()
	return m, nil
}

// fakeSnapshots is the real store in the fixture's state directory, its
// calls logged on the fake host (and failed there when a test asks).
type fakeSnapshots struct {
	h *host
	*snapshots.Store
}

func (f *fakeSnapshots) Lookup(k snapshots.Key) (snapshots.Snapshot, bool, error) {
	_ = f.h.do("snap.lookup")
	return f.Store.Lookup(k)
}

func (f *fakeSnapshots) Prepare(k snapshots.Key, o snapshots.Origin) (*snapshots.Pending, error) {
	if err := f.h.do("snap.prepare"); err != nil {
		return nil, err
	}
	return f.Store.Prepare(k, o)
}

func (f *fakeSnapshots) Discard(dir string) error {
	if err := f.h.do("snap.discard"); err != nil {
		return err
	}
	return f.Store.Discard(dir)
}

func (f *fakeSnapshots) Remove(ref string) (snapshots.Snapshot, error) {
	if err := f.h.do("snap.remove"); err != nil {
		return snapshots.Snapshot{}, err
	}
	return f.Store.Remove(ref)
}

// withSnapshots gives the fixture a backend that pauses, saves and
// restores with RAM in a file, and a snapshot store, with snapshot.boot
// on.
func withSnapshots(f *fixture) {
	f.b.caps.Snapshot, f.b.caps.Pause, f.b.caps.MemoryFile = true, true, true
	st, err := snapshots.New(f.l.Snapshots(), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.snaps = &fakeSnapshots{h: f.h, Store: st}
}
