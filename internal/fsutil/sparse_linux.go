package fsutil

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// CopySparse makes dst (empty) a copy of the file at src, data extents
// only (see CopyExtents).
func CopySparse(dst *os.File, src string) error {
	in, err := os.Open(src) //nolint:gosec // the caller's own paths
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := dst.Truncate(fi.Size()); err != nil {
		return err
	}
	return CopyExtents(dst, in)
}

// CopyExtents copies src's data extents (SEEK_DATA/SEEK_HOLE) into dst at
// the same offsets, by copy_file_range (which shares blocks where the file
// system can), so holes stay holes: a disk image's free space or the
// guest RAM a guest never touched costs nothing. dst should be empty and
// as long as src (Truncate), or the caller truncates it after.
func CopyExtents(dst, src *os.File) error {
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	in, out := int(src.Fd()), int(dst.Fd())
	for off := int64(0); off < fi.Size(); {
		data, err := unix.Seek(in, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			return fmt.Errorf("seek data in %s: %w", src.Name(), err)
		}
		hole, err := unix.Seek(in, data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole in %s: %w", src.Name(), err)
		}
		for rd, wr := data, data; rd < hole; {
			n, err := unix.CopyFileRange(in, &rd, out, &wr, int(hole-rd), 0)
			if err != nil {
				return fmt.Errorf("copy %s: %w", src.Name(), err)
			}
			if n == 0 {
				return fmt.Errorf("copy %s: %w", src.Name(), io.ErrUnexpectedEOF)
			}
		}
		off = hole
	}
	return nil
}
