package rootfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Clone makes dst a point-in-time copy of the VM disk d: a checkpoint's
// disk, or a fork's own copy of a checkpoint's. What is copied is the
// file holding what the VM wrote, cloned (FICLONE: instant, sharing
// blocks until written) where the file system can, else copied sparse:
//
//   - reflink, copy: the raw disk file;
//   - qcow2: the overlay, which keeps its backing image (a backing name
//     relative to the overlay's directory is made absolute, so the copy
//     opens from anywhere), checked with qemu-img info;
//   - dm-snapshot: the COW file (d.DM.COW). The copy is a COW file over
//     the same image: the Disk returned names that file, and Activate
//     brings it up for another VM once it is at DiskPath(dir,
//     DMSnapshot) of that VM's directory.
//
// The caller makes sure nothing writes d meanwhile — its VM is paused and
// its VMM has flushed what the guest wrote (QEMU's stop does) — and
// records dst before calling. dst must not exist; on error it does not.
func (m *Manager) Clone(ctx context.Context, d Disk, dst string) (Disk, error) {
	src, err := cloneSource(d)
	if err != nil {
		return Disk{}, err
	}
	out := Disk{Path: dst, Format: d.Format, Strategy: d.Strategy}
	fail := func(step string, err error) (Disk, error) {
		if !errors.Is(err, os.ErrExist) { // not ours to remove
			_ = os.Remove(dst)
		}
		return Disk{}, fsutil.NoSpace(fmt.Errorf("clone disk %s (%s) to %s: %s: %w", src, d.Strategy, dst, step, err), dst)
	}
	var backing qcow2Info
	if d.Format == "qcow2" {
		if backing, err = m.qcow2Info(ctx, src); err != nil {
			return Disk{}, fmt.Errorf("clone disk %s: %w", src, err)
		}
	}
	if err := cloneFile(src, dst); err != nil {
		return fail("copy", err)
	}
	if d.Format == "qcow2" {
		if err := m.keepBacking(ctx, src, dst, backing); err != nil {
			return fail("backing image", err)
		}
	}
	return out, nil
}

// cloneSource is the file holding d's data.
func cloneSource(d Disk) (string, error) {
	switch d.Strategy {
	case Reflink, Copy, QCOW2:
		return d.Path, nil
	case DMSnapshot:
		if d.DM == nil || d.DM.COW == "" {
			return "", fmt.Errorf("%w: clone a dm-snapshot disk %s: its COW file is not known", errdefs.ErrInvalid, d.Path)
		}
		return d.DM.COW, nil
	}
	return "", fmt.Errorf("%w: clone disk %s: strategy %q", errdefs.ErrInvalid, d.Path, d.Strategy)
}

// cloneFile makes dst (which must not exist) a copy of src: a reflink
// where src's file system has them, else a sparse copy; synced.
func cloneFile(src, dst string) error {
	if err := reflink(src, dst); err == nil {
		return syncFile(dst)
	}
	return sparseCopy(src, dst)
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// qcow2Info is what Clone reads of a qcow2 file: its backing image as
// written in its header, as qemu-img resolves it, and its format.
type qcow2Info struct {
	Backing       string `json:"backing-filename"`
	FullBacking   string `json:"full-backing-filename"`
	BackingFormat string `json:"backing-filename-format"`
}

// qcow2InfoArgv reads path's header; -U because a paused QEMU still holds
// its disk's lock.
func qcow2InfoArgv(path string) []string {
	return []string{"qemu-img", "info", "-U", "--output=json", path}
}

// qcow2RebaseArgv points path at backing without touching its data (-u):
// the same image, named so it opens from anywhere.
func qcow2RebaseArgv(path, backing, format string) []string {
	return []string{"qemu-img", "rebase", "-u", "-F", format, "-b", backing, path}
}

func (m *Manager) qcow2Info(ctx context.Context, path string) (qcow2Info, error) {
	out, err := m.run.Run(ctx, qcow2InfoArgv(path))
	if err != nil {
		return qcow2Info{}, fmt.Errorf("qemu-img info: %w", cmdErr(err, out))
	}
	var info qcow2Info
	if err := json.Unmarshal(out, &info); err != nil {
		return qcow2Info{}, fmt.Errorf("qemu-img info %s: %w", path, err)
	}
	return info, nil
}

// keepBacking makes sure the copy dst of the overlay src has src's
// backing image: a relative name is rebased to the absolute one when dst
// is elsewhere, and the result is read back.
func (m *Manager) keepBacking(ctx context.Context, src, dst string, want qcow2Info) error {
	if want.FullBacking == "" {
		return nil // a qcow2 of its own: nothing to keep
	}
	if !filepath.IsAbs(want.Backing) && filepath.Dir(src) != filepath.Dir(dst) {
		format := want.BackingFormat
		if format == "" {
			format = "raw"
		}
		if out, err := m.run.Run(ctx, qcow2RebaseArgv(dst, want.FullBacking, format)); err != nil {
			return fmt.Errorf("qemu-img rebase: %w", cmdErr(err, out))
		}
	}
	got, err := m.qcow2Info(ctx, dst)
	if err != nil {
		return err
	}
	if got.FullBacking != want.FullBacking {
		return errors.New("the copy's backing image is " + got.FullBacking + ", not " + want.FullBacking)
	}
	return nil
}
