package rootfs

import (
	"os"

	"github.com/bangerdev/banger/internal/fsutil"
	"golang.org/x/sys/unix"
)

// reflink clones src to dst (FICLONE): dst shares src's blocks until
// either is written. dst must not exist.
func reflink(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(dst)
		}
	}()
	return unix.IoctlFileClone(int(out.Fd()), int(in.Fd()))
}

// sparseCopy copies src to dst, reading only src's data extents
// (SEEK_DATA/SEEK_HOLE), so holes stay holes and an image with free space
// costs only its used bytes.
func sparseCopy(src, dst string) (err error) {
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(dst)
		}
	}()
	if err := fsutil.CopySparse(out, src); err != nil {
		return err
	}
	return out.Sync()
}
