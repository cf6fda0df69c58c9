package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// File names of disks inside a VM's directory.
const (
	rawName   = "rootfs.ext4"
	qcow2Name = "rootfs.qcow2"
)

// fileProvider makes raw disk files: a reflink clone or a sparse copy of
// the image, grown offline when asked.
type fileProvider struct {
	strategy Strategy
	run      Runner
}

func (p fileProvider) Plan(req Request) (Disk, error) {
	return Disk{Path: filepath.Join(req.Dir, rawName), Format: "raw"}, nil
}

func (p fileProvider) Create(ctx context.Context, d Disk) (err error) {
	clone := sparseCopy
	if p.strategy == Reflink {
		clone = reflink
	}
	if _, err := os.Lstat(d.Path); err == nil {
		return fmt.Errorf("%s: %w", d.Path, os.ErrExist)
	}
	if err := os.MkdirAll(filepath.Dir(d.Path), 0o700); err != nil {
		return err
	}
	// From here on a failure removes the partial disk.
	defer func() {
		if err != nil {
			_ = os.Remove(d.Path)
		}
	}()
	if err := clone(d.Image, d.Path); err != nil {
		return err
	}
	fi, err := os.Stat(d.Path)
	if err != nil {
		return err
	}
	if d.Size <= fi.Size() {
		return nil
	}
	if err := os.Truncate(d.Path, d.Size); err != nil {
		return fmt.Errorf("grow: %w", err)
	}
	for _, c := range growRaw(d.Path) {
		if err := p.run.Run(ctx, c); err != nil {
			return fmt.Errorf("grow file system: %w", err)
		}
	}
	return nil
}

func (p fileProvider) Remove(_ context.Context, d Disk) error { return removeFile(d.Path) }

// qcow2Provider makes qcow2 overlays backed by the raw image.
type qcow2Provider struct{ run Runner }

func (p qcow2Provider) Plan(req Request) (Disk, error) {
	return Disk{Path: filepath.Join(req.Dir, qcow2Name), Format: "qcow2"}, nil
}

func (p qcow2Provider) Create(ctx context.Context, d Disk) error {
	if _, err := os.Lstat(d.Path); err == nil {
		return fmt.Errorf("%s: %w", d.Path, os.ErrExist)
	}
	if err := os.MkdirAll(filepath.Dir(d.Path), 0o700); err != nil {
		return err
	}
	if err := p.run.Run(ctx, qcow2Create(d.Image, d.Path, d.Size)); err != nil {
		_ = os.Remove(d.Path)
		return err
	}
	return nil
}

func (p qcow2Provider) Remove(_ context.Context, d Disk) error { return removeFile(d.Path) }

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
