package vms

import (
	"context"
	"os"

	"github.com/bangerdev/banger/internal/rootfs"
)

// Sync flushes the guest's file systems (the fake: a logged op).
func (a *fakeAgent) Sync(ctx context.Context) error {
	if err := a.frozen(ctx); err != nil {
		return err
	}
	return a.m.h.do("agent.sync")
}

// RawCopy copies the disk file (for a dm-snapshot disk, whose fake
// device is no file, its COW file), as
// rootfs.Manager.RawCopy does; dst must not exist and does not on error.
func (d fakeDisks) RawCopy(_ context.Context, src rootfs.Disk, dst string) error {
	if err := d.h.do("disk.rawcopy"); err != nil {
		return err
	}
	from := src.Path
	if src.DM != nil {
		from = src.DM.COW
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	_, err = f.Write(b)
	return err
}
