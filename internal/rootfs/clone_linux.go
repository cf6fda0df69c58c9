package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// reflink makes dst a FICLONE clone of src: it shares src's blocks until
// either is written.
func reflink(src, dst string) error {
	in, out, err := openPair(src, dst)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	if err := unix.IoctlFileClone(int(out.Fd()), int(in.Fd())); err != nil {
		_ = out.Close()
		return fmt.Errorf("reflink %s: %w", src, err)
	}
	return syncClose(out)
}

// sparseCopy copies src's data regions to dst and leaves its holes as
// holes, so a mostly empty image costs only its data.
func sparseCopy(src, dst string) error {
	in, out, err := openPair(src, dst)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	if err := copyData(in, out); err != nil {
		_ = out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return syncClose(out)
}

func openPair(src, dst string) (in, out *os.File, err error) {
	in, err = os.Open(src)
	if err != nil {
		return nil, nil, notFound(err)
	}
	out, err = os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		_ = in.Close()
		return nil, nil, err
	}
	return in, out, nil
}

func syncClose(f *os.File) error {
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// copyData walks src's data extents with SEEK_DATA/SEEK_HOLE and copies
// each with copy_file_range (which the kernel may itself turn into a
// reflink or a server-side copy), falling back to read/write.
func copyData(in, out *os.File) error {
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if err := out.Truncate(size); err != nil {
		return err
	}
	for off := int64(0); off < size; {
		start, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole remains
		}
		if err != nil {
			// No SEEK_DATA here: treat everything as data.
			return copyRange(in, out, off, size-off)
		}
		end, err := unix.Seek(int(in.Fd()), start, unix.SEEK_HOLE)
		if err != nil {
			end = size
		}
		if err := copyRange(in, out, start, end-start); err != nil {
			return err
		}
		off = end
	}
	return nil
}

func copyRange(in, out *os.File, off, n int64) error {
	for n > 0 {
		roff, woff := off, off
		c, err := unix.CopyFileRange(int(in.Fd()), &roff, int(out.Fd()), &woff, int(min(n, 1<<30)), 0)
		if err != nil || c == 0 {
			return copyRangeRW(in, out, off, n)
		}
		off += int64(c)
		n -= int64(c)
	}
	return nil
}

// copyRangeRW is the portable fallback of copyRange.
func copyRangeRW(in, out *os.File, off, n int64) error {
	_, err := io.Copy(io.NewOffsetWriter(out, off), io.NewSectionReader(in, off, n))
	return err
}
