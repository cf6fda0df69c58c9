package vms

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/snapshots"
)

// Reidentify implements Agent: an applied (or own-config) guest takes
// another VM's identity and switches its host key for new connections; a
// held one refuses, as the real agent does.
func (a *fakeAgent) Reidentify(ctx context.Context, cfg bootcfg.Config, now time.Time) error {
	if err := a.frozen(ctx); err != nil {
		return err
	}
	if err := a.m.h.do("agent.reidentify"); err != nil {
		return err
	}
	g := a.m.guest
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held {
		return fmt.Errorf("agentclient: re-identify: a held agent takes an apply")
	}
	k, err := agentclient.ParseKey([]byte(cfg.SSH.HostKey))
	if err != nil {
		return fmt.Errorf("re-identify: %w", err)
	}
	g.key = k.PublicKey()
	g.reidentified = append(g.reidentified, cfg)
	g.now = append(g.now, now)
	return nil
}

// Clone copies the disk file (a dm-snapshot disk's COW file), as
// rootfs.Manager.Clone does; dst must not exist.
func (d fakeDisks) Clone(_ context.Context, src rootfs.Disk, dst string) (rootfs.Disk, error) {
	if err := d.h.do("disk.clone"); err != nil {
		return rootfs.Disk{}, err
	}
	from := src.Path
	if src.DM != nil {
		from = src.DM.COW
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return rootfs.Disk{}, err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return rootfs.Disk{}, err
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Write(b); err != nil {
		return rootfs.Disk{}, err
	}
	return rootfs.Disk{Path: dst, Format: src.Format, Strategy: src.Strategy}, nil
}

// withCheckpoints gives the fixture a backend that pauses, saves and
// restores (RAM in the state file), and a checkpoint store; boot
// snapshots stay off, so VMs boot with their own config.
func withCheckpoints(f *fixture) {
	f.b.caps.Snapshot, f.b.caps.Pause = true, true
	st, err := snapshots.NewCheckpoints(f.l.Checkpoints(), nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.ckpts = &fakeSnapshots{h: f.h, Store: st}
}
