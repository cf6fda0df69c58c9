package rootfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// RawCopy writes dst, a raw ext4 image of the file system the VM disk d
// holds, whatever its strategy:
//
//   - reflink, copy: the raw file, cloned (FICLONE) or copied sparse;
//   - qcow2: the overlay read through its backing image and written raw
//     (qemu-img convert; -U because a paused QEMU holds the disk's lock);
//   - dm-snapshot: the snapshot device, read while it is up (a running
//     VM's), its zero blocks left as holes.
//
// The copy's journal is then replayed (e2fsck -E journal_only): a disk
// copied from a running guest after a sync holds transactions committed
// to the journal but not yet written in place, which a read-only mount
// without journal replay (how internal/layerdiff reads it) would miss.
//
// The caller makes sure nothing writes d meanwhile (its VM is paused or
// stopped, the guest synced). dst must not exist; on error it does not.
func (m *Manager) RawCopy(ctx context.Context, d Disk, dst string) (err error) {
	defer func() {
		if err != nil && !errors.Is(err, os.ErrExist) {
			_ = os.Remove(dst)
		}
	}()
	fail := func(step string, err error) error {
		return fsutil.NoSpace(fmt.Errorf("copy disk %s (%s) to %s: %s: %w", d.Path, d.Strategy, dst, step, err), dst)
	}
	switch {
	case d.Format == "qcow2":
		if out, err := m.run.Run(ctx, qcow2ToRawArgv(d.Path, dst)); err != nil {
			return fail("qemu-img convert", cmdErr(err, out))
		}
	case d.Strategy == DMSnapshot:
		if fi, err := os.Stat(d.Path); err != nil || fi.Mode()&os.ModeDevice == 0 {
			return fmt.Errorf("copy disk %s: %w: a dm-snapshot disk is readable only while its VM runs; start the VM first", d.Path, errdefs.ErrConflict)
		}
		if err := copyDevice(d.Path, dst); err != nil {
			return fail("copy", err)
		}
	case d.Strategy == Reflink || d.Strategy == Copy:
		if err := cloneFile(d.Path, dst); err != nil {
			return fail("copy", err)
		}
	default:
		return fmt.Errorf("%w: copy disk %s: strategy %q, format %q", errdefs.ErrInvalid, d.Path, d.Strategy, d.Format)
	}
	if out, err := m.run.Run(ctx, replayJournalArgv(dst)); err != nil && !fsckFixed(err) {
		return fail("replay the journal", cmdErr(err, out))
	}
	return nil
}

// qcow2ToRawArgv writes the disk seen through an overlay as a raw file.
func qcow2ToRawArgv(src, dst string) []string {
	return []string{"qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", src, dst}
}

// replayJournalArgv replays path's journal if it needs it, and checks
// nothing else.
func replayJournalArgv(path string) []string {
	return []string{"e2fsck", "-E", "journal_only", "-p", path}
}

// fsckFixed: e2fsck's exit status 1 means it changed the file system (the
// journal replayed) and all is well.
func fsckFixed(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == 1
}

// copyDevice copies a block device to the new file dst, leaving its zero
// blocks as holes.
func copyDevice(src, dst string) (err error) {
	in, err := os.Open(src) //nolint:gosec // a VM's disk device
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	size, err := in.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if err := out.Truncate(size); err != nil {
		return err
	}
	const block = 64 << 10
	buf, zero := make([]byte, block), make([]byte, block)
	for off := int64(0); off < size; {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if _, err := out.WriteAt(buf[:n], off); err != nil {
				return err
			}
		}
		off += int64(n)
		if rerr != nil {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				break
			}
			return rerr
		}
	}
	return out.Sync()
}
